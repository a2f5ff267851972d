"""Probability map -> clean mask: threshold, keep the largest connected component, fill holes.

Runs at the network's resolution (cheap); :func:`clean_probability` keeps the soft edge so
that the map can be upsampled to the photo's size and thresholded there with smooth borders.
"""

from __future__ import annotations

import cv2
import numpy as np


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of a bool mask (empty stays empty)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros_like(mask, dtype=bool)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == biggest


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """The mask with every enclosed background region filled (same result as SciPy's
    ``binary_fill_holes``, by flood-filling the background from a one-pixel border)."""
    h, w = mask.shape
    background = np.zeros((h + 2, w + 2), np.uint8)
    background[1:-1, 1:-1] = mask
    cv2.floodFill(background, None, (0, 0), 1)  # 4-connected, as SciPy's default structure
    return mask | (background[1:-1, 1:-1] == 0)


def clean_mask(probability: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Threshold, largest component, fill holes: the cervix as one solid region."""
    return fill_holes(largest_component(probability > threshold))


def clean_probability(probability: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """The probability map restricted to the cleaned mask's region: 0 far from it, 1 in filled
    holes, unchanged on its border ring, so upsampling then thresholding gives the same region
    with smooth edges at any size."""
    mask = clean_mask(probability, threshold)
    near = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    cleaned = np.where(near, probability, 0.0).astype(np.float32)
    cleaned[mask & (probability <= threshold)] = 1.0  # filled holes
    return cleaned
