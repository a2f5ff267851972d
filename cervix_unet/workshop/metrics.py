"""Segmentation metrics, computed with MONAI.

Dice is one object for training, evaluation and export checks: ``DiceScore``, MONAI's
``DiceMetric`` fed batch by batch and read once. Empty masks: both empty is a perfect answer
(Dice 1) by default, or left out (``both_empty="ignore"``); exactly one empty scores 0.
``mask_metrics`` adds IoU, 95th-percentile Hausdorff distance and box IoU for one image, with
the same convention (HD95 of one empty mask = the image diagonal).
"""

from __future__ import annotations

import math
import warnings
from typing import Literal

import numpy as np
import torch
from monai.metrics import DiceMetric, compute_hausdorff_distance, compute_iou

from ..crop import box_iou, mask_box


def _as_batch(masks: np.ndarray | torch.Tensor) -> torch.Tensor:
    """HxW, NxHxW or Nx1xHxW bool masks as an Nx1xHxW float tensor (MONAI's layout)."""
    t = masks if isinstance(masks, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(masks, dtype=bool))
    while t.ndim < 4:
        t = t[None] if t.ndim < 3 else t[:, None]
    return t.float()


class DiceScore:
    """Per-image Dice of predicted against true masks, accumulated batch by batch."""

    def __init__(self, both_empty: Literal["one", "ignore"] = "one") -> None:
        self.metric = DiceMetric(include_background=True, reduction="none", ignore_empty=both_empty == "ignore")

    def add(self, pred: np.ndarray | torch.Tensor, truth: np.ndarray | torch.Tensor) -> DiceScore:
        """Add one mask pair (HxW) or a batch (NxHxW or Nx1xHxW) of bool masks."""
        self.metric(_as_batch(pred), _as_batch(truth))
        return self

    def values(self) -> np.ndarray:
        """Dice of every image added so far (NaN for ignored empty pairs)."""
        return self.metric.aggregate().flatten().cpu().numpy()

    def mean(self) -> float:
        """Mean Dice over the images added so far (ignored pairs left out)."""
        return float(np.nanmean(self.values()))

    def reset(self) -> None:
        self.metric.reset()


def mask_metrics(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Dice, IoU, 95th-percentile Hausdorff distance (pixels and fraction of the diagonal)
    and bounding-box IoU of two HxW bool masks."""
    if pred.shape != truth.shape:
        raise ValueError(f"shapes differ: {pred.shape} vs {truth.shape}")
    diagonal = math.hypot(*pred.shape)
    dice = float(DiceScore().add(pred, truth).values()[0])
    p_any, t_any = bool(pred.any()), bool(truth.any())
    if not p_any or not t_any:
        same = p_any == t_any
        iou = float(same)
        hd95 = 0.0 if same else diagonal
    else:
        p, t = _as_batch(pred), _as_batch(truth)
        iou = float(compute_iou(p, t, include_background=True))
        with warnings.catch_warnings():  # MONAI 1.5+ warns about its own internal argument
            warnings.simplefilter("ignore", FutureWarning)
            hd95 = float(compute_hausdorff_distance(p, t, include_background=True, percentile=95))
    return {
        "dice": dice,
        "iou": iou,
        "hd95": hd95,
        "hd95_fraction": hd95 / diagonal,
        "box_iou": box_iou(mask_box(pred), mask_box(truth)),
    }
