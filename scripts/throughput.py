"""Throughput of `cervix-unet predict` with its outputs written, beside the pipeline alone.

    .venv/bin/python scripts/throughput.py --out reports/throughput

Photos: the four 576x384 examples (copied to make a batch) and 4000x3000 camera-size JPEGs made
from them (upscaled, with sensor-like noise, so that they weigh what a camera's do: ~3 MB).
For each set, in alternating rounds on the same warm model (this machine's speed drifts):

- pipeline alone: ``Segmenter(bytes)`` on each photo in memory, one after another (decode,
  network, mask, box and crop at full size; nothing encoded or written);
- predict: the batch that ``cervix-unet predict`` runs (``batch.run_batch`` + the streaming
  summary), reading the files and writing crop, mask, overlay and summary rows; model loading
  excluded (timed apart, once, by running the command itself).

Phone photos (``--phone``, labelled MobileODT photos read from ``../shared``, not shipped): the
cervix is often small in their frame, so the pipeline takes a second look around the first
outline (``SegmentOptions.zoom_margin``) on most of them; for these the script reports on how many
it ran and its median time beside the first look's network passes (pipeline alone, one at a time).

Targets (issue 12): predict >= 60% of the pipeline-alone rate on 576x384 photos; a 4000x3000
JPEG with full-size outputs in < 0.25 s of wall time per photo on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cervix_unet import Segmenter  # noqa: E402
from cervix_unet.batch import Job, default_workers, run_batch  # noqa: E402
from cervix_unet.image_io import read_image  # noqa: E402
from cervix_unet.jpeg_crop import lossless_crop  # noqa: E402
from cervix_unet.preprocess import resize_rgb  # noqa: E402
from cervix_unet.render import mask_png, overlay, to_jpeg, to_png  # noqa: E402
from cervix_unet.summary import SummaryWriter  # noqa: E402
from cervix_unet.workshop.export import split_photos  # noqa: E402

FLAGS = ["avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"]


def machine() -> dict:
    """CPU model and the flags that decide the backend, cores this process may use, load."""
    model, flags = platform.processor() or "unknown", set()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "Model name":
                model = value.strip()
            elif key.strip() == "Flags":
                flags = set(value.split())
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "cpu": model,
        "flags": {f: f in flags for f in FLAGS},
        "cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
    }


def camera_jpeg(example: Path, seed: int, size=(4000, 3000)) -> bytes:
    rgb = np.asarray(Image.open(example).convert("RGB").resize(size, Image.Resampling.BICUBIC))
    noise = np.random.default_rng(seed).normal(0, 4, (size[1], size[0], 1)).astype(np.float32)
    im = Image.fromarray(np.clip(rgb + noise, 0, 255).astype(np.uint8))
    path = Path(tempfile.mktemp(suffix=".jpg"))
    im.save(path, "JPEG", quality=92)
    data = path.read_bytes()
    path.unlink()
    return data


def make_sets(folder: Path, small: int, large: int) -> dict[str, list[Path]]:
    examples = sorted((ROOT / "examples").glob("*.jpg"))
    sets = {"576x384": [], "4000x3000": []}
    for i in range(small):
        path = folder / "small" / f"photo{i:03d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(examples[i % len(examples)], path)
        sets["576x384"].append(path)
    for i in range(large):
        path = folder / "large" / f"camera{i:03d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(camera_jpeg(examples[i % len(examples)], seed=i))
        sets["4000x3000"].append(path)
    return sets


def cpu_seconds() -> float:
    """User + system CPU time so far of this process (all its threads) and of its finished
    children (jpegtran)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def pipeline_alone(segmenter: Segmenter, photos: list[bytes]) -> tuple[float, float]:
    """Wall and CPU seconds for the photos one after another."""
    start, cpu = time.perf_counter(), cpu_seconds()
    for data in photos:
        segmenter(data)
    return time.perf_counter() - start, cpu_seconds() - cpu


def predict_batch(segmenter: Segmenter, paths: list[Path], out: Path, workers: int) -> tuple[float, float]:
    """Wall and CPU seconds of predict's batch on the files, outputs and summary written."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    start, cpu = time.perf_counter(), cpu_seconds()
    summary = SummaryWriter(out)
    jobs = [Job(p, p.stem) for p in paths]
    for row in run_batch(jobs, segmenter, out, workers=workers):
        if row["status"] != "ok":
            raise RuntimeError(row)
        summary.add(row)
    summary.close([str(p) for p in paths])
    return time.perf_counter() - start, cpu_seconds() - cpu


def second_look(segmenter: Segmenter, photos: list[bytes]) -> dict:
    """On how many photos the second look ran, and its median ms beside the first look's network."""
    segmenter(photos[0])  # warm
    results = [segmenter(data) for data in photos]
    zoomed = [r.timings for r in results if "zoom" in r.timings]

    def median(key: str) -> float | None:
        return round(statistics.median(t[key] for t in zoomed) * 1000, 1) if zoomed else None

    return {
        "photos": len(photos),
        "second_look_ran": len(zoomed),
        "second_look_ms": median("zoom"),
        "first_look_network_ms": median("network"),
    }


