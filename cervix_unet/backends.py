"""What runs the network: PyTorch (the source of truth) or ONNX Runtime (an export), and the
one place where "auto" is decided.

Every backend takes float32 NCHW RGB in [0, 1] as numpy and returns float32 logits as numpy.
"auto" is the fastest correct path measured by ``cervix-unet bench``: bfloat16 PyTorch where
the CPU runs bfloat16 natively (AMX / AVX512-BF16: ~8 ms at 128x128 on a 2-core Xeon), else
the 8-bit ONNX export (~10-30 ms), else the float32 export, else PyTorch fp32. PyTorch is
optional: without it the ONNX exports run alone.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    import torch

from .weights import INT8_ONNX_FILE, ONNX_FILE, export_is_current, read_config, weights_folder

BACKENDS = ("auto", "torch", "torch-bf16", "onnx", "onnx-int8")  # the names callers may ask for
EXPORT_FILES = {"onnx": ONNX_FILE, "onnx-int8": INT8_ONNX_FILE}
NATIVE_BF16_FLAGS = {"amx_bf16", "avx512_bf16"}


class Backend(Protocol):
    name: str  # what ran the network, e.g. "onnxruntime-int8" or "torch-bf16"

    def __call__(self, batch: np.ndarray) -> np.ndarray: ...


def default_threads() -> int:
    """One thread per available core."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def torch_available() -> bool:
    """Whether PyTorch is installed (the runtime works without it, on the ONNX exports)."""
    return importlib.util.find_spec("torch") is not None


def cpu_has_fast_bf16() -> bool:
    """Whether the CPU computes bfloat16 natively (AMX or AVX512-BF16), where bf16 PyTorch is
    the fastest path. Read from the CPU flags, not from PyTorch: PyTorch also reports bf16 as
    supported on plain AVX512, where it is emulated (measured 13x slower than int8 ONNX on a
    2-core Xeon with AVX512-VNNI only)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:  # not Linux: do not guess
        return False
    return bool(NATIVE_BF16_FLAGS & set(flags))


def auto_order() -> list[str]:
    """The backends "auto" tries, best first, on this machine and install."""
    has_torch = torch_available()
    order = ["torch-bf16"] if has_torch and cpu_has_fast_bf16() else []
    return order + ["onnx-int8", "onnx"] + (["torch"] if has_torch else [])


class TorchBackend:
    """PyTorch eager in inference mode, channels-last. ``bf16`` runs a bfloat16 copy of the
    weights (the fp32 model stays the source of truth; masks agree to Dice >= 0.999)."""

    def __init__(self, model: torch.nn.Module, bf16: bool = False) -> None:
        import torch

        self._torch = torch
        self.dtype = torch.bfloat16 if bf16 else torch.float32
        self.model = model.eval().to(memory_format=torch.channels_last)
        if bf16:
            self.model = copy.deepcopy(self.model).to(torch.bfloat16)
        self.name = "torch-bf16" if bf16 else "torch"

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
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
        # no busy-waiting between calls: on 2 cores the spinning threads took the CPU from decoding
        # and encoding (predict's batch: -15% CPU per camera photo; reports/throughput/)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        self.name = "onnxruntime-int8" if self.metadata.get("precision") == "int8" else "onnxruntime"

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)})[0]


def load_backend(weights: str | Path = "weights", backend: str = "auto") -> tuple[Backend, int]:
    """The backend for a model folder or Hub id, and the model's working size.

    ``backend`` is one of ``BACKENDS``. An export is used only if made from these weights; "auto"
    skips missing or stale exports (a stale one with a warning) and falls through ``auto_order()``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    candidates = auto_order() if backend == "auto" else [backend]
    for name in candidates:
        if name in EXPORT_FILES:
            file = EXPORT_FILES[name]
            folder = weights_folder(weights, file)
            if not (folder / file).is_file():
                if backend == "auto":
                    continue
                raise FileNotFoundError(f"no {file} in {folder}; run `cervix-unet export --weights {folder}`")
            runner = OnnxBackend(folder / file)
            if not export_is_current(runner.metadata, folder):
                warnings.warn(
                    f"{folder / file} was not exported from these weights; ignoring it "
                    "(run `cervix-unet export` again)",
                    stacklevel=2,
                )
                if backend == "auto":
                    continue
                raise FileNotFoundError(
                    f"no {file} exported from the weights in {folder}; run `cervix-unet export --weights {folder}`"
                )
            return runner, int(read_config(folder)["input_size"])
        from .model import CervixUNet  # PyTorch: a clear ImportError when it is not installed

        model = CervixUNet.from_pretrained(weights)
        return TorchBackend(model, bf16=name == "torch-bf16"), int(model.input_size)
    raise FileNotFoundError(
        f"no usable ONNX export in {weights} and PyTorch is not installed: "
        "run `cervix-unet export`, or pip install 'cervix-unet[torch]'"
    )
