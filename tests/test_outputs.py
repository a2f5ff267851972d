"""One result's files: formats, full size, no metadata, the crop box that the crop holds."""

import io

import numpy as np
import pytest
from PIL import Image

from cervix_unet.outputs import encode_result
from tests import hostile
from tests.conftest import EXAMPLES


def _open(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    assert not im.getexif() and not {"exif", "icc_profile", "comment", "xmp"} & set(im.info)
    return im


@pytest.fixture(scope="module")
def camera_jpeg():
    return hostile.jpeg_file(np.asarray(Image.open(EXAMPLES[2]).convert("RGB")), orientation=1)


def test_jpeg_photo_gives_lossless_crop_png_mask_and_jpeg_overlay(segmenter, camera_jpeg):
    result = segmenter(camera_jpeg)
    files = encode_result(result, camera_jpeg)
    assert {kind: ext for kind, (ext, _) in files.files.items()} == {"crop": "jpg", "mask": "png", "overlay": "jpg"}
    assert files.crop_method == "lossless JPEG crop"
    x0, y0, x1, y1 = files.crop_box
    cx0, cy0, cx1, cy1 = result.crop_box
    assert x0 <= cx0 and y0 <= cy0 and (x1, y1) == (cx1, cy1) and x0 % 16 == 0 and y0 % 16 == 0
    crop = _open(files.files["crop"][1])
    assert crop.size == (x1 - x0, y1 - y0)
    assert np.abs(np.asarray(crop.convert("RGB")).astype(int) - result.image[y0:y1, x0:x1]).mean() < 0.5
    mask = _open(files.files["mask"][1])
    assert mask.mode == "L" and np.array_equal(np.asarray(mask), result.mask * np.uint8(255))
    overlay = _open(files.files["overlay"][1])
    assert overlay.format == "JPEG" and overlay.size == (576, 384)
    assert all(b"SecretCamera" not in data for _, data in files.files.values())


def test_png_everywhere_holds_the_decoded_pixels(segmenter, camera_jpeg):
    result = segmenter(camera_jpeg)
    files = encode_result(result, camera_jpeg, fmt="png")
    assert {ext for ext, _ in files.files.values()} == {"png"}
    assert files.crop_box == result.crop_box and "png" in files.crop_method.lower()
    assert np.array_equal(np.asarray(_open(files.files["crop"][1])), result.crop)
    assert np.array_equal(np.asarray(_open(files.files["overlay"][1])), result.overlay)


def test_png_photo_and_masked_crop_are_png(segmenter):
    photo = hostile.encoded(np.asarray(Image.open(EXAMPLES[0])), "PNG")
    files = encode_result(segmenter(photo), photo)
    assert files.files["crop"][0] == "png" and files.crop_method == "PNG"
    jpeg = EXAMPLES[0].read_bytes()
    result = segmenter(jpeg, crop_mode="masked")
    files = encode_result(result, jpeg)
    assert files.files["crop"][0] == "png" and "masked" in files.crop_method
    assert np.array_equal(np.asarray(_open(files.files["crop"][1])), result.crop)


def test_no_cervix_no_crop_file(segmenter, tmp_path):
    result = segmenter(np.zeros((384, 576, 3), np.uint8))
    files = encode_result(result)
    assert set(files.files) == {"mask", "overlay"} and files.crop_box is None
    names = files.write(tmp_path, "blank")
    assert names == {"mask": "blank_mask.png", "overlay": "blank_overlay.jpg"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blank_mask.png", "blank_overlay.jpg"]
