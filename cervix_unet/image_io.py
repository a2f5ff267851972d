"""Any image input -> an HxWx3 uint8 RGB array, upright (EXIF applied), or InvalidImageError."""
from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Union

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


def _open(source: str | Path | bytes | bytearray) -> Image.Image:
    try:
        if isinstance(source, (bytes, bytearray)):
            if not source:
                raise InvalidImageError("The file is empty.")
            return Image.open(io.BytesIO(source))
        path = Path(source)
        if not path.is_file():
            raise InvalidImageError(f"No such file: {path.name}")
        return Image.open(path)
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
    """Decode ``source`` (path, bytes, PIL image or numpy array in RGB order) to upright RGB uint8.

    Applies the EXIF orientation; converts grayscale, palette, RGBA (onto black), 16-bit and
    float images; takes the first frame of animations. Raises :class:`InvalidImageError` for
    non-images, truncated files and images over ``max_pixels`` (checked before decoding).

    ``max_side`` lets a large JPEG be decoded at a reduced scale (1/2, 1/4 or 1/8, done inside
    the JPEG decoder and so much faster), keeping its long side at least ``max_side``.
    """
    if isinstance(source, np.ndarray):
        _check_size(source.shape[1] if source.ndim > 1 else 0, source.shape[0], max_pixels)
        return array_to_rgb(source)
    opened = source if isinstance(source, Image.Image) else _open(source)
    _check_size(*opened.size, max_pixels)
    try:
        im = opened
        if max_side and im.format == "JPEG" and max(im.size) >= 2 * max_side:
            scale = max(im.size) / max_side
            im.draft("RGB", (int(im.size[0] / scale) + 1, int(im.size[1] / scale) + 1))
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im.load()
            im = ImageOps.exif_transpose(im)
        return _to_rgb_array(im)
    except InvalidImageError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        reason = "it is truncated or corrupt" if "truncated" in str(err) or isinstance(err, (OSError, SyntaxError)) else str(err)
        raise InvalidImageError(f"The image could not be decoded: {reason}.") from None
    finally:
        if opened is not source:
            opened.close()
