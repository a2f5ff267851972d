"""Measure the runtime install (no PyTorch) against the full one: size, start-up, same masks.

    .venv/bin/python scripts/runtime_install.py --out reports/runtime_install

Makes a fresh virtual environment with the package and its runtime dependencies only (pinned
to requirements.txt's versions), runs `cervix-unet predict` on the examples there and in the
full install (.venv), and compares the masks (Dice), sizes on disk and start-up times.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def du_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def timed_run(cmd: list[str], repeat: int = 3) -> tuple[float, subprocess.CompletedProcess]:
    """Fastest wall time of ``repeat`` runs of ``cmd`` (after one warm-up for the file cache)."""
    subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    best, done = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
        best = min(best, time.perf_counter() - start)
    return best, done


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2 * int((a & b).sum()) / total


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="reports/runtime_install")
    parser.add_argument("--full-venv", default=str(ROOT / ".venv"))
    args = parser.parse_args()
    out = ROOT / args.out
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="cervix-runtime-"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin/python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    start = time.perf_counter()
    subprocess.run([*pip, "-c", str(ROOT / "requirements.txt"), str(ROOT)], check=True)
    install_s = time.perf_counter() - start
    has_torch = subprocess.run([str(venv / "bin/python"), "-c", "import torch"], capture_output=True).returncode == 0
    error = (
        subprocess.run(
            [str(venv / "bin/python"), "-c", "from cervix_unet import CervixUNet"], capture_output=True, text=True
        )
        .stderr.strip()
        .splitlines()[-1]
    )
    examples = sorted((ROOT / "examples").glob("*.jpg"))
    results = {}
    for name, bin_dir in [("runtime", venv / "bin"), ("full", Path(args.full_venv) / "bin")]:
        dest = work / name
        cmd = [
            str(bin_dir / "cervix-unet"),
            "predict",
            *map(str, examples),
            "--out",
            str(dest),
            "--weights",
            str(ROOT / "weights"),
        ]
        seconds, done = timed_run(cmd)
        import_s, _ = timed_run([str(bin_dir / "python"), "-c", "import cervix_unet"])
        results[name] = {
            "predict_4_examples_s": seconds,
            "import_s": import_s,
            "log": done.stdout.strip().splitlines()[-1],
            "size_mb": du_mb(bin_dir.parent),
        }
    dices = []
    for path in examples:
        masks = [np.asarray(Image.open(work / name / f"{path.stem}_mask.png")) > 127 for name in ("runtime", "full")]
        dices.append(dice(*masks))
    report = {
        "cpu": cpu_name(),
        "python": platform.python_version(),
        "runtime_has_torch": has_torch,
        "runtime_install_s": install_s,
        "CervixUNet_without_torch": error,
        "mask_dice_runtime_vs_full": dict(zip([p.name for p in examples], dices)),
        **results,
    }
    (out / "runtime_install.json").write_text(json.dumps(report, indent=1) + "\n")
    r, f = results["runtime"], results["full"]
    md = f"""# Runtime install vs full install

`.venv/bin/python scripts/runtime_install.py` on {report["cpu"]} (Python {report["python"]}).
The runtime is `pip install cervix-unet` alone (numpy, Pillow, OpenCV, ONNX Runtime, huggingface_hub,
tqdm; pinned to requirements.txt); the full install is the README's `.venv` (PyTorch, torchvision,
MONAI, smp, Gradio, ...). PyTorch importable in the runtime: {has_torch}.

| | runtime | full |
|---|---|---|
| size on disk (virtual environment) | {r["size_mb"]:.0f} MB | {f["size_mb"]:.0f} MB |
| `import cervix_unet` | {r["import_s"]:.2f} s | {f["import_s"]:.2f} s |
| `cervix-unet predict` on the 4 examples, start to finish | {r["predict_4_examples_s"]:.2f} s | {f["predict_4_examples_s"]:.2f} s |
| backend chosen | {r["log"].split("backend ")[-1].split(")")[0]} | {f["log"].split("backend ")[-1].split(")")[0]} |

Masks of the runtime against the full install, Dice per example: {", ".join(f"{d:.4f}" for d in dices)}
(lowest {min(dices):.4f}). `from cervix_unet import CervixUNet` without PyTorch: `{error}`.
Installing the runtime took {install_s:.0f} s from the local package cache.
"""
    (out / "runtime_install.md").write_text(md)
    print(md)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
