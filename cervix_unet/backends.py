"""Run the network on a batch: PyTorch (source of truth) or ONNX Runtime (an exported copy).

Each takes float32 NCHW RGB in [0, 1] as numpy and returns float32 logits as numpy.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np
import torch

from .model import CervixUNet


def default_threads() -> int:
    """One thread per available core."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def cpu_has_fast_bf16() -> bool:
    """Whether oneDNN runs bfloat16 natively here (AVX512-BF16 or AMX), where bf16 is ~2.5x
    faster than fp32; elsewhere it is emulated and slower."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


class TorchBackend:
    """PyTorch eager in inference mode, channels-last. ``bf16`` runs a bfloat16 copy of the
    weights (the fp32 model stays the source of truth; masks agree to Dice >= 0.999)."""

    name = "torch"

    def __init__(self, model: CervixUNet, bf16: bool = False) -> None:
        self.dtype = torch.bfloat16 if bf16 else torch.float32
        self.model = model.eval().to(memory_format=torch.channels_last)
        if bf16:
            self.model = copy.deepcopy(self.model).to(torch.bfloat16)
            self.name = "torch-bf16"

    @torch.inference_mode()
    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(batch).to(self.dtype).contiguous(memory_format=torch.channels_last)
        return self.model(x).float().numpy()


class OnnxBackend:
    """ONNX Runtime on the CPU, on a model written by ``cervix-unet export`` (float32, or
    8-bit: the ``precision`` in the file's metadata names the backend)."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        precision = self.session.get_modelmeta().custom_metadata_map.get("precision", "fp32")
        self.name = "onnxruntime-int8" if precision == "int8" else "onnxruntime"

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)})[0]
