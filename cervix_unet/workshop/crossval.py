"""Patient-wise k-fold cross-validation: the honest estimate every recipe decision is made by.

    cervix-unet crossval --out runs/cv --epochs 120          # trains fold_0 ... fold_4, resumable
    -> reports: per_image.csv, summary.json, summary.md (mean and spread across folds,
       per source and per view kind), worst.png per fold

Folds come from ``split.make_folds``: patient and look-alike groups kept whole, every source and
view kind spread over the folds, drawn with a fixed seed so that every recipe meets the same
folds. Each fold's best model is scored on its held-out photos by the full pipeline at the
photo's own size (``evaluate.score_images``), the same way the evaluation report scores.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from ..pipeline import Segmenter
from .evaluate import failure_prediction, read_rows, score_images, summarise, worst_sheet, write_rows
from .labels import load_labels
from .split import PHONE_SOURCE
from .train import TrainConfig, held_out_keys, train

METRICS = ("dice", "iou", "box_iou")


def spread(values: list[float]) -> dict[str, float]:
    """Mean, standard deviation, lowest and highest of per-fold figures."""
    v = np.array(values, dtype=float)
    return {
        "mean": float(v.mean()),
        "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
        "min": float(v.min()),
        "max": float(v.max()),
    }


def group_figures(part: list[dict]) -> dict:
    """Pooled means and median Dice of some held-out results, with their Dice per fold and the worst fold."""
    per_fold = [float(np.mean([r["dice"] for r in part if r["fold"] == f])) for f in sorted({r["fold"] for r in part})]
    return {
        "images": len(part),
        **{m: float(np.mean([r[m] for r in part])) for m in METRICS},
        "dice_median": float(np.median([r["dice"] for r in part])),
        "box_iou_median": float(np.median([r["box_iou"] for r in part])),
        "dice_per_fold": per_fold,
        "dice_worst_fold": min(per_fold),
    }


def summarise_folds(rows: list[dict]) -> dict:
    """Pooled figures over every held-out photo, per-fold means and their spread, the pooled
    figures per source and per view kind, and the familiar sources (all but the phone photos)
    together, as the targets are stated."""
    folds = sorted({r["fold"] for r in rows})
    summary: dict = {"images": len(rows), "folds": len(folds), "pooled": summarise(rows)}
    summary["per_fold"] = {m: [float(np.mean([r[m] for r in rows if r["fold"] == f])) for f in folds] for m in METRICS}
    summary["across_folds"] = {m: spread(summary["per_fold"][m]) for m in METRICS}
    summary["failures"] = failure_prediction(rows)
    for column in ("source", "view"):
        summary[f"by_{column}"] = {
            value: group_figures([r for r in rows if r[column] == value]) for value in sorted({r[column] for r in rows})
        }
    familiar = [r for r in rows if r["source"] != PHONE_SOURCE]
    summary["familiar"] = group_figures(familiar) if familiar else None
    return summary


def recipe(config: TrainConfig) -> dict:
    """The training config's values that make the recipe (not where it runs or which fold)."""
    return {k: v for k, v in asdict(config).items() if k not in ("out", "resume", "fold")}


def markdown(summary: dict, config: TrainConfig) -> str:
    """The summary as Markdown tables."""
    a, p = summary["across_folds"], summary["pooled"]
    lines = [
        f"# Cross-validation ({summary['folds']} folds, {summary['images']} photos)",
        "",
        f"Recipe: `{json.dumps(recipe(config))}`",
        "",
        "| | mean over folds | SD | worst fold | pooled median |",
        "|---|---|---|---|---|",
    ]
    for m in METRICS:
        lines.append(f"| {m} | {a[m]['mean']:.4f} | {a[m]['std']:.4f} | {a[m]['min']:.4f} | {p[m]['median']:.4f} |")
    f = summary["failures"]
    lines += [
        "",
        f"Reliability: AUROC {f['auroc_reliability']} for Dice below {f['fail_below']} ({f['failures']} failures "
        f"of {f['photos']}); 'check this result' flags {f['failures_checked']} of the failures and "
        f"{f['good_checked']} good results; below 0.70 with neither a low reliability nor a quality flag: {len(f['below_0.70_unflagged'])}.",
    ]
    for column in ("source", "view"):
        lines += [
            "",
            f"| {column} | images | Dice mean | Dice median | IoU mean | box IoU mean | box IoU median | worst fold's Dice |",
            "|---|---|---|---|---|---|---|---|",
        ]
        groups = dict(summary[f"by_{column}"])
        if column == "source" and summary.get("familiar"):
            groups["familiar (all but phone)"] = summary["familiar"]
        for value, s in groups.items():
            lines.append(
                f"| {value} | {s['images']} | {s['dice']:.4f} | {s['dice_median']:.4f} | {s['iou']:.4f} "
                f"| {s['box_iou']:.4f} | {s['box_iou_median']:.4f} | {s['dice_worst_fold']:.4f} |"
            )
    return "\n".join(lines) + "\n"


def scored_rows(config: TrainConfig, report: Path) -> list[dict]:
    """The results of the folds already scored in ``report`` by the same recipe ([] if none):
    a cross-validation stopped after some folds goes on without their models or checkpoints
    (run folders do not outlive a machine; the report is kept). A training option added since
    the report was written counts as its default."""
    summary, rows = report / "summary.json", report / "per_image.csv"
    if not (summary.is_file() and rows.is_file()):
        return []
    stored = {**recipe(TrainConfig()), **json.loads(summary.read_text()).get("recipe", {})}  # later fields: defaults
    return read_rows(rows) if stored == recipe(config) else []


def crossval(config: TrainConfig, report: str | Path, backend: str = "torch") -> dict:
    """Train one model per fold (each resumable from its checkpoint) and score it on the photos
    it never saw; write the report to ``report`` and return the summary. Folds the report
    already holds for the same recipe are kept, not trained again; ``config.fold`` >= 0 runs
    that fold alone (a long cross-validation one fold at a time)."""
    labels = load_labels(config.labels)
    report = Path(report)
    report.mkdir(parents=True, exist_ok=True)
    rows = scored_rows(config, report)
    summary = write_report(rows, config, report) if rows else {}
    for k in range(config.folds) if config.fold < 0 else [config.fold]:  # --fold K: that fold alone
        if any(r["fold"] == k for r in rows):
            print(f"fold {k}: scored already in {report}", flush=True)
            continue
        held_out = held_out_keys(config, labels, k)
        fold_config = replace(config, fold=k, out=str(Path(config.out) / f"fold_{k}"), resume=True)
        best = train(fold_config)
        segmenter = Segmenter.from_pretrained(best, backend=backend, max_side=None)
        keys = held_out[: config.max_images or None]
        fold_rows = [{"fold": k, **row} for row in score_images(segmenter, keys, labels, config.data, f"fold {k}")]
        worst_sheet(fold_rows, labels, segmenter, Path(config.data), 8).save(report / f"worst_fold_{k}.png")
        rows += fold_rows
        summary = write_report(rows, config, report)  # after every fold: a stopped run keeps what it has
    return summary


def write_report(rows: list[dict], config: TrainConfig, report: Path) -> dict:
    """per_image.csv, summary.json and summary.md of the folds scored so far."""
    write_rows(rows, report / "per_image.csv")
    summary = {**summarise_folds(rows), "recipe": recipe(config)}
    (report / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (report / "summary.md").write_text(markdown(summary, config))
    return summary
