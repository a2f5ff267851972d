"""`cervix-unet export`: write ``model.onnx`` and ``model.int8.onnx`` beside the safetensors
weights, and check both against PyTorch.

The PyTorch model stays the source of truth. ``model.onnx`` is a float32 copy that must give
the same logits within ``ATOL``. ``model.int8.onnx`` is that copy quantised to 8 bits (static,
calibrated on training-split photos, never on validation ones): ~1.6x faster than float32 on
CPUs without native bfloat16, and accepted only if its masks agree with PyTorch float32 on the
validation photos at a mean Dice of at least ``INT8_MEAN_DICE`` (and ``INT8_MIN_DICE`` for each).
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..backends import OnnxBackend, TorchBackend
from ..image_io import decode_image
from ..model import CervixUNet
from ..pipeline import Segmenter
from ..preprocess import resize_rgb, to_batch
from ..weights import INT8_ONNX_FILE, ONNX_FILE, SAFETENSORS_FILE, WEIGHTS_HASH_KEY, file_sha256
from .labels import load_labels
from .metrics import DiceScore
from .split import select_keys

ATOL = 1e-3  # max abs difference of logits, ONNX Runtime fp32 vs PyTorch fp32
INT8_MEAN_DICE = 0.99  # int8 vs PyTorch fp32 masks at the network's size, mean over validation photos
INT8_MIN_DICE = 0.95  # ... and for every single photo: below any two annotators' agreement (0.96-0.97).
# Phone photos where float32 itself hesitates (|logit| < 0.5 over hundreds of pixels) reach ~0.966.


def export_onnx(model: CervixUNet, path: str | Path, weights_file: str | Path | None = None) -> Path:
    """Export with dynamic batch, height and width (multiples of 16), opset 17.

    With ``weights_file`` the SHA-256 of those safetensors is stored in the ONNX metadata, so
    that a stale export is never used for newer weights (see ``Segmenter.from_pretrained``).
    """
    model = model.eval()
    example = torch.rand(1, 3, model.input_size, model.input_size)
    torch.onnx.export(
        model,
        (example,),
        str(path),
        input_names=["image"],
        output_names=["logits"],
        dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"}, "logits": {0: "batch", 2: "height", 3: "width"}},
        opset_version=17,
        dynamo=False,
    )
    _add_metadata(
        path, {"input_size": str(model.input_size), "source": "cervix-unet export", "precision": "fp32"}, weights_file
    )
    return Path(path)


def quantize_int8(
    onnx_path: str | Path, out_path: str | Path, calibration: list[np.ndarray], weights_file: str | Path | None = None
) -> Path:
    """Static 8-bit quantisation of an fp32 export: per-channel int8 weights, uint8 activations
    with ranges from ``calibration`` batches (min-max), QLinearConv operators.

    ``reduce_range`` keeps weights to 7 bits: x86 CPUs without VNNI multiply u8 x s8 pairs into a
    saturating 16-bit sum (VPMADDUBSW), which with full-range weights cost masks up to 0.12 Dice
    (measured); with 7 bits the masks agree with fp32 at a mean Dice of ~0.997 at the same speed.
    The 1x1 head (the last convolution) stays float32: its output is the logit whose sign is the
    mask, and 8-bit steps there moved the outline on hesitant photos (worst photo 0.94 -> 0.966).
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(calibration)

        def get_next(self) -> dict | None:
            batch = next(self.batches, None)
            return None if batch is None else {"image": batch}

    onnx_path, out_path = Path(onnx_path).resolve(), Path(out_path).resolve()
    head = [node.name for node in onnx.load(str(onnx_path)).graph.node if node.op_type == "Conv"][-1]
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):  # its scratch files land in tmp
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(onnx_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(out_path),
            Reader(),
            quant_format=QuantFormat.QOperator,
            per_channel=True,
            reduce_range=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=[head],
        )
    _add_metadata(
        out_path,
        {
            "source": "cervix-unet export (static int8 quantisation)",
            "precision": "int8",
            "calibration": f"{len(calibration)} training-split photos, min-max; head {head} kept float32",
        },
        weights_file,
    )
    return Path(out_path)


def _add_metadata(path: str | Path, meta: dict[str, str], weights_file: str | Path | None) -> None:
    import onnx

    proto = onnx.load(str(path))
    if weights_file:
        meta = {**meta, WEIGHTS_HASH_KEY: file_sha256(weights_file)}
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key not in meta]  # the quantiser copies fp32's
    del proto.metadata_props[:]
    for key, value in [*kept, *meta.items()]:
        proto.metadata_props.add(key=key, value=value)
    onnx.save(proto, str(path))


def photo_batches(paths: list[Path], size: int) -> list[np.ndarray]:
    """Photos as network input batches (whole frame resized to ``size``, as the pipeline does)."""
    batches = []
    for path in tqdm(paths, desc="reading photos", unit="photo", leave=False):
        image, _ = decode_image(path, max_side=None)  # as the pipeline decodes it
        batches.append(to_batch(resize_rgb(image, size)))
    return batches


