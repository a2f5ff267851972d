"""`cervix-unet bench`: time the bare network per backend and the pipeline per stage.

    cervix-unet bench --weights weights --out reports/bench

Reports median and spread (10th-90th percentile) over repeated runs after warm-up, at the
shipped resolution and at 2x it, for a 576x384 and a 4000x3000 JPEG; beside each network time
its FLOPs and the achieved GFLOP/s against this machine's measured matrix-multiply throughput.
Writes ``bench.md`` (table), ``bench.json`` and ``bench.png`` (bar chart).
"""

from __future__ import annotations

import copy
import io
import json
import os
import platform
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..backends import OnnxBackend, TorchBackend, cpu_has_fast_bf16, default_threads
from ..image_io import decode_image
from ..model import CervixUNet, unet_flops
from ..pipeline import DEFAULT_MAX_SIDE, Segmenter
from ..preprocess import resize_rgb, to_batch
from ..render import to_png
from ..weights import INT8_ONNX_FILE, ONNX_FILE, export_is_current
from .metrics import DiceScore

# the pipeline's backends by their rows in the bare-network table
BACKEND_LABELS = {
    "torch": "PyTorch tuned (fp32, channels-last, inference mode)",
    "torch-bf16": "PyTorch bf16 (bf16 weights, channels-last)",
    "onnx": "ONNX Runtime (fp32)",
    "onnx-int8": "ONNX Runtime (int8, static quantisation)",
}


def timed(fn: Callable[[], object], repeat: int, warmup: int) -> dict[str, float]:
    """Milliseconds: median, 10th and 90th percentile, min over ``repeat`` runs after warm-up."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    t = np.array(times)
    return {
        "median": float(np.median(t)),
        "p10": float(np.percentile(t, 10)),
        "p90": float(np.percentile(t, 90)),
        "min": float(t.min()),
    }


def matmul_gflops(dtype: torch.dtype, n: int = 2048, repeat: int = 10) -> float:
    """This machine's measured square matrix-multiply throughput with torch (GFLOP/s)."""
    a, b = torch.rand(n, n).to(dtype), torch.rand(n, n).to(dtype)
    ms = timed(lambda: torch.mm(a, b), repeat=repeat, warmup=min(3, repeat))["median"]
    return 2 * n**3 / (ms / 1000) / 1e9


def network_runners(
    model: CervixUNet, onnx_path: Path, int8_path: Path, size: int, compile_too: bool
) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Every backend worth timing, each a function batch -> logits."""
    eager = model.eval()

    def torch_eager(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return eager(torch.from_numpy(batch)).numpy()

    runners = {
        "PyTorch eager (fp32, NCHW)": torch_eager,
        BACKEND_LABELS["torch"]: TorchBackend(copy.deepcopy(model)),
        BACKEND_LABELS["torch-bf16"]: TorchBackend(copy.deepcopy(model), bf16=True),
    }
    example = torch.rand(1, 3, size, size)
    with torch.inference_mode():
        scripted = torch.jit.optimize_for_inference(
            torch.jit.freeze(torch.jit.trace(copy.deepcopy(model).eval(), example))
        )

    def torchscript(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return scripted(torch.from_numpy(batch)).numpy()

    runners["TorchScript (frozen, optimize_for_inference)"] = torchscript
    if compile_too:
        compiled = torch.compile(copy.deepcopy(model).eval())
        compiled_bf16 = torch.compile(
            copy.deepcopy(model).eval().to(torch.bfloat16).to(memory_format=torch.channels_last)
        )

        def torch_compiled(batch: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return compiled(torch.from_numpy(batch)).numpy()

        def torch_compiled_bf16(batch: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                x = torch.from_numpy(batch).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
                return compiled_bf16(x).float().numpy()

        runners["torch.compile (inductor, fp32)"] = torch_compiled
        runners["torch.compile (inductor, bf16, channels-last)"] = torch_compiled_bf16
    runners[BACKEND_LABELS["onnx"]] = OnnxBackend(onnx_path)
    runners[BACKEND_LABELS["onnx-int8"]] = OnnxBackend(int8_path)
    return runners


def current_export(folder: Path, name: str) -> Path | None:
    """``folder / name`` if it exists and was exported from ``folder``'s weights."""
    path = folder / name
    return path if path.is_file() and export_is_current(OnnxBackend(path).metadata, folder) else None


