"""The public inference call: photo in, cervix mask, box, crop and overlay out.

    from cervix_unet import Segmenter
    segmenter = Segmenter.from_pretrained("weights")   # load once
    result = segmenter("photo.jpg")                      # path, bytes, PIL image or RGB array
    if result.found:
        Image.fromarray(result.crop).save("cervix.png")

Data flow, one function each: bytes -> image (EXIF, mode) -> resized tensor -> logits ->
probability -> cleaned probability (threshold, largest component, holes) -> mask at the
photo's size -> box -> crop / overlay.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from .backends import Backend, load_backend
from .crop import Box, crop_image, expand_box, mask_box, scale_box
from .image_io import MAX_PIXELS, ImageInfo, ImageInput, read_image
from .postprocess import clean_mask, clean_probability
from .preprocess import resize_rgb, to_batch
from .quality import CHECK_FLAGS, RELIABILITY_MIN, flip_agreement, quality_flags, quality_measures
from .render import overlay

# Outputs are at the photo's full size by default. Reduced-scale JPEG decoding (max_side) is
# opt-in: measured on a 4000x3000 JPEG it no longer pays once the full-size pixels are decoded
# for the outputs anyway (an extra 15 ms decode against 5 ms to shrink the full image).
DEFAULT_MAX_SIDE: int | None = None


@dataclass(frozen=True)
class SegmentOptions:
    """How a probability map becomes a mask and a crop."""

    threshold: float = 0.5  # probability above which a pixel is cervix
    margin: float = 0.05  # crop margin around the cervix box, as a fraction of its size
    crop_mode: Literal["box", "masked"] = "box"  # "masked" blacks out what lies outside the mask
    min_area_fraction: float = 0.02  # smaller detections count as "no cervix found"
    # mask from the mean of the photo's and the mirrored photo's maps (the mirrored map is computed
    # for the reliability anyway); chosen by cross-validation (scripts/postprocess_cv.py)
    flip_average: bool = True
    # a second look: the network runs again on the first outline's box grown by this fraction of
    # its size on every side (squashed to the working size, as a whole photo is) and that map
    # delimits the mask, so a cervix small in a wide frame is outlined at a finer scale; None: one
    # look. Chosen by cross-validation (scripts/postprocess_cv.py, reports/experiments.md row 6).
    zoom_margin: float | None = 0.25

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must lie in (0, 1), not {self.threshold}")
        if not 0.0 <= self.margin <= 1.0:
            raise ValueError(f"margin must lie in [0, 1], not {self.margin}")
        if self.crop_mode not in ("box", "masked"):
            raise ValueError(f"crop_mode must be 'box' or 'masked', not {self.crop_mode!r}")
        if self.zoom_margin is not None and not 0.0 <= self.zoom_margin <= 2.0:
            raise ValueError(f"zoom_margin must be None or lie in [0, 2], not {self.zoom_margin}")


def mask_scores(probability: np.ndarray, flipped: np.ndarray | None, options: SegmentOptions) -> np.ndarray:
    """The map the mask is drawn from: the photo's map, or with ``options.flip_average`` (and the
    mirrored photo's map at hand) the mean of the two."""
    if options.flip_average and flipped is not None:
        return (probability + flipped) * np.float32(0.5)
    return probability


def upsample_mask(cleaned: np.ndarray, size: tuple[int, int], threshold: float) -> np.ndarray:
    """The mask a cleaned working-size map (``clean_probability``) gives at ``size`` (W, H)."""
    # upsample in 8 bits (SIMD-fast in OpenCV; a 1/255 step is far below the labels' noise)
    cleaned_u8 = (cleaned * 255 + 0.5).astype(np.uint8)
    return cv2.resize(cleaned_u8, size, interpolation=cv2.INTER_LINEAR) > round(threshold * 255)


