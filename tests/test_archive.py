"""The series ZIP: crops, masks and a summary CSV, bad files listed with their reason, no metadata."""

import csv
import io
import zipfile

import numpy as np
from PIL import Image

from cervix_unet import InvalidImageError
from cervix_unet.archive import ResultsArchive


def test_zip_of_a_series(segmenter, example_paths, tmp_path):
    big, exif = io.BytesIO(), Image.Exif()
    exif[0x010F] = "SecretCamera"
    with Image.open(example_paths[0]) as im:
        im.resize((2304, 1536)).save(big, "JPEG", quality=90, exif=exif)
    photos = [
        ("IMG_0001.jpg", example_paths[0].read_bytes()),
        ("IMG_0001.jpg", example_paths[1].read_bytes()),
        ("big photo.jpg", big.getvalue()),
        ("notes.txt", b"not an image"),
        ("blank.png", _png(np.zeros((300, 400, 3), np.uint8))),
    ]
    target = tmp_path / "series.zip"
    results = {}
    with ResultsArchive(target) as archive:
        for name, data in photos:
            try:
                results[name] = segmenter(data)
                archive.add(name, results[name])
            except InvalidImageError as err:
                archive.add_error(name, str(err))
    with zipfile.ZipFile(target) as z:
        names = z.namelist()
        assert names == [
            "crops/IMG_0001_crop.png",
            "masks/IMG_0001_mask.png",
            "crops/IMG_0001_2_crop.png",
            "masks/IMG_0001_2_mask.png",
            "crops/big_photo_crop.png",
            "masks/big_photo_mask.png",
            "masks/blank_mask.png",
            "summary.csv",
        ]
        assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in z.infolist())
        rows = list(csv.DictReader(io.StringIO(z.read("summary.csv").decode())))
        for name in names[:-1]:
            data = z.read(name)
            assert b"SecretCamera" not in data
            with Image.open(io.BytesIO(data)) as im:
                assert im.format == "PNG" and not im.getexif() and not im.info
        with Image.open(io.BytesIO(z.read("crops/big_photo_crop.png"))) as crop:
            big_result = results["big photo.jpg"]
            assert crop.size == big_result.crop.shape[1::-1]
    assert [r["status"] for r in rows] == [
        "cervix found",
        "cervix found",
        "cervix found",
        "not processed",
        "no cervix found",
    ]
    assert "not an image" in rows[3]["reason"] and rows[3]["crop_file"] == ""
    big_row = rows[2]
    assert (int(big_row["width"]), int(big_row["height"])) == (2304, 1536)
    box = [int(big_row[k]) for k in ("box_x0", "box_y0", "box_x1", "box_y1")]
    assert box == big_result.summary()["box_original"]


def _png(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()
