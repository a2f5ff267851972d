"""`cervix-unet export`: write ``model.onnx`` beside the safetensors weights and check it.

The PyTorch model stays the source of truth; the ONNX copy is made from it and must give the
same logits within ``ATOL`` (checked here on random and real inputs, and in the tests).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from .backends import OnnxBackend, TorchBackend
from .model import CervixUNet
from .pipeline import ONNX_FILE, WEIGHTS_HASH_KEY, file_sha256

ATOL = 1e-3  # max abs difference of logits, ONNX Runtime vs PyTorch fp32


def export_onnx(model: CervixUNet, path: str | Path, weights_file: str | Path | None = None) -> Path:
    """Export with dynamic batch, height and width (multiples of 16), opset 17.

    With ``weights_file`` the SHA-256 of those safetensors is stored in the ONNX metadata, so
    that a stale export is never used for newer weights (see ``Segmenter.from_pretrained``).
    """
    import onnx

    model = model.eval()
    example = torch.rand(1, 3, model.input_size, model.input_size)
    torch.onnx.export(model, (example,), str(path), input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                                    "logits": {0: "batch", 2: "height", 3: "width"}},
                      opset_version=17, dynamo=False)
    proto = onnx.load(str(path))
    meta = {"input_size": str(model.input_size), "source": "cervix-unet export"}
    if weights_file:
        meta[WEIGHTS_HASH_KEY] = file_sha256(weights_file)
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.save(proto, str(path))
    return Path(path)


def max_difference(model: CervixUNet, onnx_path: str | Path, batches: list[np.ndarray]) -> float:
    """Largest absolute logit difference between ONNX Runtime and PyTorch over ``batches``."""
    reference, candidate = TorchBackend(model), OnnxBackend(onnx_path)
    return max(float(np.abs(reference(b) - candidate(b)).max()) for b in batches)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", default="weights", help="folder with model.safetensors; model.onnx is written there")


def run(args: argparse.Namespace) -> int:
    model = CervixUNet.from_pretrained(args.weights)
    path = export_onnx(model, Path(args.weights) / ONNX_FILE, Path(args.weights) / "model.safetensors")
    rng = np.random.default_rng(0)
    s = model.input_size
    diff = max_difference(model, path, [rng.random((1, 3, s, s), np.float32), rng.random((2, 3, 2 * s, s), np.float32)])
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB); max |logit difference| vs PyTorch {diff:.2e} (tolerance {ATOL})")
    return 0 if diff <= ATOL else 1
