"""Any image input -> an HxWx3 uint8 RGB array, upright (EXIF applied), or InvalidImageError."""
from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Union

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InvalidImageError

ImageInput = Union[str, Path, bytes, bytearray, Image.Image, np.ndarray]

MAX_PIXELS = 64_000_000  # larger inputs are refused before decoding (decompression bombs)
MIN_SIDE = 16


def _check_size(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise InvalidImageError(
            f"The image is too large ({width}x{height} = {width * height / 1e6:.0f} megapixels; "
            f"the limit is {max_pixels / 1e6:.0f}). Please upload a smaller photograph."
        )
    if min(width, height) < MIN_SIDE:
        raise InvalidImageError(f"The image is too small ({width}x{height}); it needs at least {MIN_SIDE} pixels a side.")


def read_bytes(source: str | Path | bytes | bytearray) -> bytes:
    """The bytes of a file path or bytes input (InvalidImageError if missing or empty)."""
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise InvalidImageError(f"No such file: {path.name}")
        data = path.read_bytes()
    if not data:
        raise InvalidImageError("The file is empty.")
    return data


def _open(data: bytes) -> Image.Image:
    """Read the header only (size, format, EXIF); pixels are decoded later."""
    try:
        return Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise InvalidImageError("This file is not an image that can be read (use JPEG, PNG, TIFF, BMP or WebP).") from None
    except OSError as err:
        raise InvalidImageError(f"The file could not be read as an image ({err.__class__.__name__}).") from None


def _to_rgb_array(im: Image.Image) -> np.ndarray:
    """Pillow image of any mode -> uint8 RGB array (16-bit and float scaled, alpha dropped)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im).astype(np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        if im.mode == "F":
            top = 1.0 if arr.max() <= 1.0 else 255.0
        gray = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        background = Image.new("RGBA", im.size, (0, 0, 0, 255))
        im = Image.alpha_composite(background, im)
    return np.asarray(im.convert("RGB"))


_REDUCED_FLAGS = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


def _reduction(size: tuple[int, int], max_side: int | None) -> int:
    """The largest JPEG scale-down (1, 2, 4 or 8) that keeps the long side >= ``max_side``."""
    if not max_side:
        return 1
    return max([f for f in (1, 2, 4, 8) if max(size) / f >= max_side], default=1)


def _decode_jpeg_fast(data: bytes, reduction: int) -> np.ndarray | None:
    """Decode a complete baseline/progressive RGB or gray JPEG with OpenCV's libjpeg-turbo
    (about twice as fast as Pillow here; EXIF orientation applied by OpenCV). Returns None
    when the file does not end with the JPEG end-of-image marker (truncated: Pillow then
    decodes it and reports the damage)."""
    if not data.rstrip(b"\0\r\n ").endswith(b"\xff\xd9"):
        return None
    array = np.frombuffer(data, np.uint8)
    if reduction == 1:
        return cv2.imdecode(array, cv2.IMREAD_COLOR_RGB)
    bgr = cv2.imdecode(array, _REDUCED_FLAGS[reduction])
    return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def array_to_rgb(array: np.ndarray) -> np.ndarray:
    """A numpy image (RGB order; HxW gray, HxWx3 or HxWx4; uint8, uint16 or float in [0, 1])
    -> HxWx3 uint8 RGB. OpenCV users: convert BGR to RGB first."""
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise InvalidImageError(f"An image array must be HxW, HxWx3 or HxWx4, not {array.shape}.")
    if array.dtype == np.uint16:
        array = (array >> 8).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise InvalidImageError("The image array contains NaN or infinite values.")
        array = np.clip(array * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif array.dtype != np.uint8:
        raise InvalidImageError(f"Unsupported image array type {array.dtype}; use uint8, uint16 or float.")
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    return np.ascontiguousarray(array[:, :, :3])


def load_image(source: ImageInput, max_pixels: int = MAX_PIXELS, max_side: int | None = None) -> np.ndarray:
    """Decode ``source`` to an upright HxWx3 uint8 RGB array; see :func:`decode_image`."""
    return decode_image(source, max_pixels, max_side)[0]


def _upright_size(im: Image.Image) -> tuple[int, int]:
    """(W, H) of the image once its EXIF orientation is applied."""
    w, h = im.size
    return (h, w) if im.getexif().get(0x0112) in (5, 6, 7, 8) else (w, h)


def decode_image(source: ImageInput, max_pixels: int = MAX_PIXELS,
                 max_side: int | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """Decode ``source`` (path, bytes, PIL image or numpy array in RGB order) to upright RGB uint8.

    Applies the EXIF orientation; converts grayscale, palette, RGBA (onto black), 16-bit and
    float images; takes the first frame of animations. Raises :class:`InvalidImageError` for
    non-images, truncated files and images over ``max_pixels`` (checked before decoding).

    ``max_side`` lets a large JPEG be decoded at a reduced scale (1/2, 1/4 or 1/8, done inside
    the JPEG decoder and so much faster), keeping its long side at least ``max_side``.

    Returns the array and the photo's full upright size (W, H), which differs from the array's
    size only after a reduced decode.
    """
    if isinstance(source, np.ndarray):
        _check_size(source.shape[1] if source.ndim > 1 else 0, source.shape[0], max_pixels)
        rgb = array_to_rgb(source)
        return rgb, (rgb.shape[1], rgb.shape[0])
    data = None if isinstance(source, Image.Image) else read_bytes(source)
    opened = source if data is None else _open(data)
    _check_size(*opened.size, max_pixels)
    reduction = _reduction(opened.size, max_side)
    full_size = _upright_size(opened)
    if data is not None and opened.format == "JPEG" and opened.mode in ("RGB", "L"):
        fast = _decode_jpeg_fast(data, reduction)
        if fast is not None:
            opened.close()
            return fast, full_size
    try:
        im = opened
        if reduction > 1 and im.format == "JPEG" and data is not None:  # never alter a caller's image
            im.draft("RGB", (im.size[0] // reduction, im.size[1] // reduction))
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im.load()
            im = ImageOps.exif_transpose(im)
        return _to_rgb_array(im), full_size
    except InvalidImageError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        reason = "it is truncated or corrupt" if "truncated" in str(err) or isinstance(err, (OSError, SyntaxError)) else str(err)
        raise InvalidImageError(f"The image could not be decoded: {reason}.") from None
    finally:
        if opened is not source:
            opened.close()
