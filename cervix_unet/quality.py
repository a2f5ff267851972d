"""Why a result may be unreliable: photo quality measures and flags, and the reliability score.

All measures are taken on the network's working-size view (about 1 ms): the photo squashed to
``size`` x ``size`` and the cleaned mask there. The reliability score is the confidence (mean
probability inside the mask) times the agreement (Dice) between the outline and the outline the
network draws on the mirrored photo: a model unsure of an edge draws it differently each way.
"""

from __future__ import annotations

import cv2
import numpy as np

# Thresholds measured on the labelled pool (1,000+ photos of three sources, the shipped model's
# masks; scripts/reliability.py, reports/reliability/): each flag marks about the worst 2% of the
# development photos on its measure, except "cut by the frame" and "small", which say what a crop
# will be like. The reliability threshold flags 85% of the failures (Dice < 0.85) among photos the
# model never trained on, at the price of one good result in five.
BLUR_MAX_SHARPNESS = 40.0  # variance of the Laplacian (grey, 0-255) in the cervix box below this: blurred
GLARE_MIN_FRACTION = 0.15  # fraction of the cervix covered by specular highlights above this: glare
DARK_MAX_BRIGHTNESS = 85.0  # mean grey level of the cervix (0-255) below this: under-exposed
BRIGHT_MIN_BRIGHTNESS = 180.0  # ... above this: over-exposed
CUT_MIN_BORDER_FRACTION = 0.6  # fraction of the cervix outline on the photo's edge above this: cut by the frame
SMALL_MAX_AREA = 0.10  # cervix smaller than this fraction of the photo: small in the frame
RELIABILITY_MIN = 0.90  # reliability below this: "check this result"
# the flags that also call for a check: among photos the model never trained on, results with
# them failed more often than those without (glare 52%, under-exposed and small all of a few,
# against 33%); blur, over-exposure and a frame-filling cervix did not, and are only reported
CHECK_FLAGS = ("glare", "under-exposed", "small")

FLAG_TEXT = {
    "blurred": "the photo is blurred",
    "glare": "glare (specular highlights) covers much of the cervix",
    "under-exposed": "the photo is too dark",
    "over-exposed": "the photo is over-exposed",
    "cut by the frame": "the cervix runs past the edge of the photo",
    "small": "the cervix is small in the frame",
}


def quality_measures(small: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Sharpness, glare fraction, brightness, border fraction and area of the cervix region of a
    working-size RGB image ``small`` and its bool ``mask`` (the whole frame when the mask is empty)."""
    region = mask if mask.any() else np.ones(mask.shape, bool)
    ys, xs = np.nonzero(region)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    box = grey[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    sharpness = float(cv2.Laplacian(box, cv2.CV_32F).var()) if min(box.shape) >= 3 else 0.0
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    specular = (hsv[..., 2] >= 240) & (hsv[..., 1] <= 40)
    padded = np.pad(region, 1).astype(np.uint8)  # outside the photo counts as background
    outline = region & ~cv2.erode(padded, np.ones((3, 3), np.uint8))[1:-1, 1:-1].astype(bool)
    edge = np.zeros(region.shape, bool)
    edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = True
    return {
        "sharpness": sharpness,
        "glare": float(specular[region].mean()),
        "brightness": float(grey[region].mean()),
        "border": float((outline & edge).sum() / max(1, outline.sum())) if mask.any() else 0.0,
        "area": float(mask.mean()),
    }


def quality_flags(measures: dict[str, float], found: bool) -> list[str]:
    """The names (keys of ``FLAG_TEXT``) of the quality problems the measures show."""
    flags = []
    if measures["sharpness"] < BLUR_MAX_SHARPNESS:
        flags.append("blurred")
    if found and measures["glare"] > GLARE_MIN_FRACTION:
        flags.append("glare")
    if measures["brightness"] < DARK_MAX_BRIGHTNESS:
        flags.append("under-exposed")
    if measures["brightness"] > BRIGHT_MIN_BRIGHTNESS:
        flags.append("over-exposed")
    if found and measures["border"] > CUT_MIN_BORDER_FRACTION:
        flags.append("cut by the frame")
    if found and measures["area"] < SMALL_MAX_AREA:
        flags.append("small")
    return flags


def flip_agreement(mask: np.ndarray, flipped_mask: np.ndarray) -> float:
    """Dice between the mask and the mask found in the mirrored photo (mirrored back): a model
    that is sure of an outline finds the same one both ways (1.0 when both are empty)."""
    total = int(mask.sum()) + int(flipped_mask.sum())
    return 1.0 if total == 0 else 2 * int((mask & flipped_mask).sum()) / total
