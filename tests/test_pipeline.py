"""The whole pipeline with the shipped model on real photographs and on synthetic inputs."""

import io

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from cervix_unet import CervixUNet, InvalidImageError, Segmenter, SegmentOptions
from cervix_unet.backends import TorchBackend
from cervix_unet.workshop.labels import label_mask
from cervix_unet.workshop.metrics import mask_metrics
from tests.conftest import WEIGHTS, example_key, jpeg_bytes


def test_real_photos_match_their_labels(segmenter, example_paths, labels):
    for path in example_paths:
        result = segmenter(path)
        truth = label_mask(labels[example_key(path)])
        assert result.mask.shape == truth.shape == (384, 576)
        assert result.found and 0.5 < result.confidence <= 1.0
        scores = mask_metrics(result.mask, truth)
        assert scores["dice"] > 0.85, (path.name, scores)
        assert scores["box_iou"] > 0.75, (path.name, scores)


def test_result_fields_at_original_size(segmenter, example_paths):
    result = segmenter(example_paths[0])
    h, w = result.image.shape[:2]
    assert result.mask.dtype == bool and result.mask.shape == (h, w)
    assert result.probability.shape == (h, w) and 0 <= result.probability.min() <= result.probability.max() <= 1
    assert result.overlay.shape == (h, w, 3) and result.overlay.dtype == np.uint8
    x0, y0, x1, y1 = result.box
    cx0, cy0, cx1, cy1 = result.crop_box
    assert cx0 <= x0 < x1 <= cx1 <= w and cy0 <= y0 < y1 <= cy1 <= h
    assert np.array_equal(result.crop, result.image[cy0:cy1, cx0:cx1])  # the photo's own pixels
    assert 0.05 < result.area_fraction < 1
    summary = result.summary()
    assert summary["found"] and summary["box"] == list(result.box)


def test_masked_crop_blacks_out_the_outside(segmenter, example_paths):
    result = segmenter(example_paths[1], crop_mode="masked", margin=0.0)
    x0, y0, x1, y1 = result.crop_box
    outside = ~result.mask[y0:y1, x0:x1]
    assert outside.any() and not result.crop[outside].any()


def test_threshold_changes_the_mask(segmenter, example_paths):
    loose = segmenter(example_paths[2], threshold=0.2)
    strict = segmenter(example_paths[2], threshold=0.9)
    assert loose.mask.sum() > strict.mask.sum() > 0  # the edge moves, and both still find the cervix
    assert not (strict.mask & ~loose.mask).any()  # a stricter threshold only removes pixels


@pytest.mark.parametrize("size", [(577, 383), (100, 37), (1201, 799), (64, 64)])
def test_any_size_works(segmenter, example_paths, size):
    im = Image.open(example_paths[0]).resize(size)
    result = segmenter(im)
    assert result.mask.shape == (size[1], size[0])


def test_exif_rotated_photo_gives_the_rotated_answer(segmenter, example_paths):
    upright = np.asarray(Image.open(example_paths[0]))
    stored = np.ascontiguousarray(np.rot90(upright, 1))  # what a camera held sideways writes
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise to view
    result = segmenter(jpeg_bytes(stored, exif))
    reference = segmenter(jpeg_bytes(upright))
    assert result.mask.shape == reference.mask.shape == (384, 576)
    assert mask_metrics(result.mask, reference.mask)["dice"] > 0.97


def test_grayscale_rgba_and_16bit_photos(segmenter, example_paths):
    im = Image.open(example_paths[0])
    for variant in [
        im.convert("L"),
        im.convert("RGBA"),
        Image.fromarray(np.asarray(im.convert("L")).astype(np.uint16) * 257),
    ]:
        result = segmenter(variant)
        assert result.mask.shape == (384, 576)


def test_bad_input_raises_invalid_image(segmenter, example_paths):
    with pytest.raises(InvalidImageError):
        segmenter(b"not an image")
    with pytest.raises(InvalidImageError):
        segmenter(example_paths[0].read_bytes()[:5000])


class _NoCervix(CervixUNet):
    def forward(self, x):
        return torch.full_like(x[:, :1], -8.0)


def test_no_cervix_found_gives_no_crop():
    segmenter = Segmenter(TorchBackend(_NoCervix()), 128)
    result = segmenter(np.full((300, 400, 3), 128, np.uint8))
    assert not result.found and result.crop is None and result.box is None
    assert not result.mask.any() and result.confidence == 0.0


def test_blank_image_is_not_a_cervix(segmenter):
    result = segmenter(np.zeros((384, 576, 3), np.uint8))
    assert not result.found and result.crop is None


def test_options_are_checked():
    with pytest.raises(ValueError):
        SegmentOptions(threshold=1.5)
    with pytest.raises(ValueError):
        SegmentOptions(crop_mode="circle")
    with pytest.raises(ValueError, match="unknown backend"):
        Segmenter.from_pretrained(WEIGHTS, backend="tensorflow")


def test_large_jpeg_at_full_size_by_default_reduced_only_on_request(example_paths):
    big = Image.open(example_paths[0]).resize((4000, 2667))
    buf = io.BytesIO()
    big.save(buf, "JPEG", quality=90)
    segmenter = Segmenter.from_pretrained(WEIGHTS, backend="torch")
    full = segmenter(buf.getvalue())
    assert full.mask.shape == (2667, 4000) and full.image.shape == (2667, 4000, 3) and full.scale == 1.0
    assert full.overlay.shape == (2667, 4000, 3) and full.source.format == "JPEG"
    assert full.summary()["box_original"] == list(full.box)
    reduced = Segmenter(segmenter.backend, segmenter.size, max_side=1000)(buf.getvalue())
    assert reduced.mask.shape == (667, 1000)  # 1/4 scale keeps the long side >= 1000
    assert reduced.original_size == (4000, 2667) and reduced.scale == 4.0
    s = reduced.summary()
    assert s["original_width"] == 4000 and s["box_original"][2] <= 4000
    assert mask_metrics(cv2.resize(reduced.mask.astype(np.uint8), (4000, 2667)) > 0, full.mask)["dice"] > 0.97
