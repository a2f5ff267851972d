"""`cervix-unet evaluate`: score a model against the labels (``workshop.evaluate``)."""

from __future__ import annotations

import argparse

from ..pipeline import SegmentOptions
from ..workshop.evaluate import evaluate
from .common import add_backend, add_data, add_weights


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_weights(parser)
    add_data(parser)
    add_backend(parser)
    parser.add_argument("--split", default="val", help="val, train or all (the labelled images to score)")
    parser.add_argument("--threshold", type=float, default=SegmentOptions.threshold)
    parser.add_argument("--out", default="reports/evaluation", help="report folder")
    parser.add_argument("--worst", type=int, default=12, help="images on the worst-case sheet")
    parser.add_argument("--limit", type=int, default=0, help="score only the first N images (smoke tests)")


def run(args: argparse.Namespace) -> int:
    s = evaluate(
        args.weights, args.data, args.labels, args.split, args.out, args.backend, args.threshold, args.worst, args.limit
    )
    print(
        f"{s['images']} images ({args.split}): Dice mean {s['dice']['mean']:.4f} median {s['dice']['median']:.4f} "
        f"min {s['dice']['min']:.4f}; IoU mean {s['iou']['mean']:.4f}; box IoU mean {s['box_iou']['mean']:.4f}; "
        f"HD95 median {s['hd95']['median']:.1f} px; no-cervix accuracy {s['no_cervix_accuracy']:.3f}; "
        f"report in {args.out}"
    )
    return 0
