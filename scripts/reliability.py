"""Measure the quality-flag thresholds and how well the reliability score predicts failure.

    .venv/bin/python scripts/reliability.py --weights weights --out reports/reliability

- Thresholds: every quality measure (quality.py) over every labelled photo, with the shipped
  model's masks; the percentiles that the flags' thresholds were set at are reported beside them.
- Failure prediction, on photos the shipped weights never trained on (the split's validation
  part and the phone photos): AUROC of the reliability score for "Dice below 0.85", how many
  failures "check this result" flags, how many good results it flags needlessly, and photos
  below Dice 0.70 that carry neither a low score nor a flag.
- No cervix: the pool's empty labels and the held-out part of the made-up non-colposcopy
  pictures (workshop/negatives.py: faces, a landscape, a flower, documents, a page, a clock,
  patterns; none of them trained on): how many come back "no cervix found".
- ``--unseen val`` for weights trained on the split's training part including phone photos
  (the default, ``val+mobileodt``, is for weights that never saw a phone photo).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cervix_unet import Segmenter, quality  # noqa: E402
from cervix_unet.workshop.evaluate import FAIL_DICE, failure_prediction, score_images, write_rows  # noqa: E402
from cervix_unet.workshop.labels import load_labels  # noqa: E402
from cervix_unet.workshop.negatives import library_pictures  # noqa: E402
from cervix_unet.workshop.split import select_keys  # noqa: E402


def chart(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    for source, colour in [("annocerv", "tab:blue"), ("iarc_atlas", "tab:orange"), ("mobileodt", "tab:green")]:
        part = [r for r in rows if r["source"] == source]
        ax.scatter([r["reliability"] for r in part], [r["dice"] for r in part], s=12, c=colour, label=source, alpha=0.7)
    ax.axvline(quality.RELIABILITY_MIN, color="k", ls="--", lw=1, label=f"check below {quality.RELIABILITY_MIN}")
    ax.axhline(FAIL_DICE, color="r", ls=":", lw=1, label=f"failure: Dice < {FAIL_DICE}")
    ax.set_xlabel("reliability (confidence x mirrored-photo agreement)")
    ax.set_ylabel("Dice against the label")
    ax.set_title("Reliability against Dice, photos the model never trained on")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default="weights")
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--labels", default="labels")
    parser.add_argument("--out", default="reports/reliability")
    parser.add_argument("--unseen", choices=["val", "val+mobileodt"], default="val+mobileodt")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    labels = load_labels(args.labels)
    segmenter = Segmenter.from_pretrained(args.weights, max_side=None)
    rows = score_images(segmenter, sorted(labels), labels, args.data, "scoring the pool")
    write_rows(rows, out / "per_image.csv")
    unseen = set(select_keys(labels, args.labels, "val"))
    if args.unseen == "val+mobileodt":
        unseen |= {k for k in labels if k.startswith("mobileodt/")}
    held = [r for r in rows if r["image"] in unseen and not r["label_empty"]]
    measures = {
        m: np.array([r[f"quality_{m}"] for r in rows]) for m in ("sharpness", "glare", "brightness", "border", "area")
    }
    found_pool = np.array([r["found"] for r in rows])
    empties = [r for r in rows if r["label_empty"]]
    others = {name: segmenter(picture) for name, picture in library_pictures("test").items()}
    report = {
        **failure_prediction(held),
        "flag_rates_pool": {f: float(np.mean([f in r["flags"].split("; ") for r in rows])) for f in quality.FLAG_TEXT},
        "percentile_of_threshold": {
            "blurred (sharpness)": float((measures["sharpness"] < quality.BLUR_MAX_SHARPNESS).mean()),
            "glare": float((measures["glare"][found_pool] > quality.GLARE_MIN_FRACTION).mean()),
            "under-exposed": float((measures["brightness"] < quality.DARK_MAX_BRIGHTNESS).mean()),
            "over-exposed": float((measures["brightness"] > quality.BRIGHT_MIN_BRIGHTNESS).mean()),
            "cut by the frame": float((measures["border"][found_pool] > quality.CUT_MIN_BORDER_FRACTION).mean()),
            "small": float((measures["area"][found_pool] < quality.SMALL_MAX_AREA).mean()),
        },
        "measure_percentiles": {
            m: {p: float(np.percentile(v, p)) for p in (2, 5, 50, 95, 98)} for m, v in measures.items()
        },
        "empty_labels": {r["image"]: {"found": r["found"], "check": r["check"]} for r in empties},
        "weights": args.weights,
        "unseen": args.unseen,
        "non_colposcopy_no_cervix": f"{sum(not r.found for r in others.values())} of {len(others)}",
        "pool_found": f"{int(found_pool.sum())} of {len(rows)} photos",
        "non_colposcopy": {
            n: {"found": r.found, "reliability": round(r.reliability, 3), "check": r.check} for n, r in others.items()
        },
        "by_source": {
            s: {
                "photos": int(sum(r["source"] == s for r in held)),
                "dice_mean": float(np.mean([r["dice"] for r in held if r["source"] == s])),
                "dice_median": float(np.median([r["dice"] for r in held if r["source"] == s])),
                "box_iou_mean": float(np.mean([r["box_iou"] for r in held if r["source"] == s])),
            }
            for s in sorted({r["source"] for r in held})
        },
    }
    (out / "reliability.json").write_text(json.dumps(report, indent=1) + "\n")
    chart(held, out / "reliability.png")
    print(json.dumps({k: v for k, v in report.items() if k not in ("measure_percentiles", "empty_labels")}, indent=1))


if __name__ == "__main__":
    main()
