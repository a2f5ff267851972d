"""The files of a trained model, and which of its exports may be used.

A model folder (or Hub repo) holds ``model.safetensors`` + ``config.json`` (the PyTorch
weights, the source of truth) and optionally ``model.onnx`` / ``model.int8.onnx`` (exports
written by ``cervix-unet export``). An export records the SHA-256 of the weights it was made
from, so that a stale export is never used for newer weights.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

SAFETENSORS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
ONNX_FILE = "model.onnx"  # float32 export
INT8_ONNX_FILE = "model.int8.onnx"  # its 8-bit quantisation
WEIGHTS_HASH_KEY = "weights_sha256"  # ONNX metadata key: the weights an export was made from


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_folder(weights: str | Path, *files: str) -> Path:
    """The local folder holding the model: ``weights`` itself, or for a Hub id its cached
    snapshot with the weights, the config and ``files`` (only what will be used is fetched).
    An unreachable Hub gives a warning and the id as a path, where no file is found."""
    if Path(weights).is_dir():
        return Path(weights)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(str(weights), allow_patterns=[SAFETENSORS_FILE, CONFIG_FILE, *files]))
    except Exception as err:  # offline, private, rate-limited: fall back, say why
        warnings.warn(f"could not fetch {', '.join(files) or 'the model'} from {weights}: {err}", stacklevel=3)
        return Path(weights)


def read_config(folder: str | Path) -> dict:
    """The model's ``config.json`` (its constructor arguments, e.g. ``input_size``)."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: a model folder holds model.safetensors and config.json")
    return json.loads(path.read_text())


def export_is_current(metadata: dict[str, str], folder: str | Path) -> bool:
    """Whether an export with this ONNX ``metadata`` was made from ``folder``'s weights."""
    weights_file = Path(folder) / SAFETENSORS_FILE
    return weights_file.is_file() and metadata.get(WEIGHTS_HASH_KEY) == file_sha256(weights_file)
