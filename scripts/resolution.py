"""Working resolution, from measurements: what each resolution costs and what it can reach.

    .venv/bin/python scripts/resolution.py --out reports/resolution [--evaluations 128=reports/val 192=reports/val_r192]

For each square working size: the resolution's own ceiling (every label rendered at that size
as the network would see it, area-averaged, then upsampled bilinearly and thresholded back at
the photo's size, scored by Dice against the full-size label), the bare network's latency
(bf16 and fp32 PyTorch, batch 1) and, where given, a trained model's validation Dice from
`cervix-unet evaluate`. Writes resolution.json and resolution.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from cervix_unet import CervixUNet  # noqa: E402
from cervix_unet.backends import TorchBackend  # noqa: E402
from cervix_unet.model import unet_flops  # noqa: E402
from cervix_unet.workshop.bench import timed  # noqa: E402
from cervix_unet.workshop.labels import label_mask, load_labels  # noqa: E402

SIZES = (96, 128, 192, 256)


def resolution_ceiling(labels: dict, size: int) -> tuple[float, float]:
    """Mean and minimum Dice of labels passed through a size x size bottleneck and back."""
    scores = []
    for label in labels.values():
        full = label_mask(label)
        if not full.any():
            continue
        w, h = label["size"]
        small = cv2.resize(full.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
        back = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR) > 0.5
        scores.append(2 * (back & full).sum() / (back.sum() + full.sum()))
    return float(np.mean(scores)), float(np.min(scores))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", default=str(ROOT / "labels"))
    parser.add_argument("--evaluations", nargs="*", default=[], help="SIZE=REPORT_DIR from cervix-unet evaluate")
    parser.add_argument("--out", default=str(ROOT / "reports" / "resolution"))
    args = parser.parse_args()
    labels = load_labels(args.labels)
    evaluations = dict(item.split("=", 1) for item in args.evaluations)
    rows = []
    model = CervixUNet().eval()
    for size in tqdm(SIZES, desc="sizes"):
        mean, worst = resolution_ceiling(labels, size)
        batch = np.random.default_rng(0).random((1, 3, size, size), dtype=np.float32)
        bf16, fp32 = TorchBackend(model, bf16=True), TorchBackend(model)
        row = {
            "size": size,
            "gflop": unet_flops(size) / 1e9,
            "ceiling_dice_mean": mean,
            "ceiling_dice_min": worst,
            "bf16_ms": timed(lambda: bf16(batch), 20, 5)["median"],  # noqa: B023 (called at once)
            "fp32_ms": timed(lambda: fp32(batch), 10, 3)["median"],  # noqa: B023
        }
        if str(size) in evaluations:
            summary = json.loads((Path(evaluations[str(size)]) / "summary.json").read_text())
            row["val_dice_mean"], row["val_dice_median"] = summary["dice"]["mean"], summary["dice"]["median"]
            row["val_box_iou_mean"] = summary["box_iou"]["mean"]
        rows.append(row)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "resolution.json").write_text(json.dumps(rows, indent=1) + "\n")
    lines = [
        "| working size | GFLOP | resolution ceiling, Dice mean (min) | network bf16 ms | network fp32 ms | validation Dice mean / median |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        val = f"{r['val_dice_mean']:.3f} / {r['val_dice_median']:.3f}" if "val_dice_mean" in r else "not trained"
        lines.append(
            f"| {r['size']}x{r['size']} | {r['gflop']:.1f} | {r['ceiling_dice_mean']:.4f} ({r['ceiling_dice_min']:.4f}) | "
            f"{r['bf16_ms']:.1f} | {r['fp32_ms']:.1f} | {val} |"
        )
    (out / "resolution.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    torch.set_num_threads(max(1, torch.get_num_threads()))
    sys.exit(main())
