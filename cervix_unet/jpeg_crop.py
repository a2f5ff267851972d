"""Lossless crops of JPEG files: the photo's own pixels, cut in the DCT domain, never re-encoded.

Uses ``jpegtran`` from libjpeg-turbo (Debian: ``libjpeg-turbo-progs``, installed by
``scripts/setup.sh``). Three facts of the format decide the geometry:

- A crop can start only on the MCU grid (8 or 16 pixels, from the chroma subsampling), so its
  top-left corner moves up and left to the grid: the delivered box is up to 15 pixels larger
  than the one asked for, and :class:`LosslessCrop` says exactly which box it holds.
- The output carries no metadata (``-copy none``), so a photo stored sideways with an EXIF
  orientation is cropped in its stored orientation and then turned upright in the DCT domain
  (``-perfect``): the crop's own size is first extended to whole MCUs for that. Where it cannot
  be (the crop reaches a stored edge that is not on the grid), :class:`LosslessCropError` says
  so and the caller re-encodes.
- Boxes are given and returned in the upright photo's pixels, like every box in this package.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from .crop import Box
from .image_io import JpegLayout

# EXIF orientation -> the jpegtran transform that turns the stored image upright
TRANSFORMS = {
    2: ["-flip", "horizontal"],
    3: ["-rotate", "180"],
    4: ["-flip", "vertical"],
    5: ["-transpose"],
    6: ["-rotate", "90"],
    7: ["-transverse"],
    8: ["-rotate", "270"],
}
TIMEOUT_S = 120


class LosslessCropError(RuntimeError):
    """A lossless crop cannot be made for this file or box; the message says why, for a summary."""


@dataclass(frozen=True)
class LosslessCrop:
    data: bytes  # a baseline JPEG of the upright crop, no metadata
    box: Box  # the region it holds, in upright photo pixels (x0, y0, x1, y1; x1, y1 exclusive)
    rotated: bool  # whether it was also turned upright in the DCT domain


def jpegtran_path() -> str | None:
    """The jpegtran executable, or None when it is not installed."""
    return shutil.which("jpegtran")


def to_upright(box: Box, orientation: int, stored_size: tuple[int, int]) -> Box:
    """A box in the stored image (W, H = ``stored_size``) mapped into the upright image."""
    w, h = stored_size
    maps = {
        1: lambda x, y: (x, y),
        2: lambda x, y: (w - x, y),
        3: lambda x, y: (w - x, h - y),
        4: lambda x, y: (x, h - y),
        5: lambda x, y: (y, x),
        6: lambda x, y: (h - y, x),
        7: lambda x, y: (h - y, w - x),
        8: lambda x, y: (y, w - x),
    }
    return _map_box(box, maps[orientation])


def to_stored(box: Box, orientation: int, stored_size: tuple[int, int]) -> Box:
    """A box in the upright image mapped back into the stored image (W, H = ``stored_size``)."""
    w, h = stored_size
    maps = {
        1: lambda u, v: (u, v),
        2: lambda u, v: (w - u, v),
        3: lambda u, v: (w - u, h - v),
        4: lambda u, v: (u, h - v),
        5: lambda u, v: (v, u),
        6: lambda u, v: (v, h - u),
        7: lambda u, v: (w - v, h - u),
        8: lambda u, v: (w - v, u),
    }
    return _map_box(box, maps[orientation])


def _map_box(box: Box, point: Callable[[int, int], tuple[int, int]]) -> Box:
    (ax, ay), (bx, by) = point(box[0], box[1]), point(box[2], box[3])
    return min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)


def grid_box(box: Box, layout: JpegLayout, orientation: int) -> Box:
    """The stored-image region a lossless crop of upright ``box`` takes: top-left moved to the
    MCU grid; for a photo to be turned upright, bottom-right extended to it as well (within
    the image)."""
    (mw, mh), (w, h) = layout.mcu, layout.stored_size
    x0, y0, x1, y1 = to_stored(box, orientation, layout.stored_size)
    x0, y0 = x0 // mw * mw, y0 // mh * mh
    if orientation != 1:
        x1, y1 = min(w, -(-x1 // mw) * mw), min(h, -(-y1 // mh) * mh)
    return x0, y0, x1, y1


def _jpegtran(args: list[str], data: bytes) -> bytes:
    exe = jpegtran_path()
    if exe is None:
        raise LosslessCropError("jpegtran is not installed (Debian package libjpeg-turbo-progs)")
    try:
        done = subprocess.run([exe, "-copy", "none", *args], input=data, capture_output=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise LosslessCropError("jpegtran took too long") from None
    if done.returncode != 0 or not done.stdout:  # 2 = warnings (damaged data): do not trust the output
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        raise LosslessCropError(f"jpegtran: {reason[-1] if reason else 'failed'}")
    return done.stdout


def lossless_crop(data: bytes, layout: JpegLayout, orientation: int, box: Box) -> LosslessCrop:
    """The region ``box`` (upright pixels) of the JPEG file ``data``, cut losslessly and upright.

    Raises :class:`LosslessCropError` when it cannot be done losslessly (no jpegtran, a CMYK
    JPEG, a rotation that the crop's edge prevents); the caller then re-encodes the pixels.
    """
    if layout.components not in (1, 3):
        raise LosslessCropError(f"a {layout.components}-channel JPEG (CMYK) is not cropped losslessly")
    if orientation not in range(1, 9):
        orientation = 1
    x0, y0, x1, y1 = grid_box(box, layout, orientation)
    cropped = _jpegtran(["-crop", f"{x1 - x0}x{y1 - y0}+{x0}+{y0}"], data)
    if orientation != 1:
        try:
            cropped = _jpegtran(["-perfect", *TRANSFORMS[orientation]], cropped)
        except LosslessCropError as err:
            raise LosslessCropError(
                f"the crop of this rotated photo cannot be turned upright losslessly ({err})"
            ) from None
    delivered = to_upright((x0, y0, x1, y1), orientation, layout.stored_size)
    width, height = _jpeg_size(cropped)
    if (width, height) != (delivered[2] - delivered[0], delivered[3] - delivered[1]):
        raise LosslessCropError(f"jpegtran delivered {width}x{height}, not the expected box {delivered}")
    return LosslessCrop(data=cropped, box=delivered, rotated=orientation != 1)


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """(W, H) from a JPEG's frame header, without decoding."""
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            break
        marker = data[i + 1]
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(data[i + 5 : i + 7], "big")
        i += 2 + length
    raise LosslessCropError("jpegtran's output has no frame header")
