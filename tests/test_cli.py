"""The `cervix-unet` command line, run as a user runs it."""
import csv
import json
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

from tests.conftest import EXAMPLES, ROOT, WEIGHTS, jpeg_bytes


def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "cervix_unet.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_help_lists_the_subcommands():
    out = cli("--help")
    assert out.returncode == 0
    for name in ["predict", "train", "evaluate", "bench", "export", "labels"]:
        assert name in out.stdout


def test_predict_on_a_folder(tmp_path):
    inputs = tmp_path / "in"
    (inputs / "sub").mkdir(parents=True)
    for path in EXAMPLES[:2]:
        shutil.copy(path, inputs)
    exif = Image.Exif()
    exif[0x010F] = "SecretCamera"  # Make
    exif[0x0112] = 1
    (inputs / "sub" / "with_exif.jpg").write_bytes(jpeg_bytes(np.asarray(Image.open(EXAMPLES[2])), exif))
    (inputs / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    result = cli("predict", inputs, "--out", out, "--weights", WEIGHTS, "--crop-mode", "masked")
    assert result.returncode == 0, result.stderr
    assert "3 segmented, 1 unreadable" in result.stdout
    rows = json.loads((out / "summary.json").read_text())
    assert len(rows) == 4
    broken = next(r for r in rows if r["name"] == "broken")
    assert "not an image" in broken["error"]
    good = [r for r in rows if not r["error"]]
    assert all(r["found"] and len(r["box"]) == 4 and 0 < r["area_fraction"] < 1 for r in good)
    with open(out / "summary.csv") as f:
        assert len(list(csv.DictReader(f))) == 4
    for row in good:
        for kind in ["crop", "mask", "overlay"]:
            png = out / f"{row['name']}_{kind}.png"
            with Image.open(png) as im:
                assert im.format == "PNG"
                assert not im.getexif() and "exif" not in im.info and not im.text
    assert (out / "sub__with_exif_crop.png").exists()
    assert b"SecretCamera" not in (out / "sub__with_exif_crop.png").read_bytes()
    with Image.open(out / f"{good[0]['name']}_mask.png") as mask:
        assert mask.size == (576, 384) and set(np.unique(np.asarray(mask))) <= {0, 255}


def test_predict_with_no_images(tmp_path):
    result = cli("predict", tmp_path, "--out", tmp_path / "out", "--weights", WEIGHTS)
    assert result.returncode == 2 and "no images" in result.stderr
