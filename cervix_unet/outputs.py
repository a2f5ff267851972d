"""One result's files: crop, mask and overlay, encoded in memory, written without metadata.

`cervix-unet predict` writes them to a folder; an app can put the same bytes in a ZIP. Formats
("auto", the default), chosen for what each file is for and measured on 4000x3000 photos:

- crop: for a JPEG photo, a lossless crop of the file itself in the DCT domain (the photo's
  own pixels, not re-encoded, no metadata; ``jpeg_crop``); PNG for every other input, for a
  masked crop, or where a lossless crop cannot be made (the reason is in ``crop_method``);
- mask: an 8-bit PNG, 0 or 255, run-length coded: as small and fast as a 1-bit one;
- overlay: a JPEG (quality 90), a picture for the eye: 10x faster and 10x smaller than a PNG.

``fmt="png"``: PNG everywhere (the crop then holds the decoded pixels, exactly ``result.crop``).
All images are at the photo's own (upright) size; boxes are in its pixels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .crop import Box, scale_box
from .jpeg_crop import LosslessCropError, lossless_crop
from .pipeline import SegmentationResult
from .render import mask_png, to_jpeg, to_png

OutputFormat = Literal["auto", "png"]
FORMATS = ("auto", "png")


@dataclass
class ResultFiles:
    """The encoded files of one result, by kind ("crop", "mask", "overlay")."""

    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # kind -> (extension, bytes)
    crop_box: Box | None = None  # the region the crop file holds, in the photo's pixels
    crop_method: str = ""  # how the crop file was made, for a summary

    def names(self, stem: str) -> dict[str, str]:
        """File names for each kind: ``{stem}_{kind}.{ext}``."""
        return {kind: f"{stem}_{kind}.{ext}" for kind, (ext, _) in self.files.items()}

    def write(self, folder: str | Path, stem: str) -> dict[str, str]:
        """Write every file into ``folder`` (each atomically: a file that exists is complete)
        and return their names by kind."""
        folder = Path(folder)
        names = self.names(stem)
        for kind, (_, data) in self.files.items():
            target = folder / names[kind]
            partial = target.with_name(target.name + ".partial")
            partial.write_bytes(data)
            os.replace(partial, target)
        return names


def encode_result(result: SegmentationResult, source: bytes | None = None, fmt: OutputFormat = "auto") -> ResultFiles:
    """Encode ``result``'s crop (when a cervix was found), mask and overlay.

    ``source``: the photo file's bytes, which a lossless JPEG crop is cut from (without them,
    or with ``fmt="png"``, the crop is a PNG of ``result.crop``).
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, not {fmt!r}")
    out = ResultFiles()
    if result.found:
        out.files["crop"], out.crop_box, out.crop_method = _crop_file(result, source, fmt)
    out.files["mask"] = ("png", mask_png(result.mask))
    out.files["overlay"] = ("jpg", to_jpeg(result.overlay)) if fmt == "auto" else ("png", to_png(result.overlay))
    return out


def _crop_file(
    result: SegmentationResult, source: bytes | None, fmt: OutputFormat
) -> tuple[tuple[str, bytes], Box, str]:
    """The crop file, the box it holds and how it was made. A PNG holds ``result.crop`` (box in
    ``result.image``'s pixels); a lossless crop holds the file's pixels (box in the photo's
    full-size pixels, the same unless ``Segmenter(max_side=...)`` decoded it reduced)."""
    info = result.source
    if fmt == "png":
        reason = "PNG (--format png)"
    elif source is None or info is None or info.jpeg is None:
        reason = "PNG"
    elif result.options.crop_mode == "masked":
        reason = "PNG (masked crop of the decoded pixels)"
    else:
        box = result.crop_box
        if result.scale != 1:
            box = scale_box(box, (result.image.shape[1], result.image.shape[0]), result.original_size)
        try:
            lossless = lossless_crop(source, info.jpeg, info.orientation, box)
        except LosslessCropError as err:
            reason = f"PNG (re-encoded: {err})"
        else:
            method = "lossless JPEG crop" + (", turned upright losslessly" if lossless.rotated else "")
            return ("jpg", lossless.data), lossless.box, method
    return ("png", to_png(result.crop)), result.crop_box, reason
