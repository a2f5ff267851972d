"""Post-processing, crop geometry and metrics on hand-computed cases."""

import math

import numpy as np
import pytest

from cervix_unet.crop import box_iou, crop_image, expand_box, mask_box, scale_box
from cervix_unet.postprocess import clean_mask, clean_probability, fill_holes, largest_component
from cervix_unet.workshop.metrics import mask_metrics


def test_largest_component_and_holes():
    prob = np.zeros((20, 20), np.float32)
    prob[2:12, 2:12] = 0.9  # big blob with a hole
    prob[5:7, 5:7] = 0.1
    prob[15:18, 15:18] = 0.8  # small blob
    mask = clean_mask(prob, 0.5)
    assert mask[6, 6]  # hole filled
    assert not mask[16, 16]  # small component dropped
    assert mask.sum() == 100
    assert not largest_component(np.zeros((5, 5), bool)).any()
    ring = np.ones((5, 5), bool)
    ring[2, 2] = False
    assert fill_holes(ring).all()


def test_clean_probability_upsamples_to_the_same_region():
    prob = np.zeros((16, 16), np.float32)
    prob[4:12, 4:12] = 0.95
    prob[0:2, 14:16] = 0.9  # stray blob far away
    cleaned = clean_probability(prob, 0.5)
    assert cleaned[0, 15] == 0.0 and cleaned[8, 8] == pytest.approx(0.95)
    import cv2

    big = cv2.resize(cleaned, (160, 160), interpolation=cv2.INTER_LINEAR) > 0.5
    x0, y0, x1, y1 = mask_box(big)
    assert 35 <= x0 <= 45 and 115 <= x1 <= 125 and 35 <= y0 <= 45 and 115 <= y1 <= 125


def test_boxes():
    mask = np.zeros((10, 20), bool)
    mask[2:5, 3:9] = True
    assert mask_box(mask) == (3, 2, 9, 5)
    assert mask_box(np.zeros((4, 4), bool)) is None
    assert expand_box((3, 2, 9, 5), 0.5, (20, 10)) == (0, 0, 12, 7)
    assert scale_box((1, 1, 3, 3), (4, 4), (10, 10)) == (2, 2, 8, 8)
    assert box_iou((0, 0, 2, 2), (1, 1, 3, 3)) == pytest.approx(1 / 7)
    assert box_iou(None, None) == 1.0 and box_iou(None, (0, 0, 1, 1)) == 0.0


def test_crop_box_and_masked():
    image = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    assert np.array_equal(crop_image(image, (1, 1, 4, 3)), image[1:3, 1:4])
    inside = np.array([[True, False, True], [False, True, False]])
    out = crop_image(image, (1, 1, 4, 3), inside)
    assert np.array_equal(out[0, 0], image[1, 1]) and not out[0, 1].any()


def test_metrics_hand_computed():
    a = np.zeros((10, 10), bool)
    a[2:6, 2:6] = True  # 16 px
    b = np.zeros((10, 10), bool)
    b[2:6, 4:8] = True  # 16 px, 8 shared
    m = mask_metrics(a, b)
    assert m["dice"] == pytest.approx(0.5)
    assert m["iou"] == pytest.approx(8 / 24)
    assert m["box_iou"] == pytest.approx(8 / 24)
    assert m["hd95"] == pytest.approx(2.0)  # boundaries two columns apart
    assert m["hd95_fraction"] == pytest.approx(2.0 / math.hypot(10, 10))
    same = mask_metrics(a, a)
    assert same["dice"] == 1.0 and same["hd95"] == 0.0


def test_metrics_empty_conventions():
    empty = np.zeros((6, 8), bool)
    full = np.ones((6, 8), bool)
    assert mask_metrics(empty, empty)["dice"] == 1.0
    worst = mask_metrics(empty, full)
    assert worst["dice"] == 0.0 and worst["hd95"] == pytest.approx(10.0) and worst["box_iou"] == 0.0


def test_fill_holes_matches_scipy():
    from scipy import ndimage

    rng = np.random.default_rng(3)
    for _ in range(20):
        mask = rng.random((40, 50)) > 0.45
        assert np.array_equal(fill_holes(mask), ndimage.binary_fill_holes(mask))
