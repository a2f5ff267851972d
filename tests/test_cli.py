"""The `cervix-unet` command line, run as a user runs it, on real image files."""

import csv
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageOps

from cervix_unet.commands.predict import EXIT_NONE, EXIT_OK, EXIT_SOME_FAILED
from tests import hostile
from tests.conftest import EXAMPLES, ROOT, WEIGHTS


def cli(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "cervix_unet.cli", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=600
    )


def test_help_lists_the_subcommands():
    out = cli("--help")
    assert out.returncode == 0
    for name in ["predict", "train", "evaluate", "bench", "export", "labels"]:
        assert name in out.stdout
    assert "exit status" in cli("predict", "--help").stdout


def _upright(path):
    """The photo as a viewer shows it (Pillow, EXIF orientation applied), RGB."""
    with Image.open(path) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB")).astype(int)


@pytest.fixture(scope="module")
def hostile_folder(tmp_path_factory, heic_example):
    """A folder as a clinic might hand it over: camera and phone photos, rotated and grey ones,
    multi-frame files, decompression bombs, broken files and things that are not images."""
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "visit 2").mkdir()
    small = np.asarray(Image.open(EXAMPLES[0]).convert("RGB"))
    camera = hostile.camera_photo(EXAMPLES[1])
    good = {
        "camera.jpg": hostile.jpeg_file(camera),
        "camera_sideways.jpg": hostile.jpeg_file(camera, orientation=6),
        "visit 2/rotated.jpg": hostile.jpeg_file(np.asarray(Image.open(EXAMPLES[2]).convert("RGB")), orientation=8),
        "visit 2/grey.jpg": hostile.encoded(small[:, :, 1], "JPEG", quality=90),
        "grey.png": hostile.encoded(np.asarray(Image.open(EXAMPLES[3]).convert("L")), "PNG"),
        "photo.png": hostile.encoded(small, "PNG"),
        "photo.webp": hostile.encoded(small, "WEBP", quality=90),
        "photo.bmp": hostile.encoded(small, "BMP"),
        "phone.heic": heic_example[0],
        "frames.tif": hostile.multi_frame(small, "TIFF"),
        "animated.gif": hostile.multi_frame(small, "GIF"),
    }
    bad = {f"bomb.{fmt}": make(16000, 16000) for fmt, make in hostile.BOMBS.items()}
    bad["huge.png"] = hostile.png_bomb(60000, 60000)
    bad["truncated.jpg"] = EXAMPLES[0].read_bytes()[:20000]
    bad["empty.png"] = b""
    bad["not_a_photo.jpg"] = b"Patient list: this is a text file with a .jpg name\n"
    skipped = {"notes.txt": b"visit notes", "scan.dcm": b"\0" * 128 + b"DICM", ".DS_Store": b"\0\0\0\1Bud1"}
    for name, data in {**good, **bad, **skipped}.items():
        (folder / name).write_bytes(data)
    return folder, set(good), set(bad), set(skipped)


