"""Every kind of input the pipeline meets, good and bad."""
import io

import numpy as np
import pytest
from PIL import Image

from cervix_unet import InvalidImageError, load_image
from tests.conftest import EXAMPLES, jpeg_bytes


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def test_path_bytes_pil_and_array_agree():
    path = EXAMPLES[0]
    from_path = load_image(path)
    assert from_path.shape == (384, 576, 3) and from_path.dtype == np.uint8
    assert np.array_equal(load_image(str(path)), from_path)
    assert np.array_equal(load_image(path.read_bytes()), from_path)
    assert np.array_equal(load_image(Image.open(path)), from_path)
    assert np.array_equal(load_image(from_path), from_path)


def test_exif_orientation_is_applied():
    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[:10, :, 0] = 255  # red band at the top
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: viewer must rotate 90 degrees clockwise
    upright = load_image(jpeg_bytes(rgb, exif))
    assert upright.shape == (60, 40, 3)
    assert upright[:, -10:, 0].mean() > 200  # top band now on the right


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "LA", "CMYK", "I;16", "I", "F", "1"])
def test_modes_become_rgb(mode):
    base = Image.fromarray((np.random.default_rng(0).random((32, 48, 3)) * 255).astype(np.uint8))
    if mode == "I;16":
        im = Image.fromarray(np.arange(32 * 48, dtype=np.uint16).reshape(32, 48) * 40)
    elif mode == "F":
        im = Image.fromarray(np.linspace(0, 1, 32 * 48, dtype=np.float32).reshape(32, 48))
    else:
        im = base.convert(mode)
    out = load_image(im)
    assert out.shape == (32, 48, 3) and out.dtype == np.uint8


def test_sixteen_bit_png_file_scales_to_eight_bit():
    arr = np.full((20, 30), 65535, np.uint16)
    arr[:, :15] = 0
    out = load_image(_png(Image.fromarray(arr)))
    assert out[0, 0, 0] == 0 and out[0, -1, 0] == 255


def test_rgba_composited_on_black():
    im = Image.new("RGBA", (20, 20), (255, 255, 255, 0))
    assert load_image(_png(im)).max() == 0


@pytest.mark.parametrize("array", [np.zeros((20, 30), np.uint8), np.zeros((20, 30, 4), np.uint8),
                                   np.zeros((20, 30, 3), np.uint16), np.zeros((20, 30, 3), np.float32)])
def test_numpy_inputs(array):
    assert load_image(array).shape == (20, 30, 3)


@pytest.mark.parametrize("data, message", [
    (b"this is a text file, not a photo", "not an image"),
    (b"", "empty"),
    (b"%PDF-1.4 fake", "not an image"),
])
def test_non_images_refused(data, message):
    with pytest.raises(InvalidImageError, match=message):
        load_image(data)


def test_truncated_jpeg_refused():
    data = EXAMPLES[0].read_bytes()
    with pytest.raises(InvalidImageError, match="truncated|decoded"):
        load_image(data[: len(data) // 2])


def test_decompression_bomb_refused_before_decoding():
    bomb = _png(Image.new("1", (10_000, 8_000)))  # 80 MP, a few kB on disk
    assert len(bomb) < 100_000
    with pytest.raises(InvalidImageError, match="too large"):
        load_image(bomb)


def test_too_small_and_missing_file():
    with pytest.raises(InvalidImageError, match="too small"):
        load_image(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(InvalidImageError, match="No such file"):
        load_image("/nonexistent/photo.jpg")


def test_bad_arrays_refused():
    with pytest.raises(InvalidImageError):
        load_image(np.zeros((20, 30, 2), np.uint8))
    with pytest.raises(InvalidImageError, match="NaN"):
        load_image(np.full((20, 30, 3), np.nan, np.float32))


def test_animated_gif_takes_first_frame():
    frames = [Image.new("RGB", (30, 20), c) for c in [(255, 0, 0), (0, 255, 0)]]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    out = load_image(buf.getvalue())
    assert out[0, 0, 0] > 200 and out[0, 0, 1] < 50
