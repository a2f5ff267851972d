"""Arguments several subcommands share, with one default each."""

from __future__ import annotations

import argparse

from ..backends import BACKENDS

WEIGHTS = "weights"  # the shipped model folder (or pass a Hub id)
DATA = "../shared/data"  # the development photos: label keys are paths below it
LABELS = "labels"  # the project's label files and split.json


def add_weights(parser: argparse.ArgumentParser, help: str = "model folder or Hub id") -> None:
    parser.add_argument("--weights", default=WEIGHTS, help=help)


def add_backend(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        default="auto",
        choices=BACKENDS,
        help="what runs the network (auto: the fastest correct one on this CPU)",
    )


def add_data(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default=DATA, help="folder the label keys are relative to")
    parser.add_argument("--labels", default=LABELS, help="folder of label files and split.json")
