"""Mask -> bounding box -> crop of the photo."""

from __future__ import annotations

import numpy as np

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, x1/y1 exclusive


def mask_box(mask: np.ndarray) -> Box | None:
    """The tight bounding box of a bool mask, or None when it is empty."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def scale_box(box: Box, from_size: tuple[int, int], to_size: tuple[int, int]) -> Box:
    """A box in an image of ``from_size`` (W, H) mapped outward onto ``to_size`` (W, H)."""
    sx, sy = to_size[0] / from_size[0], to_size[1] / from_size[1]
    x0, y0, x1, y1 = box
    return (
        int(np.floor(x0 * sx)),
        int(np.floor(y0 * sy)),
        min(to_size[0], int(np.ceil(x1 * sx))),
        min(to_size[1], int(np.ceil(y1 * sy))),
    )


def expand_box(box: Box, margin: float, size: tuple[int, int]) -> Box:
    """Grow a box by ``margin`` (a fraction of its width and height) on every side, within ``size`` (W, H)."""
    x0, y0, x1, y1 = box
    dx, dy = round((x1 - x0) * margin), round((y1 - y0) * margin)
    return max(0, x0 - dx), max(0, y0 - dy), min(size[0], x1 + dx), min(size[1], y1 + dy)


def crop_image(image: np.ndarray, box: Box, mask: np.ndarray | None = None) -> np.ndarray:
    """The part of ``image`` inside ``box``; with ``mask`` (the box-sized part of the mask),
    everything outside the cervix is blacked out."""
    x0, y0, x1, y1 = box
    out = image[y0:y1, x0:x1]
    if mask is None:
        return out.copy()
    return np.where(mask[:, :, None], out, 0).astype(image.dtype)


def box_iou(a: Box | None, b: Box | None) -> float:
    """Intersection over union of two boxes (1.0 when both are None, 0.0 when one is)."""
    if a is None or b is None:
        return float(a is None and b is None)
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0
