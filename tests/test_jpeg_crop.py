"""Lossless JPEG crops: the file's own pixels, on the MCU grid, upright, without metadata."""

import io

import numpy as np
import pytest
from PIL import Image

from cervix_unet import jpeg_crop
from cervix_unet.image_io import read_image
from cervix_unet.jpeg_crop import LosslessCropError, lossless_crop, to_stored, to_upright
from tests import hostile
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.skipif(
    jpeg_crop.jpegtran_path() is None, reason="jpegtran not installed (libjpeg-turbo-progs)"
)


@pytest.fixture(scope="module")
def upright():
    return np.asarray(Image.open(EXAMPLES[1]).convert("RGB").resize((1000, 667)))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_boxes_map_between_stored_and_upright(orientation):
    rng = np.random.default_rng(orientation)
    stored_size = (1000, 667)
    for _ in range(20):
        x0, x1 = sorted(rng.integers(0, 1000, 2))
        y0, y1 = sorted(rng.integers(0, 667, 2))
        up = to_upright((x0, y0, x1, y1), orientation, stored_size)
        assert to_stored(up, orientation, stored_size) == (x0, y0, x1, y1)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_crop_holds_the_upright_pixels_of_the_box_it_reports(upright, orientation):
    data = hostile.jpeg_file(upright, orientation)
    decoded = read_image(data)
    assert decoded.pixels.shape == upright.shape
    box = (101, 203, 555, 499)
    crop = lossless_crop(data, decoded.info.jpeg, decoded.info.orientation, box)
    x0, y0, x1, y1 = crop.box
    assert x0 <= box[0] < box[2] <= x1 and y0 <= box[1] < box[3] <= y1
    assert max(box[0] - x0, box[1] - y0, x1 - box[2], y1 - box[3]) < 16  # at most one MCU more
    assert crop.rotated == (orientation != 1)
    with Image.open(io.BytesIO(crop.data)) as im:
        assert im.format == "JPEG" and im.size == (x1 - x0, y1 - y0)
        assert not im.getexif() and "icc_profile" not in im.info and "comment" not in im.info
        pixels = np.asarray(im.convert("RGB")).astype(int)
    # the same coefficients decoded: equal but for rounding and chroma upsampling at the edges
    assert np.abs(pixels - decoded.pixels[y0:y1, x0:x1]).mean() < 0.5
    assert b"SecretCamera" in data and b"SecretCamera" not in crop.data


def test_unrotated_crop_moves_only_its_top_left_corner_to_the_grid(upright):
    data = hostile.jpeg_file(upright)  # 4:2:0: 16x16 MCUs
    info = read_image(data).info
    assert lossless_crop(data, info.jpeg, 1, (37, 21, 301, 199)).box == (32, 16, 301, 199)
    gray = hostile.encoded(upright[:, :, 1], "JPEG", quality=90)  # one component: 8x8
    info = read_image(gray).info
    crop = lossless_crop(gray, info.jpeg, 1, (37, 21, 301, 199))
    assert crop.box == (32, 16, 301, 199)
    with Image.open(io.BytesIO(crop.data)) as im:
        assert im.mode == "L"
        assert np.array_equal(np.asarray(im), np.asarray(Image.open(io.BytesIO(gray)))[16:199, 32:301])


def test_rotated_crop_at_an_unaligned_edge_is_refused_not_wrong(upright):
    data = hostile.jpeg_file(upright, orientation=3)  # 667 rows: the stored bottom edge is off the grid
    info = read_image(data).info
    with pytest.raises(LosslessCropError, match="cannot be turned upright"):
        lossless_crop(data, info.jpeg, 3, (0, 0, 1000, 667))


def test_without_jpegtran_the_reason_is_given(upright, monkeypatch):
    monkeypatch.setattr(jpeg_crop, "jpegtran_path", lambda: None)
    data = hostile.jpeg_file(upright)
    with pytest.raises(LosslessCropError, match="libjpeg-turbo-progs"):
        lossless_crop(data, read_image(data).info.jpeg, 1, (0, 0, 100, 100))
