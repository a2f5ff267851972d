"""Files from the real world, made for tests: camera-size photos, rotated and grey ones, HEIC,
multi-frame files, and decompression bombs (tiny files whose headers claim huge images)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

# EXIF orientation -> the transpose that stores an upright picture so that a viewer applying
# the orientation shows it upright again (the inverse of ImageOps.exif_transpose)
STORE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _small(fmt: str, mode: str = "RGB", **kw) -> bytearray:
    buf = io.BytesIO()
    Image.new(mode, (16, 16)).save(buf, fmt, **kw)
    return bytearray(buf.getvalue())


def png_bomb(w: int, h: int) -> bytes:
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + _chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + _chunk(b"IEND", b"")
    )


def gif_bomb(w: int, h: int) -> bytes:
    data = _small("GIF", "P")
    data[6:10] = struct.pack("<HH", w, h)  # logical screen size
    return bytes(data)


def bmp_bomb(w: int, h: int) -> bytes:
    data = _small("BMP")
    data[18:26] = struct.pack("<ii", w, h)
    return bytes(data)


def jpeg_bomb(w: int, h: int) -> bytes:
    data = _small("JPEG")
    i = data.find(b"\xff\xc0")  # baseline frame header: length, precision, height, width
    data[i + 5 : i + 9] = struct.pack(">HH", h, w)
    return bytes(data)


def tiff_bomb(w: int, h: int) -> bytes:
    tags = [
        (256, 4, 1, w),
        (257, 4, 1, h),
        (258, 3, 1, 8),
        (259, 3, 1, 1),
        (262, 3, 1, 1),
        (273, 4, 1, 8),
        (277, 3, 1, 1),
        (278, 4, 1, h),
        (279, 4, 1, w * h % 2**32),
    ]
    ifd = struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHII", *t) for t in tags) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd


def webp_bomb(w: int, h: int) -> bytes:
    """A lossless WebP whose VP8L header claims w x h (at most 16384 a side)."""
    data = _small("WEBP", lossless=True)
    i = data.find(b"VP8L") + 8  # signature byte 0x2f, then 14 bits width-1 and 14 bits height-1
    bits = int.from_bytes(data[i + 1 : i + 5], "little")
    bits = (bits & ~0xFFFFFFF) | (w - 1) | ((h - 1) << 14)
    data[i + 1 : i + 5] = bits.to_bytes(4, "little")
    return bytes(data)


BOMBS = {"png": png_bomb, "gif": gif_bomb, "bmp": bmp_bomb, "jpg": jpeg_bomb, "tif": tiff_bomb, "webp": webp_bomb}


def camera_photo(example: Path, size: tuple[int, int] = (4000, 3000), seed: int = 0) -> np.ndarray:
    """An example photo at camera size with sensor-like noise, so that it compresses like a
    real camera JPEG (several MB) rather than a smooth upscale."""
    upright = np.asarray(Image.open(example).convert("RGB").resize(size, Image.Resampling.BICUBIC))
    noise = np.random.default_rng(seed).normal(0, 4, upright.shape[:2] + (1,)).astype(np.float32)
    return np.clip(upright + noise, 0, 255).astype(np.uint8)


def jpeg_file(
    upright: np.ndarray, orientation: int = 1, quality: int = 92, private_exif: bool = True, subsampling: int = 2
) -> bytes:
    """A JPEG that a viewer shows as ``upright``: stored turned, with that EXIF orientation, and
    carrying camera metadata (maker, GPS) that outputs must not copy."""
    im = Image.fromarray(upright)
    if orientation != 1:
        im = im.transpose(STORE[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    if private_exif:
        exif[0x010F] = "SecretCamera"  # Make
        exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0)}  # GPS: latitude
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, exif=exif, subsampling=subsampling)
    return buf.getvalue()


def encoded(array_or_image, fmt: str, **kw) -> bytes:
    im = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def multi_frame(first: np.ndarray, fmt: str, frames: int = 3) -> bytes:
    """A multi-frame TIFF or GIF whose first frame is ``first`` and the others grey."""
    others = [Image.new("RGB", (first.shape[1], first.shape[0]), (90 + 40 * i,) * 3) for i in range(frames - 1)]
    return encoded(Image.fromarray(first), fmt, save_all=True, append_images=others)


def heic_file(upright: np.ndarray) -> bytes:
    import pillow_heif

    pillow_heif.register_heif_opener()  # also the writer
    return encoded(upright, "HEIF", quality=90)
