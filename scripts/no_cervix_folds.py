"""Held-out non-colposcopy pictures through every fold model of cross-validation runs.

    .venv/bin/python scripts/no_cervix_folds.py --runs runs/cv2_stage2 runs/cv2_recolour \
        --out reports/no_cervix_folds

The test part of ``workshop/negatives.py`` (pictures no model trained on: colour portraits,
animals, a flower, a landscape, things, documents) through the full pipeline of each run's
fold models (``<run>/fold_<k>/best``). A non-colposcopy picture must come back "no cervix";
five fold models per recipe show the spread between trainings that one model hides. Writes
``pictures.csv`` (one row per run, fold and picture), ``summary.json`` / ``summary.md`` (per run:
pictures outlined per fold, and how many of them without "check this result") and
``outlined.jpg`` (every outline the last run drew, over its picture).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cervix_unet import Segmenter  # noqa: E402
from cervix_unet.preprocess import resize_rgb  # noqa: E402
from cervix_unet.workshop.negatives import library_pictures  # noqa: E402

TILE = 160  # px per picture in the sheet


def fold_models(run: Path) -> list[Path]:
    """A run's fold models, in fold order."""
    return sorted(run.glob("fold_*/best"), key=lambda path: int(path.parent.name.split("_")[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", type=Path, required=True, help="cross-validation run folders")
    parser.add_argument("--out", type=Path, default=Path("reports/no_cervix_folds"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    pictures = library_pictures("test")
    rows, summary, sheet = [], {"pictures": len(pictures), "runs": {}}, []
    for run in args.runs:
        models = fold_models(run)
        if not models:
            parser.error(f"{run}: no fold_<k>/best model folders")
        per_fold = []
        for model in tqdm(models, desc=run.name):
            segmenter = Segmenter.from_pretrained(model, backend="torch", max_side=None)
            found = unflagged = 0
            for name, picture in pictures.items():
                result = segmenter(picture)
                found += result.found
                unflagged += result.found and not result.check
                rows.append(
                    {
                        "run": str(run),
                        "fold": model.parent.name,
                        "picture": name,
                        "found": result.found,
                        "check": result.check,
                        "reliability": round(result.reliability, 4),
                    }
                )
                if result.found and run == args.runs[-1]:
                    sheet.append(resize_rgb(result.overlay, TILE))
            per_fold.append({"fold": model.parent.name, "outlined": found, "outlined_unflagged": unflagged})
        outlined = [fold["outlined"] for fold in per_fold]
        summary["runs"][str(run)] = {
            "per_fold": per_fold,
            "outlined_mean": round(float(np.mean(outlined)), 2),
            "outlined_unflagged": sum(fold["outlined_unflagged"] for fold in per_fold),
            "pictures_outlined_by_any_fold": sorted(
                {r["picture"] for r in rows if r["run"] == str(run) and r["found"]}
            ),
        }
    with open(args.out / "pictures.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    lines = [
        f"Held-out non-colposcopy pictures ({len(pictures)}) outlined as a cervix, per fold model",
        "",
        '| run | outlined per fold | mean | outlined without "check" (all folds) |',
        "|---|---|---|---|",
    ]
    for run, figures in summary["runs"].items():
        outlined = ", ".join(str(fold["outlined"]) for fold in figures["per_fold"])
        lines.append(f"| {run} | {outlined} | {figures['outlined_mean']} | {figures['outlined_unflagged']} |")
    (args.out / "summary.md").write_text("\n".join(lines) + "\n")
    if sheet:
        columns = 8
        sheet += [np.zeros_like(sheet[0])] * (-len(sheet) % columns)
        grid = np.concatenate(
            [np.concatenate(sheet[i : i + columns], axis=1) for i in range(0, len(sheet), columns)], axis=0
        )
        Image.fromarray(grid).save(args.out / "outlined.jpg", quality=85)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