def runner_for(model: CervixUNet, backend: str, onnx_path: Path | None) -> TorchBackend | OnnxBackend:
    """A fresh backend of the given name (PyTorch on a copy of ``model``, or ONNX Runtime)."""
    if backend.startswith("torch"):
        return TorchBackend(copy.deepcopy(model), bf16=backend == "torch-bf16")
    return OnnxBackend(onnx_path)


def big_photo(photo: Path, size: tuple[int, int] = (4000, 3000)) -> bytes:
    """A camera-sized JPEG made from a real photo (bicubic upscale, quality 92)."""
    buffer = io.BytesIO()
    Image.open(photo).convert("RGB").resize(size, Image.BICUBIC).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def pipeline_stages(segmenter: Segmenter, data: bytes, repeat: int, warmup: int) -> dict:
    """Median milliseconds per pipeline stage and end to end, calls back to back as the bare
    network is timed; then the output encoding (3 PNGs) timed apart."""
    laps: dict[str, list[float]] = {}
    totals = []
    for i in range(warmup + repeat):
        start = time.perf_counter()
        result = segmenter(data)
        total = (time.perf_counter() - start) * 1000
        if i >= warmup:
            totals.append(total)
            for name, seconds in result.timings.items():
                laps.setdefault(name, []).append(seconds * 1000)
    encode = timed(lambda: (to_png(result.crop), to_png(result.mask), to_png(result.overlay)), max(3, repeat // 3), 1)
    h, w = result.mask.shape
    stages = {k: float(np.median(v)) for k, v in laps.items()}
    stages["encode outputs (3 PNGs, apart)"] = encode["median"]
    return {
        "size": f"{w}x{h}",
        "stages": stages,
        "end_to_end": {
            "median": float(np.median(totals)),
            "p10": float(np.percentile(totals, 10)),
            "p90": float(np.percentile(totals, 90)),
        },
    }


def interleaved(segmenter: Segmenter, data: bytes, repeat: int, warmup: int) -> dict[str, float]:
    """Median ms of the bare network (``segmenter``'s own backend on a ready batch) and of the
    whole pipeline on ``data``, timed alternately in one loop: on a shared machine whose speed
    drifts by 10-20% over minutes, only runs side by side make a fair ratio."""
    batch = to_batch(resize_rgb(decode_image(data, segmenter.max_pixels, segmenter.max_side)[0], segmenter.size))
    bare, whole = [], []
    for i in range(warmup + repeat):
        start = time.perf_counter()
        segmenter.backend(batch)
        middle = time.perf_counter()
        segmenter(data)
        if i >= warmup:
            bare.append((middle - start) * 1000)
            whole.append((time.perf_counter() - middle) * 1000)
    return {"bare_network": float(np.median(bare)), "pipeline": float(np.median(whole)), "runs": repeat}


def lowest_mask_dice(reference: Segmenter, candidate: Segmenter, photos: list[Path]) -> float:
    """Lowest Dice between two segmenters' masks over ``photos`` (correctness of a backend)."""
    score = DiceScore()
    for photo in photos:
        score.add(candidate(photo).mask, reference(photo).mask)
    return float(score.values().min())


def bench(weights: str | Path, examples: list[Path], repeat: int = 30, warmup: int = 5, compile: bool = False) -> dict:
    """Time every backend's bare network and the whole pipeline per stage on ``examples[0]``
    (and a 4000x3000 version of it); masks checked against PyTorch fp32 on all ``examples``."""
    if not examples:
        raise ValueError("bench needs example photos (the repository's examples/*.jpg)")
    threads = default_threads()
    torch.set_num_threads(threads)
    weights = Path(weights)
    model = CervixUNet.from_pretrained(weights)
    photo = examples[0]
    tmp = tempfile.TemporaryDirectory()
    onnx_path, int8_path = current_export(weights, ONNX_FILE), current_export(weights, INT8_ONNX_FILE)
    if onnx_path is None or int8_path is None:  # not exported yet: export here, int8 calibrated on the examples
        from .export import export_onnx, photo_batches, quantize_int8

        onnx_path = export_onnx(model, Path(tmp.name) / ONNX_FILE)
        int8_path = quantize_int8(onnx_path, Path(tmp.name) / INT8_ONNX_FILE, photo_batches(examples, model.input_size))
    bf16_native = cpu_has_fast_bf16()
    report: dict = {
        "machine": {
            "cpu": _cpu_name(),
            "cores": os.cpu_count(),
            "threads": threads,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "matmul_gflops_fp32": matmul_gflops(torch.float32),
            "bf16_native": bf16_native,
            "matmul_gflops_bf16": matmul_gflops(torch.bfloat16, *(() if bf16_native else (512, 2))),
        },
        "network": {},
        "pipeline": {},
    }
    for size in (model.input_size, 2 * model.input_size):
        flops = unet_flops(size)
        batch = np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)
        rows = {}
        for name, runner in network_runners(model, onnx_path, int8_path, size, compile).items():
            emulated = "bf16" in name and not bf16_native  # ~50x slower: a few runs tell
            t = timed(lambda: runner(batch), min(3, repeat) if emulated else repeat, 1 if emulated else warmup)  # noqa: B023 (called at once)
            t["gflops_per_s"] = flops / (t["median"] / 1000) / 1e9
            rows[name] = t
        report["network"][str(size)] = {"gflop": flops / 1e9, "backends": rows}
    backends = {"torch": None, "onnx": onnx_path, "onnx-int8": int8_path}
    if bf16_native:  # emulated bf16 is not a candidate: its network alone is timed above
        backends["torch-bf16"] = None
    small, large = photo.read_bytes(), big_photo(photo)
    size = model.input_size
    reference = Segmenter(TorchBackend(model), size)
    for backend, path in backends.items():
        seg = Segmenter(runner_for(model, backend, path), size, max_side=None)
        seg_reduced = Segmenter(runner_for(model, backend, path), size, max_side=DEFAULT_MAX_SIDE)
        report["pipeline"][backend] = {
            "mask_dice_vs_torch_fp32": lowest_mask_dice(reference, seg, examples),
            "photos": {
                "576x384": pipeline_stages(seg, small, repeat, warmup),
                "4000x3000, full size": pipeline_stages(seg, large, max(5, repeat // 3), 2),
                f"4000x3000, max_side={DEFAULT_MAX_SIDE} (default)": pipeline_stages(
                    seg_reduced, large, max(5, repeat // 3), 2
                ),
            },
        }
    report["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    default = "torch-bf16" if bf16_native else "onnx-int8"
    seg = Segmenter(runner_for(model, default, backends[default]), size)
    report["interleaved"] = {
        "backend": default,
        "label": BACKEND_LABELS[default],
        **interleaved(seg, small, 2 * repeat, warmup),
    }
    report["targets"] = targets(report, default, model.input_size)
    tmp.cleanup()
    return report


KERAS_128_MS = 78.0  # the original Keras network at 128x128 on this kind of machine (issue 7)


def targets(report: dict, default_backend: str, size: int) -> dict:
    """The issue's speed targets, computed from the measurements, for the default backend.

    The pipeline / bare-network ratio comes from the interleaved runs; should another backend
    be faster than the default in the bare-network table, the default's bare time is scaled
    down by that factor, so the ratio is always against the fastest network measured."""
    table = report["network"][str(size)]["backends"]
    fastest = min(table, key=lambda k: table[k]["median"])
    side_by_side = report["interleaved"]
    bare = side_by_side["bare_network"] * table[fastest]["median"] / table[side_by_side["label"]]["median"]
    ratio = side_by_side["pipeline"] / bare
    runs = report["pipeline"][default_backend]["photos"]
    small = runs["576x384"]["end_to_end"]["median"]
    big = runs[f"4000x3000, max_side={DEFAULT_MAX_SIDE} (default)"]["end_to_end"]["median"]
    keras_limit = KERAS_128_MS / 2 * unet_flops(size) / unet_flops(128)
    return {
        "default_backend": default_backend,
        "fastest_bare_network": fastest,
        "pipeline_over_fastest_bare_network": {"value": ratio, "target": 1.2, "met": ratio <= 1.2},
        "pipeline_576x384_ms": {"value": small, "target": keras_limit, "met": small < keras_limit},
        "4000x3000_over_576x384": {"value": big / small, "target": 3.0, "met": big / small < 3.0},
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def markdown(report: dict) -> str:
    """The report as Markdown tables."""
    m = report["machine"]
    lines = [
        f"Measured on {m['cpu']}, {m['cores']} cores ({m['threads']} threads), Python {m['python']}, "
        f"torch {m['torch']}. Matrix-multiply throughput (2048x2048, torch): "
        f"{m['matmul_gflops_fp32']:.0f} GFLOP/s fp32, {m['matmul_gflops_bf16']:.1f} GFLOP/s bf16"
        f"{'' if m.get('bf16_native', True) else ' (emulated: no native bf16 on this CPU)'}. "
        "int8 rows count the same operations as fp32 (GOP/s).",
        "",
        "### Bare network, batch 1 (ms; median, 10th-90th percentile)",
        "",
        "| backend | " + " | ".join(f"{s}x{s} ({v['gflop']:.1f} GFLOP)" for s, v in report["network"].items()) + " |",
        "|---|" + "---|" * len(report["network"]),
    ]
    names = list(next(iter(report["network"].values()))["backends"])
    for name in names:
        cells = []
        for v in report["network"].values():
            t = v["backends"][name]
            cells.append(f"{t['median']:.1f} ({t['p10']:.1f}-{t['p90']:.1f}); {t['gflops_per_s']:.0f} GFLOP/s")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "### Whole pipeline per stage (ms, median)", ""]
    for backend, runs in report["pipeline"].items():
        dice_floor, runs = runs["mask_dice_vs_torch_fp32"], runs["photos"]
        photos = list(runs)
        stages = list(runs[photos[0]]["stages"])
        lines += [
            f"Backend `{backend}` (masks agree with PyTorch fp32 at Dice >= {dice_floor:.4f}):",
            "",
            "| stage | " + " | ".join(photos) + " |",
            "|---|" + "---|" * len(photos),
        ]
        for stage in stages:
            lines.append(f"| {stage} | " + " | ".join(f"{runs[p]['stages'].get(stage, 0):.1f}" for p in photos) + " |")
        lines.append(
            "| **bytes to mask, box and crop** | "
            + " | ".join(
                f"**{runs[p]['end_to_end']['median']:.1f}** ({runs[p]['end_to_end']['p10']:.1f}-{runs[p]['end_to_end']['p90']:.1f})"
                for p in photos
            )
            + " |"
        )
        lines.append("")
    lines.append(f"Peak resident memory of the benchmark process: {report['peak_rss_mb']:.0f} MB.")
    t = report["targets"]
    lines += [
        "",
        f"### Targets (default backend `{t['default_backend']}`)",
        "",
        "| target | measured | limit | met |",
        "|---|---|---|---|",
        f"| pipeline (576x384, bytes to mask, box, crop) / fastest bare network ({t['fastest_bare_network']}); "
        f"interleaved runs: {report['interleaved']['pipeline']:.1f} / {report['interleaved']['bare_network']:.1f} ms | "
        f"{t['pipeline_over_fastest_bare_network']['value']:.2f}x | 1.2x | {t['pipeline_over_fastest_bare_network']['met']} |",
        "| pipeline on 576x384 vs half the Keras original's 78 ms (FLOP-scaled) | "
        f"{t['pipeline_576x384_ms']['value']:.1f} ms | {t['pipeline_576x384_ms']['target']:.1f} ms | {t['pipeline_576x384_ms']['met']} |",
        "| 4000x3000 / 576x384 end to end | "
        f"{t['4000x3000_over_576x384']['value']:.2f}x | 3x | {t['4000x3000_over_576x384']['met']} |",
    ]
    return "\n".join(lines) + "\n"


def bar_chart(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = list(report["network"])
    names = list(report["network"][sizes[0]]["backends"])
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    y = np.arange(len(names))
    for i, size in enumerate(sizes):
        vals = [report["network"][size]["backends"][n]["median"] for n in names]
        axes[0].barh(y + i * 0.4, vals, height=0.4, label=f"{size}x{size}")
    axes[0].set_yticks(y + 0.2, names, fontsize=8)
    axes[0].set_xlabel("ms per image (batch 1, median)")
    axes[0].set_title("Bare network")
    axes[0].legend()
    backends = list(report["pipeline"])
    photos = list(report["pipeline"][backends[0]]["photos"])
    stages = list(report["pipeline"][backends[0]]["photos"][photos[0]]["stages"])[:-1]  # encoding shown apart
    rows = [(b, p) for b in backends for p in photos]
    left = np.zeros(len(rows))
    for stage in stages:
        vals = np.array([report["pipeline"][b]["photos"][p]["stages"].get(stage, 0) for b, p in rows])
        axes[1].barh(np.arange(len(rows)), vals, left=left, label=stage)
        left += vals
    axes[1].set_yticks(np.arange(len(rows)), [f"{b} {p}" for b, p in rows], fontsize=7)
    axes[1].set_xlabel("ms (median per stage)")
    axes[1].set_title("Pipeline: bytes to mask, box and crop")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(report: dict, out: str | Path) -> Path:
    """``bench.json``, ``bench.md`` and ``bench.png`` in ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "bench.md").write_text(markdown(report))
    bar_chart(report, out / "bench.png")
    return out
