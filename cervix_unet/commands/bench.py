"""`cervix-unet bench`: time the network per backend and the pipeline per stage (``workshop.bench``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..workshop.bench import bench, markdown, write_report
from .common import add_weights


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_weights(parser, help="model folder")
    parser.add_argument("--examples", default="examples", help="folder of example JPEGs (the first is timed)")
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per measurement")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (slow to build)")
    parser.add_argument("--out", default="reports/bench")


def run(args: argparse.Namespace) -> int:
    report = bench(args.weights, sorted(Path(args.examples).glob("*.jpg")), args.repeat, args.warmup, args.compile)
    write_report(report, args.out)
    print(markdown(report))
    return 0
