"""`cervix-unet card`: the model card from the evaluation and benchmark reports (``workshop.model_card``)."""

from __future__ import annotations

import argparse

from ..workshop.model_card import write_card
from .common import LABELS, add_weights


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_weights(parser, help="model folder; the card is written there as README.md")
    parser.add_argument("--evaluation", default="reports/val/summary.json")
    parser.add_argument("--evaluation-int8", default="reports/val_int8/summary.json")
    parser.add_argument(
        "--bench",
        nargs="+",
        default=["reports/bench/bench.json", "reports/bench_xeon/bench.json"],
        help="benchmark reports, one per machine",
    )
    parser.add_argument("--training", default="reports/training.md", help="Markdown paragraph on the training run")
    parser.add_argument("--limits", default="reports/limits.md", help="Markdown on failure modes seen")
    parser.add_argument(
        "--crossval",
        nargs="+",
        default=["reports/crossval_phone/summary.json", "reports/crossval_all_stage2/summary.json"],
        help="crossval summaries of these weights' recipe (after the first, those missing are left out)",
    )
    parser.add_argument("--labels", default=LABELS)


def run(args: argparse.Namespace) -> int:
    path = write_card(
        args.weights,
        args.labels,
        args.evaluation,
        args.evaluation_int8,
        args.bench,
        args.training,
        args.limits,
        args.crossval,
    )
    print(f"wrote {path}")
    return 0