def median_ms(fn: Callable[[], object], repeat: int = 7) -> tuple[float, float]:
    """Median CPU ms (this process and its children: robust to other work on the machine) and
    median wall ms of ``fn``."""
    fn()
    cpu, wall = [], []
    for _ in range(repeat):
        c, w = cpu_seconds(), time.perf_counter()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(cpu_seconds() - c)
    return round(statistics.median(cpu) * 1000, 1), round(statistics.median(wall) * 1000, 1)


def stages(segmenter: Segmenter, data: bytes) -> dict[str, float]:
    """Single-thread median ms of each step for one photo, and the alternatives not taken."""
    import cv2

    decoded = read_image(data)
    small = resize_rgb(decoded.pixels, segmenter.size)
    probability = segmenter.run_network(small)
    result = segmenter.postprocess(decoded.pixels, probability, source=decoded.info)
    shown = overlay(result.image, result.mask)
    reduced = cv2.IMREAD_REDUCED_COLOR_8
    row = {
        "decode, full size (needed for the overlay)": median_ms(lambda: read_image(data)),
        "resize full size -> network input": median_ms(lambda: resize_rgb(decoded.pixels, segmenter.size)),
        "(not taken) reduced 1/8 JPEG decode for the network input": median_ms(
            lambda: cv2.imdecode(np.frombuffer(data, np.uint8), reduced)
        ),
        "network, one pass (the pipeline makes two: the photo and its mirror image)": median_ms(
            lambda: segmenter.run_network(small)
        ),
        "mask, box, crop at full size": median_ms(
            lambda: segmenter.postprocess(decoded.pixels, probability, small=small)
        ),
        "overlay (tint, outline)": median_ms(lambda: overlay(result.image, result.mask)),
        "encode overlay, JPEG q90": median_ms(lambda: to_jpeg(shown)),
        "encode mask, PNG (run-length, no filter)": median_ms(lambda: mask_png(result.mask)),
        "crop, lossless JPEG (jpegtran)": median_ms(
            lambda: lossless_crop(data, decoded.info.jpeg, decoded.info.orientation, result.crop_box)
        ),
    }
    if result.image.shape[0] <= 1000:
        row["(not taken) encode overlay, PNG"] = median_ms(lambda: to_png(shown))
        row["(not taken) encode mask, PNG with default settings"] = median_ms(lambda: to_png(result.mask))
        row["(not taken) encode crop, PNG"] = median_ms(lambda: to_png(result.crop))
    else:
        row["(not taken) encode overlay, PNG"] = median_ms(lambda: to_png(shown), repeat=2)
        row["(not taken) encode mask, PNG with default settings"] = median_ms(lambda: to_png(result.mask), repeat=3)
        row["(not taken) encode crop, PNG"] = median_ms(lambda: to_png(result.crop), repeat=2)
    return row


