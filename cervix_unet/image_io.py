"""Any image input -> an upright HxWx3 uint8 RGB array, or InvalidImageError with a message for a person.

The rules for files from the real world live here, so that the app and the command line apply
the same ones:

- Sizes are checked from the header, before any pixel is decoded, for every format Pillow opens
  (decompression bombs: a 60 kB PNG or GIF can claim 60000x60000). Pillow's own check inside
  ``Image.open`` is skipped on purpose: above 2x its limit it raises before our message can name
  the size, between 1x and 2x it only warns, and silencing that warning takes
  ``warnings.catch_warnings``, which is process-global and races between threads.
- HEIC/HEIF (phones) through pillow-heif; multi-frame TIFF, GIF, WebP, MPO and HEIF: the first
  (primary) picture, said in ``info.notes``.
- Files that are not images, or images this package cannot read (camera RAW, DICOM, PDF,
  video), are named as such.
"""

from __future__ import annotations

import io
import re
import struct
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Union

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InvalidImageError

try:  # phones' HEIC/HEIF photos; without pillow-heif they get a clear message instead
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_SUPPORTED = True
except ImportError:  # pragma: no cover - pillow-heif is in requirements.txt
    HEIF_SUPPORTED = False

ImageInput = Union[str, Path, bytes, bytearray, Image.Image, np.ndarray]

MAX_PIXELS = 64_000_000  # larger inputs are refused before decoding (decompression bombs)
MAX_FILE_BYTES = 512 * 2**20  # larger files are refused before they are read into memory
MIN_SIDE = 16
SUPPORTED = "JPEG, PNG, TIFF, BMP, GIF, WebP, AVIF" + (", HEIC/HEIF" if HEIF_SUPPORTED else "")

#: File name endings read as images when a folder is scanned (others are listed as skipped).
IMAGE_SUFFIXES = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".mpo",
        ".png",
        ".apng",
        ".tif",
        ".tiff",
        ".bmp",
        ".dib",
        ".gif",
        ".webp",
        ".avif",
        ".heic",
        ".heif",
        ".hif",
    }
)
_RAW_SUFFIXES = frozenset(
    {
        ".dng",
        ".cr2",
        ".cr3",
        ".crw",
        ".nef",
        ".nrw",
        ".arw",
        ".srf",
        ".sr2",
        ".orf",
        ".rw2",
        ".raf",
        ".pef",
        ".srw",
        ".x3f",
        ".raw",
        ".3fr",
        ".erf",
        ".mrw",
        ".kdc",
    }
)
_KNOWN_SUFFIXES = {
    ".dcm": "a DICOM file",
    ".dicom": "a DICOM file",
    ".pdf": "a PDF document",
    ".svg": "an SVG drawing",
    ".mp4": "a video",
    ".mov": "a video",
    ".avi": "a video",
    ".mkv": "a video",
    ".zip": "a ZIP archive",
    ".psd": "a Photoshop document",
}


@dataclass(frozen=True)
class JpegLayout:
    """What a lossless (DCT-domain) crop of a JPEG file needs to know."""

    stored_size: tuple[int, int]  # (W, H) as stored, before the EXIF orientation
    mcu: tuple[int, int]  # (w, h) of one MCU in stored pixels: 8 or 16 each
    components: int  # 1 (gray) or 3 (YCbCr); others are not cropped losslessly


@dataclass(frozen=True)
class ImageInfo:
    """Where the pixels came from: what a summary says about the input."""

    format: str | None  # "JPEG", "PNG", "HEIF", ...; None for arrays
    size: tuple[int, int]  # (W, H) of the upright photo at full size
    orientation: int = 1  # the EXIF orientation applied to get it upright (1: none)
    frames: int = 1  # pictures in the file; only the first (primary) is used
    notes: tuple[str, ...] = ()  # for people: first frame used, 16-bit scaled, alpha dropped
    jpeg: JpegLayout | None = None  # set for JPEG files, for lossless crops


