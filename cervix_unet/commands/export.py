"""`cervix-unet export`: ONNX fp32 and int8 exports beside the weights, checked (``workshop.export``)."""

from __future__ import annotations

import argparse

from ..workshop.export import export
from .common import add_data, add_weights


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_weights(parser, help="folder with model.safetensors; the exports are written there")
    add_data(parser)
    parser.add_argument("--calibration", type=int, default=64, help="training-split photos to calibrate int8 on")
    parser.add_argument("--no-int8", action="store_true", help="write only the float32 export")


def run(args: argparse.Namespace) -> int:
    return 0 if export(args.weights, args.data, args.labels, args.calibration, int8=not args.no_int8) else 1