def cli_run(paths: list[Path], out: Path, backend: str) -> float:
    """Wall seconds of the command itself on ``paths``' folder, start-up included."""
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cervix_unet.cli",
            "predict",
            str(paths[0].parent),
            "--out",
            str(out),
            "--weights",
            str(ROOT / "weights"),
            "--backend",
            backend,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "reports" / "throughput"))
    parser.add_argument("--weights", default=str(ROOT / "weights"))
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--small", type=int, default=48, help="576x384 photos per round")
    parser.add_argument("--large", type=int, default=12, help="4000x3000 photos per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--phone", type=int, default=40, help="labelled phone photos for the second look (0: none)")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--labels", default=str(ROOT / "labels"))
    parser.add_argument("--workers", type=int, default=default_workers())
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"machine": machine(), "load_before": os.getloadavg(), "backend": args.backend, "workers": args.workers}
    segmenter = Segmenter.from_pretrained(args.weights, backend=args.backend)
    report["backend_used"] = segmenter.backend.name
    with tempfile.TemporaryDirectory(prefix="cervix-unet-throughput-") as tmp:
        sets = make_sets(Path(tmp), args.small, args.large)
        report["sets"] = {}
        for name, paths in sets.items():
            photos = [p.read_bytes() for p in paths]
            report["stages_" + name] = stages(segmenter, photos[0])
            rounds = []
            for _ in range(args.rounds):
                alone, alone_cpu = pipeline_alone(segmenter, photos)
                batch, batch_cpu = predict_batch(segmenter, paths, Path(tmp) / "out", args.workers)
                rounds.append(
                    {
                        "pipeline_alone_per_s": len(paths) / alone,
                        "predict_per_s": len(paths) / batch,
                        "predict_s_per_photo": batch / len(paths),
                        "pipeline_alone_cpu_s_per_photo": alone_cpu / len(paths),
                        "predict_cpu_s_per_photo": batch_cpu / len(paths),
                        "load_1min": os.getloadavg()[0],
                    }
                )
                print(name, {k: round(v, 3) for k, v in rounds[-1].items()}, flush=True)
            summary = {k: round(statistics.median(r[k] for r in rounds), 3) for k in rounds[0]}
            summary["ratio"] = round(
                statistics.median(r["predict_per_s"] / r["pipeline_alone_per_s"] for r in rounds), 3
            )
            summary["photos"] = len(paths)
            summary["mean_file_mb"] = round(sum(map(len, photos)) / len(photos) / 2**20, 2)
            summary["rounds"] = rounds
            report["sets"][name] = summary
        large = sets["4000x3000"]
        report["cli_4000x3000_s"] = round(cli_run(large, Path(tmp) / "cli", args.backend), 2)
    phones = split_photos(args.data, args.labels, "all", args.phone, source="mobileodt") if args.phone else []
    if phones:
        report["phone"] = second_look(segmenter, [p.read_bytes() for p in phones])
        print("phone", report["phone"], flush=True)
    report["load_after"] = os.getloadavg()
    small, large_set = report["sets"]["576x384"], report["sets"]["4000x3000"]
    report["targets"] = {
        "576x384: predict / pipeline alone >= 0.6": {"value": small["ratio"], "met": small["ratio"] >= 0.6},
        "4000x3000: predict s per photo < 0.25": {
            "value": large_set["predict_s_per_photo"],
            "met": large_set["predict_s_per_photo"] < 0.25,
        },
        "4000x3000: predict CPU s per photo / cores (wall on otherwise idle cores) < 0.25": {
            "value": round(large_set["predict_cpu_s_per_photo"] / report["machine"]["cores"], 3),
            "met": large_set["predict_cpu_s_per_photo"] / report["machine"]["cores"] < 0.25,
        },
    }
    (out / "throughput.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "throughput.md").write_text(markdown(report, args))
    print((out / "throughput.md").read_text())


def markdown(r: dict, args) -> str:
    m = r["machine"]
    flags = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in m["flags"].items())
    lines = [
        "# Throughput of `cervix-unet predict`\n",
        f"`.venv/bin/python scripts/throughput.py --backend {args.backend} --small {args.small} "
        f"--large {args.large} --rounds {args.rounds}`\n",
        f"- CPU: **{m['cpu']}**, {m['cores']} cores; {flags}",
        f"- backend: {r['backend']} -> {r['backend_used']}; {r['workers']} worker threads beside the network",
        f"- load average before / after (the cores are shared with other work): "
        f"{r['load_before'][0]:.1f} / {r['load_after'][0]:.1f}\n",
        "| photos | pipeline alone, photos/s | predict with outputs written, photos/s | predict / pipeline | "
        "predict, s per photo |",
        "|---|---|---|---|---|",
    ]
    for name, s in r["sets"].items():
        lines.append(
            f"| {s['photos']} x {name} JPEG ({s['mean_file_mb']} MB) | {s['pipeline_alone_per_s']:.2f} | "
            f"{s['predict_per_s']:.2f} | {s['ratio']:.2f} | {s['predict_s_per_photo']:.3f} |"
        )
    lines += [
        "",
        "| photos | pipeline alone, CPU s per photo | predict, CPU s per photo | predict, CPU s per photo / cores |",
        "|---|---|---|---|",
    ]
    for name, s in r["sets"].items():
        lines.append(
            f"| {name} | {s['pipeline_alone_cpu_s_per_photo']:.3f} | {s['predict_cpu_s_per_photo']:.3f} | "
            f"{s['predict_cpu_s_per_photo'] / m['cores']:.3f} |"
        )
    lines.append(
        "\nCPU time is user + system time of this process (all threads) and of jpegtran: divided by "
        "the cores, it is about the wall time per photo the batch needs when nothing else runs on them "
        "(contention inflates CPU time too, so on a busy machine this is an upper bound)."
    )
    lines.append(
        f"\nMedians of {args.rounds} alternating rounds. The command itself on the "
        f"{r['sets']['4000x3000']['photos']} camera photos, start-up and model loading included: "
        f"{r['cli_4000x3000_s']} s.\n"
    )
    lines.append("Targets (issue 12):\n")
    for name, t in r["targets"].items():
        lines.append(f"- {name}: **{t['value']}**, {'met' if t['met'] else 'NOT met'}")
    if r.get("phone"):
        ph = r["phone"]
        lines.append(
            f"\nPhone photos ({ph['photos']} labelled MobileODT photos, one at a time): the second look ran on "
            f"{ph['second_look_ran']}, median **{ph['second_look_ms']} ms** (its two network passes on the region "
            f"and its mask) against {ph['first_look_network_ms']} ms for the first look's two network passes."
        )
    for name in r["sets"]:
        lines += [
            f"\n## One {name} photo, step by step (one at a time, medians)\n",
            "| step | CPU ms | wall ms |",
            "|---|---|---|",
        ]
        lines += [f"| {k} | {cpu} | {wall} |" for k, (cpu, wall) in r["stages_" + name].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
