"""`cervix-unet crossval`: patient-wise k-fold cross-validation of a training recipe (``workshop.crossval``)."""

from __future__ import annotations

import argparse
import sys

from ..workshop.crossval import crossval
from .train import add_arguments as add_train_arguments
from .train import config_from


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_train_arguments(parser)
    parser.add_argument("--report", default="reports/crossval", help="folder for the cross-validation report")
    parser.set_defaults(out="runs/cv")


def run(args: argparse.Namespace) -> int:
    try:
        s = crossval(config_from(args), args.report)
    except ValueError as err:  # options that do not fit together, a fold's missing earlier step
        print(f"cervix-unet crossval: {err}", file=sys.stderr)
        return 2
    a = s["across_folds"]
    print(
        f"{s['folds']} folds, {s['images']} photos: Dice {a['dice']['mean']:.4f} +- {a['dice']['std']:.4f} "
        f"(worst fold {a['dice']['min']:.4f}), box IoU {a['box_iou']['mean']:.4f}; report in {args.report}"
    )
    return 0
