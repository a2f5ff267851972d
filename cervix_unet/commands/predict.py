"""`cervix-unet predict INPUT... --out DIR`: crop, mask and overlay for every photo, plus a summary."""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from tqdm import tqdm

from ..errors import InvalidImageError
from ..pipeline import DEFAULT_MAX_SIDE, Segmenter, SegmentOptions
from ..render import to_png
from .common import add_backend, add_weights

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", help="image files or folders (searched recursively)")
    parser.add_argument("--out", required=True, help="output folder")
    add_weights(parser)
    add_backend(parser)
    parser.add_argument("--threshold", type=float, default=SegmentOptions.threshold)
    parser.add_argument("--margin", type=float, default=SegmentOptions.margin)
    parser.add_argument("--crop-mode", default=SegmentOptions.crop_mode, choices=["box", "masked"])
    parser.add_argument("--max-side", type=int, default=DEFAULT_MAX_SIDE,
                        help="decode large JPEGs at reduced scale keeping at least this long side (0: full size)")


def find_images(inputs: list[str]) -> list[Path]:
    """Files named on the command line, and image files found under named folders."""
    found = []
    for item in map(Path, inputs):
        if item.is_dir():
            found += sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        else:
            found.append(item)
    return found


def output_stem(path: Path, roots: list[Path]) -> str:
    """A unique, readable output name: the path below its input folder, '/' replaced by '__'."""
    for root in roots:
        if root.is_dir() and path.is_relative_to(root):
            return "__".join(path.relative_to(root).with_suffix("").parts)
    return path.stem


def run(args: argparse.Namespace) -> int:
    images = find_images(args.inputs)
    if not images:
        print("no images found in the inputs", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    options = SegmentOptions(threshold=args.threshold, margin=args.margin, crop_mode=args.crop_mode)
    segmenter = Segmenter.from_pretrained(args.weights, backend=args.backend, options=options,
                                          max_side=args.max_side or None)
    roots = [Path(p) for p in args.inputs]
    rows, failures = [], 0
    for path in tqdm(images, desc="segmenting", unit="image"):
        stem = output_stem(path, roots)
        row = {"input": str(path), "name": stem, "error": ""}
        try:
            result = segmenter(path)
        except InvalidImageError as err:
            failures += 1
            row["error"] = str(err)
            rows.append(row)
            continue
        row.update(result.summary())
        (out / f"{stem}_mask.png").write_bytes(to_png(result.mask))
        (out / f"{stem}_overlay.png").write_bytes(to_png(result.overlay))
        if result.found:
            (out / f"{stem}_crop.png").write_bytes(to_png(result.crop))
        rows.append(row)
    (out / "summary.json").write_text(json.dumps(rows, indent=1) + "\n")
    fields = ["input", "name", "found", "confidence", "area_fraction", "box", "crop_box", "width", "height", "error"]
    with open(out / "summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: " ".join(map(str, v)) if isinstance(v, list) else v for k, v in row.items()})
    print(f"{len(rows) - failures} segmented, {failures} unreadable (backend {segmenter.backend.name}); results in {out}")
    return 1 if failures == len(rows) else 0
