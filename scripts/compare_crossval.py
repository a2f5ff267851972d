"""Compare two cross-validation reports of the same folds, photo by photo.

    .venv/bin/python scripts/compare_crossval.py reports/crossval_phone reports/crossval_phone_aug

For each source: the mean Dice and crop-box IoU of both, and the paired difference (second minus
first) with a 95% bootstrap interval over photos (a photo scored in several folds counts once,
its differences averaged; with ``--by-photo``, reports over different folds: each photo's mean
over the folds that scored it), and how many photos gained or lost more than 0.01. The rule the
project decides by: a recipe change is kept when the phone photos' interval lies above zero and
neither familiar source loses more than 0.003 on average. The interval is over photos, for these
two trained runs: the same recipe trained again with another seed moved phone photos by +0.0044
(interval +0.0004 to +0.0091; ``reports/experiments.md`` row 22), so a training change should beat
that spread (or be run with two seeds) before it is kept.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cervix_unet.workshop.split import PHONE_SOURCE  # noqa: E402

KEEP_MAX_LOSS = 0.003  # a familiar source may lose at most this much mean Dice


def read_rows(report: Path, by_photo: bool = False) -> dict[tuple[str, str], dict]:
    """Results by (fold, photo); ``by_photo``: by photo alone, a photo scored in several folds
    given its mean, so that reports over different folds pair up."""
    with open(report / "per_image.csv") as f:
        rows = {(r["fold"], r["image"]): r for r in csv.DictReader(f)}
    if not by_photo:
        return rows
    scored: dict[str, list[dict]] = defaultdict(list)
    for (_, image), r in rows.items():
        scored[image].append(r)
    return {
        ("*", image): {**rs[0], **{m: np.mean([float(r[m]) for r in rs]) for m in ("dice", "box_iou")}}
        for image, rs in scored.items()
    }


def paired(first: dict, second: dict, metric: str, rng: np.random.Generator) -> dict[str, dict]:
    """Per source: both means and the bootstrap interval of the mean paired difference."""
    by_photo: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    means: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for key in first.keys() & second.keys():
        a, b = float(first[key][metric]), float(second[key][metric])
        source = first[key]["source"]
        by_photo[source][key[1]].append(b - a)
        means[source].append((a, b))
    out = {}
    for source in sorted(by_photo):
        diffs = np.array([np.mean(v) for v in by_photo[source].values()])
        boot = rng.choice(diffs, (4000, len(diffs))).mean(axis=1)
        pairs = np.array(means[source])
        out[source] = {
            "photos": len(diffs),
            "first": float(pairs[:, 0].mean()),
            "second": float(pairs[:, 1].mean()),
            "difference": float(diffs.mean()),
            "interval": [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))],
            "gained": int((diffs > 0.01).sum()),
            "lost": int((diffs < -0.01).sum()),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("first", type=Path, help="crossval report folder (the baseline)")
    parser.add_argument("second", type=Path, help="crossval report folder (the change)")
    parser.add_argument(
        "--by-photo", action="store_true", help="pair photos whatever fold scored them (reports over different folds)"
    )
    args = parser.parse_args()
    first, second = read_rows(args.first, args.by_photo), read_rows(args.second, args.by_photo)
    if not first.keys() & second.keys():
        parser.error("no photo was scored by the same fold in both reports: compare them with --by-photo")
    rng = np.random.default_rng(0)
    result = {m: paired(first, second, m, rng) for m in ("dice", "box_iou")}
    dice = result["dice"]
    keep = dice[PHONE_SOURCE]["interval"][0] > 0 and all(
        dice[s]["difference"] >= -KEEP_MAX_LOSS for s in dice if s != PHONE_SOURCE
    )
    result["keep"] = bool(keep)
    for metric in ("dice", "box_iou"):
        for source, r in result[metric].items():
            print(
                f"{metric:8s} {source:11s} {r['photos']:4d} photos  {r['first']:.4f} -> {r['second']:.4f}  "
                f"{r['difference']:+.4f} [{r['interval'][0]:+.4f}, {r['interval'][1]:+.4f}]  "
                f"gained {r['gained']}, lost {r['lost']}"
            )
    print(f"keep the change: {keep} (a training change must also beat a reseeding's spread, about 0.005: row 22)")
    (args.second / "compared.json").write_text(json.dumps({"baseline": str(args.first), **result}, indent=1) + "\n")


if __name__ == "__main__":
    main()