@dataclass
class DecodedImage:
    """Upright RGB pixels and what the file said about them."""

    pixels: np.ndarray  # HxWx3 uint8 RGB, EXIF orientation applied
    info: ImageInfo = field(repr=False)


def _check_size(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise InvalidImageError(
            f"The image is too large ({width}x{height} = {width * height / 1e6:,.0f} megapixels; "
            f"the limit is {max_pixels / 1e6:.0f}). It was refused before decoding. "
            "Please use a smaller photograph."
        )
    if min(width, height) < MIN_SIDE:
        raise InvalidImageError(
            f"The image is too small ({width}x{height}); it needs at least {MIN_SIDE} pixels a side."
        )


def read_bytes(source: str | Path | bytes | bytearray) -> bytes:
    """The bytes of a file path or bytes input (InvalidImageError if missing, empty or huge)."""
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise InvalidImageError(f"No such file: {path.name}")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InvalidImageError(
                f"The file is too large ({size / 2**20:,.0f} MB; the limit is {MAX_FILE_BYTES / 2**20:.0f} MB)."
            )
        unsupported = unsupported_reason(path)
        if unsupported:
            raise InvalidImageError(unsupported)
        data = path.read_bytes()
    if not data:
        raise InvalidImageError("The file is empty.")
    return data


def unsupported_reason(path: str | Path) -> str | None:
    """A message for files known by their name not to be readable photos (camera RAW, DICOM,
    PDF, video...), or None. RAW files must be caught by name: Pillow would open their small
    embedded preview as a TIFF."""
    suffix = Path(path).suffix.lower()
    if suffix in _RAW_SUFFIXES:
        return f"Camera RAW files ({suffix}) are not supported. Please export the photo as JPEG, PNG or TIFF first."
    if suffix in _KNOWN_SUFFIXES:
        return f"This is {_KNOWN_SUFFIXES[suffix]}, not a photograph. Supported: {SUPPORTED}."
    return None


def skip_reason(path: str | Path) -> str | None:
    """Why a file found in a scanned folder is not read (None: it is read as an image)."""
    path = Path(path)
    if any(part.startswith(".") for part in path.parts):  # also macOS's "._photo.jpg" companions
        return "hidden file"
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return None
    return unsupported_reason(path) or f"not an image file ({path.suffix or 'no extension'})"


def _what_it_is(data: bytes) -> str | None:
    """A name for well-known non-image (or unsupported image) contents, from their first bytes."""
    head = data[:512]
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if data[128:132] == b"DICM":
        return "a DICOM file (export the photo as JPEG or PNG)"
    if head.startswith(b"PK\x03\x04"):
        return "a ZIP archive or an office document"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1", b"heim", b"heis"):
            return "a HEIC/HEIF photo, which needs the pillow-heif package" if not HEIF_SUPPORTED else None
        if brand in (b"avif", b"avis"):
            return None
        return "a video or audio file"
    if head.startswith(b"II*\x00\x10\x00\x00\x00CR"):
        return "a Canon camera RAW file (export the photo as JPEG, PNG or TIFF first)"
    if head.lstrip().startswith((b"<svg", b"<?xml", b"<!DOCTYPE", b"<html", b"<HTML")):
        return "an XML, SVG or HTML document"
    if b"\0" not in head:
        try:
            head.decode("utf-8")
            return "a text file"
        except UnicodeDecodeError:
            pass
    return None


@cache
def _plugins_loaded() -> bool:
    Image.init()  # every format plugin, as Image.open does when the common ones do not match
    return True


def _identify(data: bytes) -> Image.Image:
    """``Image.open`` on bytes, reading the header only, without Pillow's decompression-bomb
    check (the caller checks the size against its own limit next; see the module docstring).
    Falls back to ``Image.open`` if Pillow's plugin registry ever changes shape."""
    try:
        _plugins_loaded()
        registry = [(Image.OPEN[name][0], Image.OPEN[name][1]) for name in Image.ID]
    except (AttributeError, KeyError, TypeError):  # pragma: no cover - a future Pillow
        return Image.open(io.BytesIO(data))
    prefix = data[:16]
    unsupported = []
    for factory, accept in registry:
        verdict = accept(prefix) if accept else True
        if isinstance(verdict, str):  # "recognised, but this build cannot read it"
            unsupported.append(verdict)
            continue
        if not verdict:
            continue
        try:
            return factory(io.BytesIO(data), "")
        except (SyntaxError, IndexError, TypeError, struct.error):  # as Image.open: not this format
            continue
    raise UnidentifiedImageError("; ".join(unsupported) or "cannot identify image file")


def _bomb_message(err: Exception) -> str:
    """A person's message for Pillow's own DecompressionBombError (raised while reading frames)."""
    match = re.search(r"\((\d+) pixels\)", str(err))
    size = f" ({int(match.group(1)) / 1e6:,.0f} megapixels)" if match else ""
    return f"The image is too large{size}. It was refused before decoding. Please use a smaller photograph."


def _open(data: bytes) -> Image.Image:
    """Read the header only (size, format, EXIF); pixels are decoded later."""
    try:
        return _identify(data)
    except UnidentifiedImageError:
        what = _what_it_is(data)
        if what:
            raise InvalidImageError(f"This is {what}, not an image that can be read. Supported: {SUPPORTED}.") from None
        raise InvalidImageError(f"This file is not an image that can be read (supported: {SUPPORTED}).") from None
    except Image.DecompressionBombError as err:
        raise InvalidImageError(_bomb_message(err)) from None
    except (OSError, ValueError, EOFError, MemoryError, RuntimeError) as err:
        raise InvalidImageError(
            f"The file could not be read as an image: its header is damaged ({err.__class__.__name__})."
        ) from None


def _to_rgb_array(im: Image.Image) -> tuple[np.ndarray, list[str]]:
    """Pillow image of any mode -> uint8 RGB array (16-bit and float scaled, alpha dropped),
    and notes for people on what was changed."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im).astype(np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        if im.mode == "F":
            top = 1.0 if arr.max() <= 1.0 else 255.0
        gray = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2), [f"{im.mode} gray image scaled to 8 bits"]
    notes = []
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        background = Image.new("RGBA", im.size, (0, 0, 0, 255))
        im = Image.alpha_composite(background, im)
        notes.append("transparency flattened onto black")
    elif im.mode == "CMYK":
        notes.append("CMYK converted to RGB")
    return np.asarray(im.convert("RGB")), notes


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
    """Decode ``source`` to an upright HxWx3 uint8 RGB array; see :func:`read_image`."""
    return read_image(source, max_pixels, max_side).pixels


def decode_image(
    source: ImageInput, max_pixels: int = MAX_PIXELS, max_side: int | None = None
) -> tuple[np.ndarray, tuple[int, int]]:
    """The upright RGB array and the photo's full upright size (W, H); see :func:`read_image`."""
    decoded = read_image(source, max_pixels, max_side)
    return decoded.pixels, decoded.info.size


def _orientation(im: Image.Image) -> int:
    try:
        value = int(im.getexif().get(0x0112, 1))
    except Exception:  # damaged EXIF: treat as upright, as viewers do
        return 1
    return value if 1 <= value <= 8 else 1


def _frame_count(im: Image.Image) -> int:
    """Pictures in the file. GIF counts only 1 or 2 (counting walks the whole file)."""
    if im.format == "GIF":
        return 2 if getattr(im, "is_animated", False) else 1
    return int(getattr(im, "n_frames", 1) or 1)


def _frame_note(fmt: str, frames: int) -> str:
    if fmt == "GIF":
        return "animated GIF: the first frame was used"
    if fmt == "HEIF":
        return f"HEIF with {frames} pictures: the primary picture was used"
    if fmt == "MPO":
        return f"multi-picture JPEG (MPO) with {frames} pictures: the first was used"
    return f"{fmt} with {frames} frames: the first frame was used"


def _jpeg_layout(im: Image.Image) -> JpegLayout | None:
    """MCU size and components of a JPEG from its frame header (Pillow's ``layer``)."""
    layer = getattr(im, "layer", None)
    if not layer:
        return None
    if len(layer) == 1:
        mcu = (8, 8)  # one component: non-interleaved, 8x8 blocks whatever its factors say
    else:
        mcu = (8 * max(c[1] for c in layer), 8 * max(c[2] for c in layer))
    return JpegLayout(stored_size=im.size, mcu=mcu, components=len(layer))


def read_image(source: ImageInput, max_pixels: int = MAX_PIXELS, max_side: int | None = None) -> DecodedImage:
    """Decode ``source`` (path, bytes, PIL image or numpy array in RGB order) to upright RGB uint8.

    Applies the EXIF orientation; converts grayscale, palette, RGBA (onto black), CMYK, 16-bit
    and float images; takes the first frame of multi-frame files. Raises
    :class:`InvalidImageError`, with a message for the person who supplied the file, for
    non-images, unsupported formats, truncated files and images over ``max_pixels`` (checked
    from the header, before decoding; a limit above Pillow's ``Image.MAX_IMAGE_PIXELS`` needs
    that raised too).

    ``max_side`` (off by default) lets a large JPEG be decoded at a reduced scale (1/2, 1/4 or
    1/8, inside the JPEG decoder), keeping its long side at least ``max_side``; ``info.size``
    stays the full size.
    """
    if isinstance(source, np.ndarray):
        _check_size(source.shape[1] if source.ndim > 1 else 0, source.shape[0], max_pixels)
        rgb = array_to_rgb(source)
        return DecodedImage(rgb, ImageInfo(format=None, size=(rgb.shape[1], rgb.shape[0])))
    data = None if isinstance(source, Image.Image) else read_bytes(source)
    opened = source if data is None else _open(data)
    try:
        return _decode_opened(opened, data, max_pixels, max_side)
    except InvalidImageError:
        raise
    except Image.DecompressionBombError as err:
        raise InvalidImageError(_bomb_message(err)) from None
    except MemoryError:
        raise InvalidImageError("There was not enough memory to decode this image.") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError) as err:
        truncated = "truncated" in str(err) or isinstance(err, (OSError, SyntaxError, EOFError))
        reason = "it is truncated or corrupt" if truncated else "its data is damaged"
        raise InvalidImageError(f"The image could not be decoded: {reason}.") from None
    finally:
        if opened is not source:
            opened.close()