def split_photos(
    data_root: str | Path, labels_dir: str | Path, split: str, count: int = 0, source: str = ""
) -> list[Path]:
    """Up to ``count`` labelled photos of one split (all with 0), spread evenly over the sorted keys;
    with ``source`` (e.g. "mobileodt"), of that source only."""
    keys = [
        k
        for k in select_keys(load_labels(labels_dir), labels_dir, split)
        if k.startswith(f"{source}/" if source else "")
    ]
    if count and count < len(keys):
        keys = [keys[i] for i in np.linspace(0, len(keys) - 1, count).round().astype(int)]
    return [Path(data_root) / k for k in keys]


def max_difference(model: CervixUNet, onnx_path: str | Path, batches: list[np.ndarray]) -> float:
    """Largest absolute logit difference between ONNX Runtime and PyTorch over ``batches``."""
    reference, candidate = TorchBackend(model), OnnxBackend(onnx_path)
    return max(float(np.abs(reference(b) - candidate(b)).max()) for b in batches)


def mask_agreement(model: CervixUNet, onnx_path: str | Path, batches: list[np.ndarray]) -> np.ndarray:
    """Dice between PyTorch fp32 and ONNX masks (logit > 0) at the network's size, per batch."""
    reference, candidate = TorchBackend(model), OnnxBackend(onnx_path)
    score = DiceScore()
    for batch in batches:
        score.add(candidate(batch)[:, 0] > 0, reference(batch)[:, 0] > 0)
    return score.values()


def pipeline_agreement(weights: str | Path, paths: list[Path]) -> np.ndarray:
    """Dice between the whole pipeline's masks with PyTorch fp32 and with the int8 export, per photo:
    mirror average, second look and the photo's full size included, as a user of either gets them."""
    reference = Segmenter.from_pretrained(weights, backend="torch", max_side=None)
    candidate = Segmenter.from_pretrained(weights, backend="onnx-int8", max_side=None)
    score = DiceScore()
    for path in tqdm(paths, desc="pipeline, int8 vs fp32", unit="photo", leave=False):
        data = Path(path).read_bytes()
        score.add(candidate(data).mask, reference(data).mask)
    return score.values()


def export(weights: str | Path, data: str | Path, labels: str | Path, calibration: int = 64, int8: bool = True) -> bool:
    """Write ``model.onnx`` (and ``model.int8.onnx``) beside the weights, check them against
    PyTorch and print what was found; an int8 file outside tolerance is removed. True if all pass."""
    weights = Path(weights)
    model = CervixUNet.from_pretrained(weights)
    path = export_onnx(model, weights / ONNX_FILE, weights / SAFETENSORS_FILE)
    rng = np.random.default_rng(0)
    s = model.input_size
    diff = max_difference(model, path, [rng.random((1, 3, s, s), np.float32), rng.random((2, 3, 2 * s, s), np.float32)])
    print(
        f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB); max |logit difference| vs PyTorch {diff:.2e} (tolerance {ATOL})"
    )
    ok = diff <= ATOL
    if not int8:
        return ok
    batches = photo_batches(split_photos(data, labels, "train", calibration), s)
    int8_path = quantize_int8(path, weights / INT8_ONNX_FILE, batches, weights / SAFETENSORS_FILE)
    val_photos = split_photos(data, labels, "val")
    dice = mask_agreement(model, int8_path, photo_batches(val_photos, s))
    int8_ok = dice.mean() >= INT8_MEAN_DICE and dice.min() >= INT8_MIN_DICE
    print(
        f"wrote {int8_path} ({int8_path.stat().st_size / 1e6:.1f} MB); masks vs PyTorch fp32 on {len(dice)} validation photos: "
        f"Dice mean {dice.mean():.4f}, min {dice.min():.4f} (tolerance mean >= {INT8_MEAN_DICE}, min >= {INT8_MIN_DICE})"
    )
    if not int8_ok:
        int8_path.unlink()
        print(f"removed {int8_path}: outside tolerance")
    else:  # the kept file records its own check (the model card quotes it)
        whole = pipeline_agreement(weights, val_photos)
        print(
            f"whole pipeline (mirror average, second look, full size), int8 vs fp32: Dice mean {whole.mean():.4f}, min {whole.min():.4f}"
        )
        agreement = (
            f"masks vs PyTorch fp32 at {s}x{s} on {len(dice)} validation photos: Dice mean {dice.mean():.4f}, "
            f"min {dice.min():.4f}; the whole pipeline's masks (mirror average, second look, full size): "
            f"Dice mean {whole.mean():.4f}, min {whole.min():.4f}"
        )
        _add_metadata(int8_path, {"agreement": agreement}, weights / SAFETENSORS_FILE)
    return ok and int8_ok
