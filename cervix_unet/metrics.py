"""Segmentation metrics for one predicted mask against one label, computed with MONAI.

Conventions for empty masks (MONAI leaves them undefined): both empty is a perfect answer
(Dice 1, IoU 1, HD95 0); exactly one empty is the worst (Dice 0, IoU 0, HD95 = diagonal).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from monai.metrics import compute_dice, compute_hausdorff_distance, compute_iou

from .crop import box_iou, mask_box


def _as_batch(mask: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(mask, dtype=bool))[None, None].float()


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice of two bool masks in plain numpy (1.0 when both are empty): for comparing backends."""
    total = int(np.count_nonzero(a)) + int(np.count_nonzero(b))
    return 1.0 if total == 0 else 2 * int(np.count_nonzero(a & b)) / total


def mask_metrics(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Dice, IoU, 95th-percentile Hausdorff distance (pixels and fraction of the diagonal)
    and bounding-box IoU of two HxW bool masks."""
    if pred.shape != truth.shape:
        raise ValueError(f"shapes differ: {pred.shape} vs {truth.shape}")
    diagonal = math.hypot(*pred.shape)
    p_any, t_any = bool(pred.any()), bool(truth.any())
    if not p_any or not t_any:
        same = p_any == t_any
        dice = iou = float(same)
        hd95 = 0.0 if same else diagonal
    else:
        p, t = _as_batch(pred), _as_batch(truth)
        dice = float(compute_dice(p, t, include_background=True))
        iou = float(compute_iou(p, t, include_background=True))
        with warnings.catch_warnings():  # MONAI 1.5+ warns about its own internal argument
            warnings.simplefilter("ignore", FutureWarning)
            hd95 = float(compute_hausdorff_distance(p, t, include_background=True, percentile=95))
    return {"dice": dice, "iou": iou, "hd95": hd95, "hd95_fraction": hd95 / diagonal,
            "box_iou": box_iou(mask_box(pred), mask_box(truth))}
