"""Reliability score and photo quality flags on real photos made worse on purpose."""

import cv2
import numpy as np
from PIL import Image

from cervix_unet import quality
from cervix_unet.quality import flip_agreement, quality_flags, quality_measures


def test_good_examples_are_reliable_and_unflagged(segmenter, example_paths):
    for path in example_paths:
        result = segmenter(path)
        assert result.found and result.reliability >= quality.RELIABILITY_MIN, (path.name, result.reliability)
        assert result.flags == [] and not result.check
        assert 0 < result.reliability <= result.confidence <= 1  # confidence times an agreement <= 1
        summary = result.summary()
        assert summary["check"] is False and summary["flags"] == [] and summary["reliability"] > 0


def test_degraded_photos_are_flagged(segmenter, example_paths):
    photo = np.asarray(Image.open(example_paths[0]).convert("RGB"))
    dark = (photo * 0.2).astype(np.uint8)
    blurred = cv2.GaussianBlur(photo, (0, 0), 12)
    assert "under-exposed" in segmenter(dark).flags
    assert "blurred" in segmenter(blurred).flags
    result = segmenter(dark)
    assert result.check or not result.found  # never a plain "found" on a photo at a fifth of its light


def test_measures_on_known_masks():
    grey = np.full((128, 128, 3), 100, np.uint8)
    whole = np.ones((128, 128), bool)
    centre = np.zeros((128, 128), bool)
    centre[40:88, 40:88] = True
    assert quality_measures(grey, whole)["border"] == 1.0  # a frame-filling cervix lies on the edge all round
    assert quality_measures(grey, centre)["border"] == 0.0
    assert quality_measures(grey, centre)["area"] == 48 * 48 / 128**2
    assert quality_measures(grey, centre)["sharpness"] == 0.0  # flat grey: nothing sharp
    glare = grey.copy()
    glare[40:64, 40:88] = 255  # saturated white over half the cervix
    assert abs(quality_measures(glare, centre)["glare"] - 0.5) < 1e-6
    assert set(quality_flags(quality_measures(grey, centre), found=True)) == {"blurred"}


def test_flip_agreement():
    a = np.zeros((8, 8), bool)
    a[2:6, 2:4] = True
    assert flip_agreement(a, a) == 1.0
    assert flip_agreement(a, np.zeros_like(a)) == 0.0
    assert flip_agreement(np.zeros_like(a), np.zeros_like(a)) == 1.0
