"""Cervix labels as reviewable text: load, save (one image per line), validate, render masks.

A label file is JSON: ``{"source", "provenance", "labels": {key: label}}`` where ``key`` is
the image path under the data root (e.g. ``annocerv/images/C1Aceto_1.jpg``) and ``label`` is
``{"size": [W, H], "polygons": [[[x, y], ...], ...], "confidence", "annotator", "note",
"origin", "reviewed"}``. An empty ``polygons`` list means "no cervix visible". Several
polygons are a union (an instrument cut out between them). Masks are rendered from the
polygons by :func:`render_mask`, never edited by hand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

Label = dict[str, Any]
Polygon = list[list[int]]


def load_label_file(path: str | Path) -> dict[str, Any]:
    """Read one label file (with its ``source``/``provenance`` header)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def load_labels(label_dir: str | Path) -> dict[str, Label]:
    """All labels of every ``*.json`` label file in ``label_dir``, keyed by image path."""
    labels: dict[str, Label] = {}
    for path in sorted(Path(label_dir).glob("*.json")):
        doc = load_label_file(path)
        if "labels" not in doc:
            continue  # split.json and other side files
        for key, label in doc["labels"].items():
            if key in labels:
                raise ValueError(f"{key} is labelled twice ({path.name})")
            labels[key] = label
    return labels


def save_label_file(path: str | Path, header: dict[str, Any], labels: dict[str, Label]) -> None:
    """Write a label file with one image per line, keys sorted, so a diff shows one label."""
    lines = ["{"]
    for name, value in header.items():
        lines.append(f"  {json.dumps(name)}: {json.dumps(value, ensure_ascii=False)},")
    lines.append('  "labels": {')
    keys = sorted(labels)
    for i, key in enumerate(keys):
        comma = "," if i < len(keys) - 1 else ""
        lines.append(f"    {json.dumps(key)}: {json.dumps(labels[key], ensure_ascii=False)}{comma}")
    lines.append("  }")
    lines.append("}")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def validate_label(key: str, label: Label) -> list[str]:
    """Problems with one label (empty list when it is valid)."""
    problems = []
    size = label.get("size")
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
        return [f"{key}: bad size {size!r}"]
    width, height = size
    for i, poly in enumerate(label.get("polygons", [])):
        if len(poly) < 3:
            problems.append(f"{key}: polygon {i} has {len(poly)} points")
        for x, y in poly:
            if not (0 <= x <= width and 0 <= y <= height):
                problems.append(f"{key}: polygon {i} point ({x}, {y}) outside {width}x{height}")
        if len(poly) >= 3 and polygon_area(poly) <= 0:
            problems.append(f"{key}: polygon {i} has no area")
    if label.get("confidence") not in {"high", "medium", "low"}:
        problems.append(f"{key}: confidence {label.get('confidence')!r}")
    return problems


def polygon_area(poly: Polygon) -> float:
    """Absolute shoelace area of a polygon."""
    pts = np.asarray(poly, dtype=np.float64)
    x, y = pts[:, 0], pts[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def render_mask(polygons: list[Polygon], size: tuple[int, int], out_size: tuple[int, int] | None = None) -> np.ndarray:
    """Rasterise the union of ``polygons`` (in image pixels of ``size`` = (W, H)) to a bool mask.

    With ``out_size`` the polygons are scaled to that (W, H) first, so a label can be rendered
    directly at the network's resolution. Deterministic: PIL's polygon fill.
    """
    width, height = out_size or size
    sx, sy = width / size[0], height / size[1]
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for poly in polygons:
        draw.polygon([(x * sx, y * sy) for x, y in poly], fill=1, outline=1)
    return np.asarray(canvas, dtype=bool)


def label_mask(label: Label, out_size: tuple[int, int] | None = None) -> np.ndarray:
    """The bool mask of a label at its image size (or ``out_size``)."""
    return render_mask(label["polygons"], tuple(label["size"]), out_size)
