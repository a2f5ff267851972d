"""The benchmark script runs end to end and writes its table, JSON and chart (no timing asserted)."""

import json

from cervix_unet.cli import main
from cervix_unet.model import unet_flops
from tests.conftest import ROOT, WEIGHTS


def test_flops_of_the_design():
    assert round(unet_flops(128) / 1e9, 1) == 7.0
    assert round(unet_flops(256) / 1e9, 1) == 27.9


def test_bench_writes_its_reports(tmp_path):
    out = tmp_path / "bench"
    assert (
        main(
            [
                "bench",
                "--weights",
                str(WEIGHTS),
                "--examples",
                str(ROOT / "examples"),
                "--repeat",
                "2",
                "--warmup",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    report = json.loads((out / "bench.json").read_text())
    assert set(report["network"]) == {"128", "256"}
    assert {"torch", "onnx", "onnx-int8"} <= set(report["pipeline"])
    assert ("torch-bf16" in report["pipeline"]) == report["machine"]["bf16_native"]
    assert all(run["mask_dice_vs_torch_fp32"] >= 0.99 for run in report["pipeline"].values())
    assert {"pipeline_over_fastest_bare_network", "pipeline_576x384_ms", "4000x3000_over_576x384"} <= set(
        report["targets"]
    )
    assert "| decode |" in (out / "bench.md").read_text() and (out / "bench.png").stat().st_size > 10_000
