"""Tools for labelling the cervix: import, coordinate grid, overlays, contact sheets, proposals."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .labels import Label, Polygon, save_label_file

PROVENANCE = (
    "Imported from ../shared/data/{source}/cervix_labels.json. Drawn by eye over a coordinate "
    "grid following ../shared/ANNOTATION.md, each outline looked at over its image and reviewed "
    "in contact sheets (annotator = the drawing pass). Corrections are listed in labels/CORRECTIONS.md."
)


def import_shared_labels(shared_data: str | Path, out_dir: str | Path) -> dict[str, int]:
    """Copy every ``<source>/cervix_labels.json`` under ``shared_data`` into ``out_dir/<source>.json``.

    Adds ``origin`` ("drawn") and ``reviewed`` to each label and a provenance header. Returns
    the number of labels per source.
    """
    counts = {}
    for path in sorted(Path(shared_data).glob("*/cervix_labels.json")):
        source = path.parent.name
        labels = json.loads(path.read_text(encoding="utf-8"))
        for label in labels.values():
            label.setdefault("origin", "drawn")
            label.setdefault("reviewed", True)
        header = {"source": source, "provenance": PROVENANCE.format(source=source)}
        save_label_file(Path(out_dir) / f"{source}.json", header, labels)
        counts[source] = len(labels)
    return counts


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def grid_view(image: Image.Image, step: int = 50) -> Image.Image:
    """The image with a labelled pixel grid every ``step`` pixels, to read coordinates off."""
    out = image.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    font = _font(max(10, step // 4))
    for x in range(0, out.width, step):
        draw.line([(x, 0), (x, out.height)], fill=(0, 255, 255), width=1)
        draw.text((x + 2, 2), str(x), fill=(255, 255, 0), font=font)
    for y in range(0, out.height, step):
        draw.line([(0, y), (out.width, y)], fill=(0, 255, 255), width=1)
        draw.text((2, y + 2), str(y), fill=(255, 255, 0), font=font)
    return out


def draw_polygons(
    image: Image.Image, polygons: Sequence[Polygon], color: tuple[int, int, int] = (0, 255, 0), width: int = 3
) -> Image.Image:
    """The image with each polygon's outline drawn over it."""
    out = image.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    for poly in polygons:
        pts = [tuple(p) for p in poly]
        draw.line(pts + [pts[0]], fill=color, width=width, joint="curve")
    return out


def contact_sheet(items: Sequence[tuple[Image.Image, str]], columns: int = 6, thumb_width: int = 320) -> Image.Image:
    """Thumbnails with captions on one page, so that outliers stand out."""
    thumbs = []
    for image, caption in items:
        scale = thumb_width / image.width
        thumbs.append((image.convert("RGB").resize((thumb_width, round(image.height * scale))), caption))
    cell_h = max(t.height for t, _ in thumbs) + 28
    rows = (len(thumbs) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * thumb_width, rows * cell_h), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    font = _font(13)
    for i, (thumb, caption) in enumerate(thumbs):
        x, y = (i % columns) * thumb_width, (i // columns) * cell_h
        sheet.paste(thumb, (x, y))
        draw.text((x + 3, y + thumb.height + 3), caption[:48], fill=(230, 230, 230), font=font)
    return sheet


def mask_to_polygons(mask: np.ndarray, max_points: int = 40, min_area_fraction: float = 0.01) -> list[Polygon]:
    """Turn a bool mask into simplified outer polygons (a proposal a person then reviews)."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    polygons = []
    min_area = min_area_fraction * mask.size
    for contour in sorted(contours, key=cv2.contourArea, reverse=True):
        if cv2.contourArea(contour) < min_area:
            continue
        epsilon = 0.002 * cv2.arcLength(contour, True)
        approx = cv2.approxPolyDP(contour, epsilon, True)
        while len(approx) > max_points:
            epsilon *= 1.3
            approx = cv2.approxPolyDP(contour, epsilon, True)
        polygons.append([[int(x), int(y)] for x, y in approx[:, 0, :]])
    return polygons


def label_caption(key: str, label: Label) -> str:
    """Short caption for a contact-sheet cell."""
    name = key.split("/", 2)[-1].replace("images/", "")
    return f"{label.get('confidence', '?')[0].upper()} {name}"
