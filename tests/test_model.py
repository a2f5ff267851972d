"""The network: architecture, parameter count, Hub round trip, safetensors only."""

import json

import pytest
import torch
from torch import nn

from cervix_unet import CervixUNet


def test_architecture_and_parameter_count():
    model = CervixUNet()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    # 5 down levels x 2 + 4 up levels x 2 + head = 19 convolutions
    assert len(convs) == 19
    assert [c.out_channels for c in convs[:10:2]] == [32, 64, 128, 256, 512]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs[:-1])
    assert convs[-1].kernel_size == (1, 1) and convs[-1].out_channels == 1
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.Dropout)) for m in model.modules())
    assert sum(p.numel() for p in model.parameters()) == 7_846_657


@pytest.mark.parametrize("shape", [(1, 3, 64, 96), (2, 3, 128, 128), (1, 3, 16, 32)])
def test_forward_returns_logits_of_input_size(shape):
    with torch.inference_mode():
        out = CervixUNet().eval()(torch.rand(shape))
    assert out.shape == (shape[0], 1, shape[2], shape[3])
    assert out.dtype == torch.float32


def test_input_size_must_be_multiple_of_16():
    with pytest.raises(ValueError, match="multiple of 16"):
        CervixUNet(input_size=100)


def test_save_and_load_round_trip_is_bit_identical(tmp_path):
    torch.manual_seed(1)
    model = CervixUNet(input_size=192).eval()
    model.save_pretrained(tmp_path)
    assert {"config.json", "model.safetensors"} <= {p.name for p in tmp_path.iterdir()}
    config = json.loads((tmp_path / "config.json").read_text())
    assert config == {"in_channels": 3, "out_channels": 1, "base_width": 32, "input_size": 192}
    loaded = CervixUNet.from_pretrained(tmp_path)
    assert not loaded.training
    assert loaded.input_size == 192
    x = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        assert torch.equal(model(x), loaded(x))


def test_no_pickle_fallback(tmp_path):
    torch.save(CervixUNet().state_dict(), tmp_path / "pytorch_model.bin")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="safetensors"):
        CervixUNet.from_pretrained(tmp_path)


def test_hub_metadata_in_model_card(tmp_path):
    CervixUNet().save_pretrained(tmp_path)
    card = (tmp_path / "README.md").read_text()
    for tag in ["segmentation", "medical-imaging", "colposcopy", "cervix"]:
        assert tag in card
    assert "library_name: cervix-unet" in card


def test_shipped_weights_load():
    from tests.conftest import WEIGHTS

    model = CervixUNet.from_pretrained(WEIGHTS)
    assert not model.training
    assert model.input_size % 16 == 0


def test_card_quotes_the_cross_validation_per_source():
    import json
    from pathlib import Path

    from cervix_unet.workshop.model_card import format_crossval

    report = Path(__file__).resolve().parents[1] / "reports" / "crossval_phone"
    summary = json.loads((report / "summary.json").read_text())
    text = format_crossval(summary, "reports/crossval_phone")
    for source, figures in summary["by_source"].items():
        assert f"| {source} | {figures['images']} | {figures['dice']:.3f} |" in text
    assert f"worst fold {summary['across_folds']['dice']['min']:.3f}" in text
    assert text.startswith("5 patient-wise folds")
    stopped = json.loads((report.parent / "crossval_phone_dpi" / "summary.json").read_text())  # stopped after 3
    assert format_crossval(stopped, "reports/crossval_phone_dpi").startswith("3 of 5 patient-wise folds")
    assert format_crossval(None, "") == "Not run yet."
    assert "with the recipe of these weights (from `runs/weights_r128`, 10 epochs, Adam 0.0001, float32" in text