def look_scores(
    probability: np.ndarray, flipped: np.ndarray | None, scores: np.ndarray, outline_mask: np.ndarray, threshold: float
) -> tuple[float, float]:
    """One look's confidence (the mean of ``scores`` inside its working-size outline) and reliability:
    the confidence times the agreement of the photo's and the mirrored photo's own outlines
    (``quality.flip_agreement``; 1 without the mirrored map)."""
    confidence = float(scores[outline_mask].mean()) if outline_mask.any() else 0.0
    own = clean_mask(probability, threshold) if scores is not probability else outline_mask
    return confidence, confidence * (1.0 if flipped is None else flip_agreement(own, clean_mask(flipped, threshold)))


@dataclass
class SegmentationResult:
    """What the pipeline found in one photo. Arrays are at the photo's own (upright) size."""

    image: np.ndarray  # HxWx3 uint8 RGB, EXIF orientation applied
    mask: np.ndarray  # HxW bool: the cervix (empty when not found)
    box: Box | None  # tight box of the mask (x0, y0, x1, y1), None when not found
    crop_box: Box | None  # the box with the margin, the region of ``crop``
    crop: np.ndarray | None  # the cropped cervix, None when not found
    confidence: float  # mean network probability inside the first look's outline (0 when not found)
    found: bool  # False means "no cervix found": no crop is offered
    options: SegmentOptions
    original_size: tuple[int, int]  # (W, H) of the upright photo; larger than ``image`` after a reduced decode
    working_probability: np.ndarray = field(repr=False)  # the network's map at its working size
    timings: dict[str, float] = field(default_factory=dict, repr=False)  # seconds per stage
    # confidence x agreement with the mirrored photo's outline (look_scores); with a second look,
    # the geometric mean of both looks' (chosen by cross-validation: reports/experiments.md row 6)
    reliability: float = 0.0
    flags: list[str] = field(default_factory=list)  # photo quality problems (quality.FLAG_TEXT)
    quality: dict[str, float] = field(default_factory=dict, repr=False)  # the measures behind the flags
    flipped_probability: np.ndarray | None = field(default=None, repr=False)  # the map of the mirrored photo
    zoom_box: Box | None = None  # the region of the second look (``SegmentOptions.zoom_margin``), if any
    zoom_maps: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)  # its two maps (network_maps)

    @property
    def check(self) -> bool:
        """Whether a person should check this result: a cervix was found but the reliability is
        low, or the photo has a quality problem that goes with failures (``quality.CHECK_FLAGS``)."""
        return bool(self.found and (self.reliability < RELIABILITY_MIN or set(self.flags) & set(CHECK_FLAGS)))

    source: ImageInfo | None = field(default=None, repr=False)  # format, EXIF orientation, frames, notes

    @property
    def scale(self) -> float:
        """Original photo pixels per pixel of ``image`` (1.0 unless decoded reduced)."""
        return self.original_size[0] / self.image.shape[1]

    @property
    def area_fraction(self) -> float:
        """Fraction of the photo covered by the mask."""
        return float(self.mask.mean())

    @cached_property
    def probability(self) -> np.ndarray:
        """The probability map the mask was drawn from (with ``flip_average``, the mean of the
        photo's and the mirrored photo's; inside ``zoom_box``, the second look's, also in the rare case
        where its outline was too small and the first look's mask stands), upsampled to the photo's
        size (float32, HxW)."""
        h, w = self.mask.shape
        scores = mask_scores(self.working_probability, self.flipped_probability, self.options)
        full = cv2.resize(scores, (w, h), interpolation=cv2.INTER_LINEAR)
        if self.zoom_box is not None and self.zoom_maps is not None:
            x0, y0, x1, y1 = self.zoom_box
            zoom_scores = mask_scores(*self.zoom_maps, self.options)
            full[y0:y1, x0:x1] = cv2.resize(zoom_scores, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        return full

    @cached_property
    def overlay(self) -> np.ndarray:
        """The photo with the mask tinted and outlined (RGB uint8)."""
        return overlay(self.image, self.mask)

    def summary(self) -> dict:
        """JSON-ready numbers (no image data)."""
        h, w = self.mask.shape
        box_original = scale_box(self.box, (w, h), self.original_size) if self.box else None
        return {
            "width": w,
            "height": h,
            "original_width": self.original_size[0],
            "original_height": self.original_size[1],
            "found": self.found,
            "confidence": round(self.confidence, 4),
            "area_fraction": round(self.area_fraction, 4),
            "box": list(self.box) if self.box else None,
            "crop_box": list(self.crop_box) if self.crop_box else None,
            "box_original": list(box_original) if box_original else None,
            "reliability": round(self.reliability, 4),
            "check": self.check,
            "flags": list(self.flags),
        }


class Segmenter:
    """The model loaded once, and the pipeline around it. Call it on each photo.

    ``backend`` runs the network (see ``backends``: "auto" picks the fastest correct one for
    this CPU and install); ``input_size`` is the square working size it was trained at.

    ``max_side`` (default ``None``: the photo's full size, which every output then has): a JPEG
    whose long side is at least twice this is decoded at a reduced scale (1/2, 1/4, 1/8) inside
    the decoder, keeping at least ``max_side`` pixels; all outputs are then at that decoded
    size (``result.scale`` maps them back).
    """

    def __init__(
        self,
        backend: Backend,
        input_size: int,
        options: SegmentOptions | None = None,
        max_pixels: int = MAX_PIXELS,
        max_side: int | None = DEFAULT_MAX_SIDE,
    ) -> None:
        self.backend = backend
        self.size = int(input_size)
        self.options = options or SegmentOptions()
        self.max_pixels = max_pixels
        self.max_side = max_side  # None: work at the photo's full size; else JPEGs may decode reduced

    @classmethod
    def from_pretrained(cls, weights: str | Path = "weights", backend: str = "auto", **kwargs) -> Segmenter:
        """Load a model folder or Hub id with ``backends.load_backend`` (for a Hub id only the
        files that will be used are fetched) and wrap it."""
        runner, input_size = load_backend(weights, backend)
        return cls(runner, input_size, **kwargs)

    def run_network(self, small: np.ndarray) -> np.ndarray:
        """The network's cervix probability for an RGB uint8 image already at the working size."""
        logits = self.backend(to_batch(small))[0, 0]
        return 1.0 / (1.0 + np.exp(-logits, dtype=np.float32))

    def network_maps(self, small: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The probability map of ``small`` and, for the reliability, that of the mirrored photo
        mirrored back: what :meth:`postprocess` takes as ``probability`` and ``flipped``."""
        return self.run_network(small), self.run_network(small[:, ::-1])[:, ::-1]

    def zoom_maps(self, image: np.ndarray, box: Box) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`network_maps` of the part of ``image`` inside ``box``, squashed to the working size."""
        x0, y0, x1, y1 = box
        return self.network_maps(resize_rgb(image[y0:y1, x0:x1], self.size))

    def __call__(self, source: ImageInput, options: SegmentOptions | None = None, **overrides) -> SegmentationResult:
        """Segment one photo. ``overrides`` replace single fields of the options
        (``threshold=0.6, crop_mode="masked"``). Raises ``InvalidImageError`` for bad input.
        ``result.timings`` holds the seconds each stage took."""
        opts = replace(options or self.options, **overrides)
        lap = _Stopwatch()
        decoded = read_image(source, self.max_pixels, self.max_side)
        lap("decode")
        small = resize_rgb(decoded.pixels, self.size)
        lap("resize")
        probability, flipped = self.network_maps(small)
        lap("network")
        return self.postprocess(
            decoded.pixels, probability, opts, decoded.info.size, lap, flipped, small, source=decoded.info
        )

    def postprocess(
        self,
        image: np.ndarray,
        probability: np.ndarray,
        options: SegmentOptions | None = None,
        original_size: tuple[int, int] | None = None,
        lap: _Stopwatch | None = None,
        flipped: np.ndarray | None = None,
        small: np.ndarray | None = None,
        source: ImageInfo | None = None,
        zoom: tuple[Box, tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> SegmentationResult:
        """Mask, box, crop, reliability and quality flags of ``image`` from the network's
        ``probability`` map (and ``flipped``, the mirrored photo's map, mirrored back; without it
        the reliability is the confidence alone). With ``zoom_margin`` the network runs once more
        (two passes, photo and mirror) on the region around the first outline; everything else is
        cheap, so an app can keep the maps and call this again when the user changes the threshold
        or margin; ``zoom`` (an earlier result's ``zoom_box`` and ``zoom_maps``) is reused when this
        call's second look has that region, so that the network runs only when the region moves.
        ``source`` (what :func:`image_io.read_image` said about the file) is kept in the result."""
        opts = options or self.options
        lap = lap or _Stopwatch()
        scores = mask_scores(probability, flipped, opts)
        h, w = image.shape[:2]
        cleaned = clean_probability(scores, opts.threshold)
        lap("postprocess")
        mask = upsample_mask(cleaned, (w, h), opts.threshold)
        found = bool(np.count_nonzero(mask) >= opts.min_area_fraction * mask.size)
        lap("upsample")
        zoom_box = zoom_maps = zoom_reliability = None
        if found and opts.zoom_margin is not None:
            zoom_box = expand_box(mask_box(mask), opts.zoom_margin, (w, h))
        if zoom_box == (0, 0, w, h):  # the second look would see the first one's input again
            zoom_box = None
        if zoom_box is not None:
            zoom_maps = zoom[1] if zoom is not None and tuple(zoom[0]) == zoom_box else self.zoom_maps(image, zoom_box)
            x0, y0, x1, y1 = zoom_box
            zoom_scores = mask_scores(*zoom_maps, opts)
            zoom_cleaned = clean_probability(zoom_scores, opts.threshold)
            zoom_mask = upsample_mask(zoom_cleaned, (x1 - x0, y1 - y0), opts.threshold)
            _, zoom_reliability = look_scores(*zoom_maps, zoom_scores, zoom_cleaned > opts.threshold, opts.threshold)
            if np.count_nonzero(zoom_mask) >= opts.min_area_fraction * mask.size:  # else the first look stands
                mask = np.zeros_like(mask)
                mask[y0:y1, x0:x1] = zoom_mask
            lap("zoom")
        if not found:
            mask[:] = False
        box = mask_box(mask) if found else None
        crop_box = expand_box(box, opts.margin, (w, h)) if box else None
        cropped = None
        if crop_box:
            x0, y0, x1, y1 = crop_box
            cropped = crop_image(image, crop_box, mask[y0:y1, x0:x1] if opts.crop_mode == "masked" else None)
        # the confidence and the quality flags judge the first look, at the whole photo's scale
        working_mask = cleaned > opts.threshold
        confidence, reliability = (
            look_scores(probability, flipped, scores, working_mask, opts.threshold) if found else (0.0, 0.0)
        )
        if zoom_reliability is not None:
            reliability = float(np.sqrt(reliability * zoom_reliability))
        measures = quality_measures(resize_rgb(image, self.size) if small is None else small, working_mask & found)
        lap("crop")
        return SegmentationResult(
            image=image,
            mask=mask,
            box=box,
            crop_box=crop_box,
            crop=cropped,
            confidence=confidence,
            found=found,
            options=opts,
            original_size=original_size or (w, h),
            working_probability=probability,
            timings=lap.laps,
            reliability=reliability,
            flags=quality_flags(measures, found),
            quality=measures,
            flipped_probability=flipped,
            zoom_box=zoom_box,
            zoom_maps=zoom_maps,
            source=source,
        )


class _Stopwatch:
    """Seconds between successive calls, by the name given at each call."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = now - self._last
        self._last = now
