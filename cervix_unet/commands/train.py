"""`cervix-unet train`: train CervixUNet on the project's labels (``workshop.train``)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from ..workshop.train import TrainConfig, train


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for field in fields(TrainConfig):  # one option per config value, same default
        flag = "--" + field.name.replace("_", "-")
        if field.type in ("bool", bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=field.default)
        else:
            parser.add_argument(flag, type=type(field.default), default=field.default)


def config_from(args: argparse.Namespace) -> TrainConfig:
    """The training config the options describe."""
    return TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})


def run(args: argparse.Namespace) -> int:
    try:
        train(config_from(args))
    except ValueError as err:  # options that do not fit together, a missing earlier step
        print(f"cervix-unet train: {err}", file=sys.stderr)
        return 2
    return 0
