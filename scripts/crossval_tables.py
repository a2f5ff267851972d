"""The per-step and per-fold tables of a stepwise cross-validation (reports/experiments.md), as Markdown.

    .venv/bin/python scripts/crossval_tables.py reports/crossval_all_stage1 \
        reports/crossval_all_stage2 reports/crossval_all_pseudo

One row per report (a step of the recipe): mean Dice per source, with the paired difference from
the report before and its 95% interval where the later report's ``compared.json`` compares the two
(``scripts/compare_crossval.py``), the phone photos' crop-box IoU, AnnoCerv + IARC together as the
targets are stated (mean / median Dice / box IoU), the reliability AUROC for "Dice below 0.85" and
the results below 0.70 with neither low reliability nor a quality flag. Then the last report fold
by fold.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cervix_unet.workshop.crossval import summarise_folds  # noqa: E402
from cervix_unet.workshop.evaluate import read_rows  # noqa: E402
from cervix_unet.workshop.split import PHONE_SOURCE  # noqa: E402

SOURCES = ("annocerv", "iarc_atlas", PHONE_SOURCE)


def familiar_cell(figures: dict) -> str:
    return f"{figures['dice']:.3f} / {figures['dice_median']:.3f} / {figures['box_iou']:.3f}"


def step_table(reports: list[Path]) -> str:
    """One row per report, each compared with the report before it."""
    lines = [
        "| report | " + " | ".join(f"{s} (photos)" for s in SOURCES) + " | phone box IoU"
        " | AnnoCerv + IARC: mean / median / box IoU | AUROC | below 0.70 unflagged |",
        "|---" * (len(SOURCES) + 5) + "|",
    ]
    for i, report in enumerate(reports):
        summary = json.loads((report / "summary.json").read_text())
        compared_path = report / "compared.json"
        compared = json.loads(compared_path.read_text()) if compared_path.is_file() else {}
        paired = i > 0 and Path(compared.get("baseline", "")).resolve() == reports[i - 1].resolve()
        cells = []
        for source in SOURCES:
            figures = summary["by_source"].get(source)
            if figures is None:
                cells.append("-")
                continue
            cell = f"{figures['dice']:.3f} ({figures['images']})"
            if paired and source in compared["dice"]:
                d = compared["dice"][source]
                cell += f", {d['difference']:+.3f} [{d['interval'][0]:+.3f}, {d['interval'][1]:+.3f}]"
            cells.append(cell)
        phone = summary["by_source"].get(PHONE_SOURCE)
        failures = summary["failures"]
        cells += [
            f"{phone['box_iou']:.3f}" if phone else "-",
            familiar_cell(summary["familiar"]) if summary.get("familiar") else "-",
            f"{failures['auroc_reliability']:.3f}",
            str(len(failures["below_0.70_unflagged"])),
        ]
        lines.append(f"| {report.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def fold_table(report: Path) -> str:
    """One row per fold of a report: Dice per source, the phone box IoU, AnnoCerv + IARC together
    (each fold's rows summarised as ``crossval`` summarises a report)."""
    rows = read_rows(report / "per_image.csv")
    lines = [
        "| fold | photos | " + " | ".join(SOURCES) + " | phone box IoU | AnnoCerv + IARC: mean / median / box IoU |",
        "|---" * (len(SOURCES) + 4) + "|",
    ]
    for fold in sorted({r["fold"] for r in rows}):
        summary = summarise_folds([r for r in rows if r["fold"] == fold])
        by_source = summary["by_source"]
        cells = [str(fold), str(summary["images"])] + [f"{by_source[s]['dice']:.3f}" for s in SOURCES]
        cells += [f"{by_source[PHONE_SOURCE]['box_iou']:.3f}", familiar_cell(summary["familiar"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("reports", nargs="+", type=Path, help="cross-validation reports, one per step, in order")
    args = parser.parse_args()
    print(
        step_table(args.reports), "", f"Per fold, {args.reports[-1].name}:", "", fold_table(args.reports[-1]), sep="\n"
    )


if __name__ == "__main__":
    main()