def _decode_opened(opened: Image.Image, data: bytes | None, max_pixels: int, max_side: int | None) -> DecodedImage:
    _check_size(*opened.size, max_pixels)
    fmt = opened.format
    frames = _frame_count(opened) if data is not None else 1
    _check_size(*opened.size, max_pixels)  # a GIF's frames may enlarge its canvas
    orientation = _orientation(opened)
    w, h = opened.size
    size = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
    notes = [_frame_note(fmt or "image", frames)] if frames > 1 else []
    jpeg = _jpeg_layout(opened) if fmt in ("JPEG", "MPO") and data is not None else None
    reduction = _reduction(opened.size, max_side)
    info = ImageInfo(format=fmt, size=size, orientation=orientation, frames=frames, notes=tuple(notes), jpeg=jpeg)
    if data is not None and fmt in ("JPEG", "MPO") and opened.mode in ("RGB", "L"):
        fast = _decode_jpeg_fast(data, reduction)
        expected = (-(-size[1] // reduction), -(-size[0] // reduction))
        if fast is not None and fast.shape[:2] == expected:  # else (odd EXIF?) Pillow decides
            return DecodedImage(fast, info)
    im = opened
    if reduction > 1 and fmt in ("JPEG", "MPO") and data is not None:  # never alter a caller's image
        im.draft("RGB", (im.size[0] // reduction, im.size[1] // reduction))
    im.load()
    im = ImageOps.exif_transpose(im)
    rgb, mode_notes = _to_rgb_array(im)
    if mode_notes:
        info = ImageInfo(
            format=fmt, size=size, orientation=orientation, frames=frames, notes=tuple(notes + mode_notes), jpeg=jpeg
        )
    return DecodedImage(rgb, info)
