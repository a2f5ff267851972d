"""The whole pipeline with the shipped model on real photographs and on synthetic inputs."""

import io

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from cervix_unet import CervixUNet, InvalidImageError, Segmenter, SegmentOptions
from cervix_unet.backends import TorchBackend
from cervix_unet.crop import expand_box
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


def test_a_cervix_small_in_the_frame_gets_a_second_look(segmenter, example_paths, labels):
    """A frame-filling photo shrunk into a wide dark surround (a phone view): the network looks again
    at the first outline's region, and the mask, drawn from that look, stays inside it."""
    wide = _in_wide_frame(np.asarray(Image.open(example_paths[0]).convert("RGB")), 12)
    wide_truth = _in_wide_frame(label_mask(labels[example_key(example_paths[0])]), False)
    one = segmenter(wide, zoom_margin=None)
    two = segmenter(wide)
    assert one.zoom_box is None and "zoom" not in one.timings
    assert two.zoom_box == expand_box(one.box, SegmentOptions().zoom_margin, (1440, 960)) and "zoom" in two.timings
    x0, y0, x1, y1 = two.zoom_box
    assert two.mask.any() and not two.mask[~_inside(two.mask.shape, two.zoom_box)].any()
    first, second = mask_metrics(one.mask, wide_truth), mask_metrics(two.mask, wide_truth)
    assert second["dice"] > max(0.9, first["dice"] + 0.03), (first["dice"], second["dice"])  # 0.879 -> 0.937
    assert two.confidence == one.confidence and two.flags == one.flags  # both judge the first look
    assert two.probability[y0:y1, x0:x1].max() > 0.5


def test_kept_second_look_maps_spare_the_network_until_the_region_moves(segmenter, example_paths, monkeypatch):
    wide = _in_wide_frame(np.asarray(Image.open(example_paths[0]).convert("RGB")), 12)
    first = segmenter(wide)
    runs = []
    original = segmenter.zoom_maps
    monkeypatch.setattr(segmenter, "zoom_maps", lambda *a: runs.append(a[1]) or original(*a))
    kept = first.zoom_box, first.zoom_maps
    again = segmenter.postprocess(wide, first.working_probability, flipped=first.flipped_probability, zoom=kept)
    assert runs == [] and np.array_equal(again.mask, first.mask) and again.reliability == first.reliability
    moved = segmenter.postprocess(
        wide, first.working_probability, SegmentOptions(zoom_margin=0.5), flipped=first.flipped_probability, zoom=kept
    )
    assert runs == [moved.zoom_box] != [first.zoom_box]  # another region: the network looked again


def test_a_frame_filling_cervix_needs_no_second_look(segmenter, example_paths):
    result = segmenter(example_paths[0])
    assert result.box is not None and expand_box(result.box, 0.25, (576, 384)) == (0, 0, 576, 384)
    assert result.zoom_box is None and result.zoom_maps is None
    assert np.array_equal(result.mask, segmenter(example_paths[0], zoom_margin=None).mask)


def _in_wide_frame(picture: np.ndarray, fill: int | bool) -> np.ndarray:
    """A 576x384 example (photo or mask) in the middle of a 1440x960 surround of ``fill``: 2.5 times
    its size, as a phone view with the cervix small in the frame."""
    wide = np.full((960, 1440, *picture.shape[2:]), fill, picture.dtype)
    wide[288:672, 432:1008] = picture
    return wide


def _inside(shape: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
    inside = np.zeros(shape, bool)
    x0, y0, x1, y1 = box
    inside[y0:y1, x0:x1] = True
    return inside


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
    with pytest.raises(ValueError):
        SegmentOptions(zoom_margin=-0.1)
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
