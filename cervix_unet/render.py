"""Pictures for people: mask overlays and PNG encoding without metadata."""
from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

OUTLINE = (0, 255, 0)
TINT = (0, 200, 80)


def overlay(image: np.ndarray, mask: np.ndarray, alpha: float = 0.25, thickness: int | None = None) -> np.ndarray:
    """The photo with the mask tinted and outlined (RGB uint8, same size as ``image``)."""
    out = image.copy()
    if mask.any():
        tinted = (out[mask] * (1 - alpha) + np.array(TINT) * alpha).astype(np.uint8)
        out[mask] = tinted
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        thickness = thickness or max(2, round(max(image.shape[:2]) / 250))
        cv2.drawContours(out, contours, -1, OUTLINE, thickness, lineType=cv2.LINE_AA)
    return out


def to_png(array: np.ndarray, compress_level: int = 1) -> bytes:
    """PNG bytes of an RGB or grayscale (bool or uint8) array, with no metadata at all."""
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()
