"""`cervix-unet evaluate`: measure a model against labels, per image and in summary.

    cervix-unet evaluate --weights weights --split val --out reports/val

Writes ``per_image.csv``, ``summary.json`` (mean, median, worst 5 per metric, no-cervix
detection accuracy) and ``worst.png`` (prediction tinted and outlined green, label outline red) in ``--out``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..pipeline import Segmenter, SegmentOptions
from ..quality import RELIABILITY_MIN
from ..render import overlay
from .label_tools import contact_sheet, draw_polygons
from .labels import label_mask, load_labels
from .metrics import mask_metrics
from .split import select_keys, source_of, view_of

METRICS = ["dice", "iou", "hd95", "hd95_fraction", "box_iou"]
FAIL_DICE = 0.85  # a result below this Dice is a failure the reliability score should flag
UNFLAGGED_FAIL_DICE = 0.70  # no result below this may carry neither a low reliability nor a flag
TEXT_COLUMNS = ("image", "source", "view", "flags")  # per-image columns that stay text when read back


def summarise(rows: list[dict]) -> dict:
    """Mean, median, worst-5 per metric, and no-cervix detection accuracy."""
    summary: dict = {"images": len(rows)}
    for metric in METRICS:
        values = np.array([r[metric] for r in rows], dtype=float)
        worst_first = np.argsort(values)[::-1] if metric.startswith("hd95") else np.argsort(values)
        summary[metric] = {
            "mean": float(values.mean()),
            "median": float(np.median(values)),
            "min": float(values.min()),
            "max": float(values.max()),
            "worst5": [{"image": rows[i]["image"], metric: float(values[i])} for i in worst_first[:5]],
        }
    summary["no_cervix_accuracy"] = float(np.mean([r["label_empty"] != r["found"] for r in rows]))
    summary["labelled_empty"] = int(sum(r["label_empty"] for r in rows))
    summary["dice_below_0.6"] = [r["image"] for r in rows if r["dice"] < 0.6 and not r["label_empty"]]
    return summary


def failure_prediction(rows: list[dict], fail_below: float = FAIL_DICE) -> dict:
    """How well the reliability score ranks failures (Dice below ``fail_below``) among photos
    with a labelled cervix: the area under the ROC curve (and the confidence's alone), how many
    failures the score and "check this result" flag and how many good results, and the photos
    below ``UNFLAGGED_FAIL_DICE`` with neither a low reliability score nor a quality flag."""
    from sklearn.metrics import roc_auc_score

    rows = [r for r in rows if not r["label_empty"]]
    fail = np.array([r["dice"] < fail_below for r in rows])
    score = np.array([r["reliability"] for r in rows])
    checked = np.array([bool(r["check"]) for r in rows])
    low = score < RELIABILITY_MIN
    both = 0 < fail.sum() < len(fail)
    return {
        "fail_below": fail_below,
        "photos": len(rows),
        "failures": int(fail.sum()),
        "auroc_reliability": float(roc_auc_score(fail, -score)) if both else None,
        "auroc_confidence": float(roc_auc_score(fail, [-r["confidence"] for r in rows])) if both else None,
        "threshold": RELIABILITY_MIN,
        "failures_low_reliability": int((fail & low).sum()),
        "failures_checked": int((fail & checked).sum()),
        "good_checked": int((~fail & checked).sum()),
        "good": int((~fail).sum()),
        "below_0.70_unflagged": [
            r["image"] for r, lo in zip(rows, low) if r["dice"] < UNFLAGGED_FAIL_DICE and not lo and not r["flags"]
        ],
    }


def worst_sheet(rows: list[dict], labels: dict, segmenter: Segmenter, data_root: Path, count: int) -> Image.Image:
    """Overlay sheet of the lowest-Dice images: prediction green (tint, outline), label outline red."""
    items = []
    for row in sorted(rows, key=lambda r: r["dice"])[:count]:
        result = segmenter(data_root / row["image"])
        picture = draw_polygons(
            Image.fromarray(overlay(result.image, result.mask)),
            labels[row["image"]]["polygons"],
            color=(255, 40, 40),
            width=max(2, result.image.shape[1] // 200),
        )
        items.append((picture, f"Dice {row['dice']:.3f} {row['image'].split('/', 2)[-1]}"))
    return contact_sheet(items, columns=4, thumb_width=360)


def score_images(
    segmenter: Segmenter, keys: list[str], labels: dict, data: str | Path, desc: str = "evaluating"
) -> list[dict]:
    """One row per image: the full pipeline's mask against the label, at the photo's own size."""
    rows = []
    for key in tqdm(keys, desc=desc, unit="image"):
        result = segmenter(Path(data) / key)
        truth = label_mask(labels[key])
        if truth.shape != result.mask.shape:
            raise ValueError(f"{key}: label size {truth.shape} differs from the image {result.mask.shape}")
        rows.append(
            {
                "image": key,
                "source": source_of(key),
                "view": view_of(key),
                "label_empty": not truth.any(),
                "found": result.found,
                "confidence": result.confidence,
                "reliability": result.reliability,
                "check": result.check,
                "flags": "; ".join(result.flags),
                **{f"quality_{k}": v for k, v in result.quality.items()},
                **mask_metrics(result.mask, truth),
            }
        )
    return rows


def write_rows(rows: list[dict], path: Path) -> None:
    """Per-image rows as CSV."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def read_rows(path: Path) -> list[dict]:
    """Per-image rows back from ``write_rows``' CSV, with their types (bools, numbers; text stays text)."""

    def value(text: str) -> object:
        if text in ("True", "False"):
            return text == "True"
        try:
            return int(text) if text.lstrip("-").isdigit() else float(text)
        except ValueError:
            return text

    with open(path, newline="") as f:
        return [{k: value(v) if k not in TEXT_COLUMNS else v for k, v in row.items()} for row in csv.DictReader(f)]


def evaluate(
    weights: str | Path,
    data: str | Path,
    labels_dir: str | Path,
    split: str,
    out: str | Path,
    backend: str = "auto",
    threshold: float = SegmentOptions.threshold,
    worst: int = 12,
    limit: int = 0,
) -> dict:
    """Score ``weights`` on one part of the split; write the report to ``out``; return the summary."""
    labels = load_labels(labels_dir)
    keys = select_keys(labels, labels_dir, split)[: limit or None]
    segmenter = Segmenter.from_pretrained(
        weights, backend=backend, max_side=None, options=SegmentOptions(threshold=threshold)
    )
    rows = score_images(segmenter, keys, labels, data, desc=f"evaluating {split}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_rows(rows, out / "per_image.csv")
    summary = {
        "weights": str(weights),
        "split": split,
        "backend": segmenter.backend.name,
        "threshold": threshold,
        **summarise(rows),
        "by_source": {
            s: summarise([r for r in rows if r["source"] == s])["dice"]["mean"]
            for s in sorted({r["source"] for r in rows})
        },
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    worst_sheet(rows, labels, segmenter, Path(data), worst).save(out / "worst.png")
    return summary
