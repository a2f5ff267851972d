"""Every backend gives PyTorch fp32's answer: ONNX export within tolerance, bf16 masks agree."""
import numpy as np
import pytest

from cervix_unet import CervixUNet, Segmenter
from cervix_unet.backends import cpu_has_fast_bf16
from cervix_unet.export import ATOL, export_onnx, max_difference
from cervix_unet.metrics import mask_metrics
from cervix_unet.pipeline import ONNX_FILE
from tests.conftest import WEIGHTS


@pytest.fixture(scope="module")
def model():
    return CervixUNet.from_pretrained(WEIGHTS)


@pytest.fixture(scope="module")
def onnx_dir(model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    model.save_pretrained(folder)
    export_onnx(model, folder / ONNX_FILE, folder / "model.safetensors")
    return folder


def test_onnx_matches_pytorch_within_tolerance(model, onnx_dir):
    rng = np.random.default_rng(0)
    s = model.input_size
    batches = [rng.random((1, 3, s, s), np.float32), rng.random((2, 3, s + 48, 2 * s), np.float32)]
    assert max_difference(model, onnx_dir / ONNX_FILE, batches) <= ATOL


def test_shipped_onnx_is_current():
    onnx_path = WEIGHTS / ONNX_FILE
    if onnx_path.exists():
        from cervix_unet.pipeline import onnx_matches_weights

        assert onnx_matches_weights(onnx_path, WEIGHTS / "model.safetensors")


@pytest.mark.parametrize("backend", ["onnx", "torch-bf16"])
def test_backend_masks_agree_with_fp32(onnx_dir, example_paths, backend):
    reference = Segmenter.from_pretrained(onnx_dir, backend="torch")
    candidate = Segmenter.from_pretrained(onnx_dir, backend=backend)
    for path in example_paths:
        a, b = reference(path), candidate(path)
        assert mask_metrics(a.mask, b.mask)["dice"] >= 0.99
        assert abs(a.confidence - b.confidence) < 0.02


def test_auto_picks_bf16_or_onnx(onnx_dir):
    seg = Segmenter.from_pretrained(onnx_dir)
    assert seg.backend.name == ("torch-bf16" if cpu_has_fast_bf16() else "onnxruntime")


def test_stale_onnx_is_ignored(model, onnx_dir, tmp_path, monkeypatch):
    import shutil

    import cervix_unet.pipeline

    monkeypatch.setattr(cervix_unet.pipeline, "cpu_has_fast_bf16", lambda: False)  # auto would pick ONNX
    shutil.copytree(onnx_dir, tmp_path / "w")
    CervixUNet(input_size=model.input_size).save_pretrained(tmp_path / "w")  # new weights, old export
    with pytest.warns(UserWarning, match="not exported from these weights"):
        seg = Segmenter.from_pretrained(tmp_path / "w", backend="auto")
    assert seg.backend.name == "torch"