def test_hostile_folder_in_one_run(hostile_folder, tmp_path):
    folder, good, bad, skipped = hostile_folder
    out = tmp_path / "out"
    result = cli("predict", folder, "--out", out, "--weights", WEIGHTS)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == EXIT_SOME_FAILED, result.stdout + result.stderr
    assert f"{len(good)} segmented, {len(bad)} failed, {len(skipped)} skipped" in result.stdout
    rows = {str(r["input"]).replace(str(folder) + "/", ""): r for r in json.loads((out / "summary.json").read_text())}
    assert set(rows) == good | bad | skipped
    with open(out / "summary.csv") as f:
        assert len(list(csv.DictReader(f))) == len(rows)
    assert len((out / "summary.jsonl").read_text().splitlines()) == len(rows)

    for name in bad:
        assert rows[name]["status"] == "failed" and len(rows[name]["error"]) > 15, rows[name]
    for name in [n for n in bad if n.startswith("bomb")]:
        assert "too large (16000x16000" in rows[name]["error"], rows[name]
    assert "60000x60000" in rows["huge.png"]["error"]
    assert "truncated" in rows["truncated.jpg"]["error"] and "empty" in rows["empty.png"]["error"]
    assert "text file" in rows["not_a_photo.jpg"]["error"]
    for name in skipped:
        assert rows[name]["status"] == "skipped" and rows[name]["error"]
    assert "DICOM" in rows["scan.dcm"]["error"]

    for name in good:
        row = rows[name]
        assert row["status"] == "ok" and row["found"] and 0 < row["reliability"] <= 1, row
        assert isinstance(row["check"], bool) and isinstance(row["flags"], list), row
        reference = _upright(folder / name)  # first frame, upright, at full size
        h, w = reference.shape[:2]
        assert (row["width"], row["height"]) == (w, h), name
        with Image.open(out / row["mask_file"]) as mask, Image.open(out / row["overlay_file"]) as overlay:
            assert mask.size == overlay.size == (w, h) and mask.mode == "L", name
        x0, y0, x1, y1 = row["crop_box"]
        bx0, by0, bx1, by1 = row["box"]
        assert 0 <= x0 <= bx0 < bx1 <= x1 <= w and 0 <= y0 <= by0 < by1 <= y1 <= h, (name, row)
        with Image.open(out / row["crop_file"]) as crop:
            assert crop.size == (x1 - x0, y1 - y0), (name, row)
            pixels = np.asarray(crop.convert("RGB")).astype(int)
        lossless = row["crop_method"].startswith("lossless")
        assert row["crop_file"].endswith(".jpg") == lossless, row
        assert np.abs(pixels - reference[y0:y1, x0:x1]).mean() < (1.0 if lossless else 0.01), (name, row)
        for kind in ("crop_file", "mask_file", "overlay_file"):
            data = (out / row[kind]).read_bytes()
            assert b"SecretCamera" not in data and b"Exif" not in data, (name, kind)
    assert rows["camera.jpg"]["crop_method"] == "lossless JPEG crop"
    assert rows["camera.jpg"]["crop_box"][0] % 16 == 0 and rows["camera.jpg"]["crop_box"][1] % 16 == 0
    assert rows["visit 2/rotated.jpg"]["crop_method"] == "lossless JPEG crop, turned upright losslessly"
    assert rows["visit 2/rotated.jpg"]["name"] == "visit 2__rotated"
    assert rows["camera_sideways.jpg"]["orientation"] == 6
    assert "first frame" in rows["frames.tif"]["note"] and "first frame" in rows["animated.gif"]["note"]
    assert rows["phone.heic"]["format"] == "HEIF" and rows["photo.png"]["crop_method"] == "PNG"


def test_skip_existing_resumes_and_png_format(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for path in EXAMPLES[:2]:
        shutil.copy(path, inputs)
    out = tmp_path / "out"
    first = cli("predict", inputs, "--out", out, "--weights", WEIGHTS, "--format", "png", "--crop-mode", "masked")
    assert first.returncode == EXIT_OK and "2 segmented, 0 failed" in first.stdout, first.stderr
    assert sorted(p.name for p in out.glob(f"{EXAMPLES[0].stem}_*")) == [
        f"{EXAMPLES[0].stem}_{kind}.png" for kind in ("crop", "mask", "overlay")
    ]
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.suffix == ".png"}
    (out / f"{EXAMPLES[1].stem}_overlay.png").unlink()  # as if the first run had died on it
    shutil.copy(EXAMPLES[2], inputs)
    second = cli("predict", inputs, "--out", out, "--weights", WEIGHTS, "--format", "png", "--skip-existing")
    assert second.returncode == EXIT_OK, second.stderr
    assert "3 segmented, 1 of them in an earlier run, 0 failed" in second.stdout
    assert (out / f"{EXAMPLES[0].stem}_mask.png").stat().st_mtime_ns == stamps[f"{EXAMPLES[0].stem}_mask.png"]
    assert (out / f"{EXAMPLES[1].stem}_overlay.png").exists()
    rows = json.loads((out / "summary.json").read_text())
    assert [r["name"] for r in rows] == [p.stem for p in sorted(EXAMPLES[:3])]


def test_predict_with_no_images_or_only_bad_ones(tmp_path):
    (tmp_path / "readme.txt").write_text("no photos here")
    result = cli("predict", tmp_path, "--out", tmp_path / "out", "--weights", WEIGHTS)
    assert result.returncode == EXIT_NONE and "no images" in result.stderr
    (tmp_path / "bomb.png").write_bytes(hostile.png_bomb(60000, 60000))
    result = cli(
        "predict", tmp_path / "bomb.png", tmp_path / "missing.jpg", "--out", tmp_path / "out2", "--weights", WEIGHTS
    )
    assert result.returncode == EXIT_NONE and "Traceback" not in result.stderr
    assert "0 segmented, 2 failed" in result.stdout
