"""`cervix-unet labels ...`: import, check, grid, sheet, propose and report on cervix labels.

cervix-unet labels import --shared ../shared/data          # shared JSON -> labels/<source>.json
cervix-unet labels check                                   # every polygon valid, every image labelled
cervix-unet labels grid IMAGE --out grid.png               # coordinate grid to read a boundary off
cervix-unet labels sheet --out sheets/ [--confidence low]  # contact sheets of label overlays
cervix-unet labels propose IMAGE... --weights weights      # model outline as a polygon, to review
cervix-unet labels report --out labels/REPORT.md           # counts and sample sheet
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from PIL import Image

from ..workshop.label_report import check, propose, report, sheets
from ..workshop.label_tools import grid_view, import_shared_labels
from ..workshop.labels import load_labels
from .common import DATA, add_data, add_weights


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["import", "check", "grid", "sheet", "propose", "report"])
    parser.add_argument("images", nargs="*", help="images (grid, propose)")
    add_data(parser)
    add_weights(parser, help="propose: the model")
    parser.add_argument("--shared", default=DATA, help="where import finds <source>/cervix_labels.json")
    parser.add_argument("--out", default=None, help="output file or folder")
    parser.add_argument("--confidence", choices=["low", "medium", "high"], help="sheet: only this confidence")
    parser.add_argument("--per-sheet", type=int, default=30)
    parser.add_argument("--step", type=int, default=50, help="grid: pixels between grid lines")


def run(args: argparse.Namespace) -> int:
    if args.action == "import":
        print(import_shared_labels(args.shared, args.labels))
    elif args.action == "check":
        problems = check(args.labels, args.data)
        print("\n".join(problems) or f"all {len(load_labels(args.labels))} labels valid")
        return 1 if problems else 0
    elif args.action == "grid":
        for image in args.images:
            with Image.open(image) as im:
                out = Path(args.out or Path(image).stem + "_grid.png")
                grid_view(im, args.step).save(out)
                print(out)
    elif args.action == "sheet":
        for path in sheets(args.labels, args.data, Path(args.out or "sheets"), args.confidence, args.per_sheet):
            print(path)
    elif args.action == "propose":
        json.dump(propose(args.images, args.weights), sys.stdout, indent=1)
    elif args.action == "report":
        report(args.labels, args.data, Path(args.out or Path(args.labels) / "REPORT.md"))
    return 0
