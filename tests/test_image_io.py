"""Every kind of input the pipeline meets, good and bad."""

import io
import warnings

import numpy as np
import pytest
from PIL import Image

from cervix_unet import InvalidImageError, load_image
from cervix_unet.image_io import read_image, skip_reason
from tests import hostile
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


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((20, 30), np.uint8),
        np.zeros((20, 30, 4), np.uint8),
        np.zeros((20, 30, 3), np.uint16),
        np.zeros((20, 30, 3), np.float32),
    ],
)
def test_numpy_inputs(array):
    assert load_image(array).shape == (20, 30, 3)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"this is a text file, not a photo", "not an image"),
        (b"", "empty"),
        (b"%PDF-1.4 fake", "not an image"),
    ],
)
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


# ---- files from the real world: bombs of every format, HEIC, multi-frame, what is not supported


@pytest.mark.parametrize("fmt", sorted(hostile.BOMBS))
@pytest.mark.parametrize("size", [(16000, 16000), (10000, 9500), (8500, 8000)])
def test_bombs_refused_with_their_size_before_decoding(fmt, size):
    """Above 2x Pillow's limit (Pillow raises in Image.open), between 1x and 2x (Pillow only
    warns), and between our limit and Pillow's (Pillow says nothing): all refused by our
    check, naming the size, with no warning printed and Pillow's global limit untouched."""
    limit = Image.MAX_IMAGE_PIXELS
    bomb = hostile.BOMBS[fmt](*size)
    assert len(bomb) < 2000
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(InvalidImageError, match=f"too large \\({size[0]}x{size[1]} = "):
            load_image(bomb)
    assert not caught, [str(w.message) for w in caught]
    assert Image.MAX_IMAGE_PIXELS == limit


def test_huge_png_bomb_refused_from_a_file(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(hostile.png_bomb(60000, 60000))
    with pytest.raises(InvalidImageError, match="60000x60000 = 3,600 megapixels"):
        load_image(path)


def test_bombs_refused_from_many_threads_at_once():
    """The size check holds no global state: bombs and photos decoded side by side."""
    from concurrent.futures import ThreadPoolExecutor

    photo = EXAMPLES[0].read_bytes()
    inputs = [hostile.BOMBS[f](12000, 12000) for f in sorted(hostile.BOMBS)] * 3 + [photo] * 6

    def outcome(data):
        try:
            return load_image(data).shape
        except InvalidImageError as err:
            return str(err)[:22]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(outcome, inputs))
    assert results[:18] == ["The image is too large"] * 18
    assert results[18:] == [(384, 576, 3)] * 6


def test_heic_from_a_phone(heic_example):
    data, upright = heic_example
    decoded = read_image(data)
    assert decoded.info.format == "HEIF" and decoded.pixels.shape == upright.shape
    assert np.abs(decoded.pixels.astype(int) - upright).mean() < 6  # lossy HEVC


@pytest.mark.parametrize("fmt", ["TIFF", "GIF"])
def test_multi_frame_files_use_the_first_frame_and_say_so(fmt):
    first = np.asarray(Image.open(EXAMPLES[0]))
    decoded = read_image(hostile.multi_frame(first, fmt, frames=3))
    assert decoded.pixels.shape == first.shape
    assert abs(decoded.pixels.mean() - first.mean()) < 8  # the photo, not a grey frame
    assert decoded.info.frames > 1 and "first frame" in decoded.info.notes[0]


def test_jpeg_layout_and_orientation_for_lossless_crops():
    upright = np.asarray(Image.open(EXAMPLES[0]))
    decoded = read_image(hostile.jpeg_file(upright, orientation=6))
    assert decoded.info.orientation == 6 and decoded.info.size == (576, 384)
    assert decoded.info.jpeg.stored_size == (384, 576) and decoded.info.jpeg.mcu == (16, 16)
    assert read_image(hostile.jpeg_file(upright, subsampling=0)).info.jpeg.mcu == (8, 8)
    assert read_image(hostile.encoded(upright[:, :, 0], "JPEG")).info.jpeg.mcu == (8, 8)
    assert read_image(hostile.encoded(upright, "PNG")).info.jpeg is None


@pytest.mark.parametrize(
    "data, what",
    [
        (b"%PDF-1.7\n1 0 obj", "PDF document"),
        (b"PK\x03\x04" + b"\0" * 100, "ZIP archive"),
        (b"\0" * 128 + b"DICM" + b"\0" * 100, "DICOM"),
        (b"\0\0\0\x18ftypmp42" + b"\0" * 100, "video"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "SVG"),
        (b"patient notes, not a photo", "text file"),
    ],
)
def test_what_is_not_an_image_is_named(data, what):
    with pytest.raises(InvalidImageError, match=what):
        load_image(data)


def test_raw_and_dicom_files_named_by_extension(tmp_path):
    raw = tmp_path / "IMG_0001.CR2"
    raw.write_bytes(hostile.encoded(np.zeros((20, 20, 3), np.uint8), "TIFF"))  # Pillow would open it
    with pytest.raises(InvalidImageError, match="Camera RAW"):
        load_image(raw)
    assert "Camera RAW" in skip_reason(raw)
    assert skip_reason(tmp_path / "a.JPG") is None and skip_reason(tmp_path / "a.heic") is None
    assert skip_reason(tmp_path / "notes.txt") == "not an image file (.txt)"
    assert skip_reason(tmp_path / ".DS_Store") == "hidden file"
    assert "DICOM" in skip_reason(tmp_path / "scan.dcm")
