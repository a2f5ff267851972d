"""Choose post-processing options by cross-validation, without training again.

    .venv/bin/python scripts/postprocess_cv.py --runs runs/cv_phone --report reports/crossval_phone \
        --out reports/postprocess_cv

Each fold's model (``<runs>/fold_k/best``) meets the photos that fold held out (read from the
crossval report's ``per_image.csv``) once; its two maps (photo and mirrored photo) are then
post-processed with every variant: the mask from the photo's map or from the mean of both maps
(test-time flip), at each threshold; then, flip-averaged at threshold 0.5 (or each of
``--zoom-thresholds``), with a second look around the first outline at each zoom margin
(``SegmentOptions.zoom_margin``; this runs the network again on the zoomed region). Figures per source, per fold and for the reliability score
go to ``summary.json`` and ``summary.md``, with each variant's paired difference from
``--baseline`` (``compare_crossval.paired``: 95% bootstrap interval over photos); every photo's
figures under every variant to ``per_image.csv``. ``--four-way`` adds the upside-down views to each
look's average; ``--shapes`` reshapes the baseline's masks (convex hull, opening);
``--photo-aspect`` grows the second look's region to the photo's aspect ratio. The script decides
nothing: the default chosen from these figures, and why, is in ``reports/experiments.md`` (rows 4, 6,
15, 16 and 20).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import sys
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from compare_crossval import paired  # noqa: E402  (scripts/ is on the path: this script's folder)

import cervix_unet.pipeline  # noqa: E402
from cervix_unet import Segmenter, SegmentOptions  # noqa: E402
from cervix_unet.crop import box_iou, expand_box, mask_box  # noqa: E402
from cervix_unet.image_io import read_image  # noqa: E402
from cervix_unet.preprocess import resize_rgb  # noqa: E402
from cervix_unet.workshop.evaluate import failure_prediction  # noqa: E402
from cervix_unet.workshop.labels import label_mask, load_labels  # noqa: E402
from cervix_unet.workshop.metrics import DiceScore  # noqa: E402
from cervix_unet.workshop.split import source_of  # noqa: E402


def variant_name(flip: bool | str, threshold: float, zoom: float | None = None) -> str:
    kind = flip if isinstance(flip, str) else "flip-average" if flip else "single"
    return f"{kind} t={threshold:g}" + ("" if zoom is None else f" zoom {zoom:g}")


def convex_hull(mask: np.ndarray) -> np.ndarray:
    """The mask filled out to the convex hull of its largest region (the cervix is a dome)."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return mask
    hull = np.zeros(mask.shape, np.uint8)
    cv2.fillPoly(hull, [cv2.convexHull(max(contours, key=cv2.contourArea))], 1)
    return hull.astype(bool)


def opened(mask: np.ndarray, fraction: float) -> np.ndarray:
    """The mask less its thin outgrowths: a morphological opening by a disc whose diameter is
    ``fraction`` of the mask's square-root area (computed on a copy at most 512 px wide, then
    intersected with the full-size mask, so that its own edge stays where it was)."""
    area = int(np.count_nonzero(mask))
    if not area:
        return mask
    h, w = mask.shape
    scale = min(1.0, 512 / max(h, w))
    small = cv2.resize(mask.astype(np.uint8), (round(w * scale), round(h * scale)), interpolation=cv2.INTER_NEAREST)
    d = max(3, int(fraction * np.sqrt(area) * scale) | 1)
    small = cv2.morphologyEx(small, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (d, d)))
    if not small.any():
        return mask
    _, components, stats, _ = cv2.connectedComponentsWithStats(small)
    small = (components == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
    small = cv2.dilate(small, np.ones((3, 3), np.uint8))  # the resize's own step, not the opening's
    return mask & (cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST) > 0)


def photo_aspect_box(box: tuple[int, int, int, int], margin: float, size: tuple[int, int]) -> tuple[int, ...]:
    """``expand_box``, then its shorter side grown about its centre (kept inside the photo) to the
    photo's aspect ratio, so that the second look's view is squashed to the working size as the
    whole photo is in training (a 4:3 photo's content narrowed by 0.75), not by the cervix's shape."""
    x0, y0, x1, y1 = expand_box(box, margin, size)
    width, height = size
    w, h = x1 - x0, y1 - y0
    w, h = (
        (min(width, round(h * width / height)), h)
        if w * height < h * width
        else (w, min(height, round(w * height / width)))
    )
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    nx0 = int(min(max(0, round(cx - w / 2)), width - w))
    ny0 = int(min(max(0, round(cy - h / 2)), height - h))
    return nx0, ny0, nx0 + w, ny0 + h


def four_way_maps(segmenter: Segmenter):
    """``network_maps`` over four views: the photo's map averaged with its upside-down copy's, and
    the mirrored photo's averaged with the mirrored upside-down copy's (training flips photos
    vertically one time in five), so that ``flip_average`` then means all four."""

    def maps(small: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        probability, flipped = Segmenter.network_maps(segmenter, small)
        upside, upside_flipped = Segmenter.network_maps(segmenter, small[::-1])
        return (probability + upside[::-1]) * np.float32(0.5), (flipped + upside_flipped[::-1]) * np.float32(0.5)

    return maps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="runs/cv_phone", help="crossval --out folder (fold_k/best)")
    parser.add_argument("--report", default="reports/crossval_phone", help="crossval --report folder")
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--labels", default="labels")
    parser.add_argument("--thresholds", type=float, nargs="*", default=[0.4, 0.5, 0.6])
    parser.add_argument("--zoom-margins", type=float, nargs="*", default=[0.1, 0.25, 0.5])
    parser.add_argument(
        "--zoom-thresholds", type=float, nargs="*", default=[0.5], help="thresholds tried with the second look"
    )
    parser.add_argument("--baseline", default=variant_name(True, 0.5), help="the variant others are compared with")
    parser.add_argument(
        "--four-way", action="store_true", help="also average the upside-down views' maps (four views a look)"
    )
    parser.add_argument(
        "--shapes", action="store_true", help="also the baseline's mask filled to its convex hull, or opened"
    )
    parser.add_argument(
        "--photo-aspect", action="store_true", help="also the second look's region grown to the photo's aspect ratio"
    )
    parser.add_argument("--limit", type=int, default=0, help="at most this many photos per fold (smoke runs)")
    parser.add_argument("--out", default="reports/postprocess_cv")
    args = parser.parse_args()

    labels = load_labels(args.labels)
    with open(Path(args.report) / "per_image.csv") as f:
        held = [(int(r["fold"]), r["image"]) for r in csv.DictReader(f)]
    variants = [(flip, t, None) for flip, t in itertools.product([False, True], args.thresholds)]
    variants += [(True, t, zoom) for zoom in args.zoom_margins for t in args.zoom_thresholds]
    if args.four_way:
        variants += [("four-way", 0.5, zoom) for zoom in args.zoom_margins or [None]]
    if args.photo_aspect:
        variants += [("photo-aspect", 0.5, zoom) for zoom in args.zoom_margins]
    if args.baseline not in {variant_name(*v) for v in variants}:
        parser.error(f"--baseline {args.baseline!r} is not among the variants run (see --thresholds)")
    rows: dict[str, list[dict]] = defaultdict(list)
    for fold in sorted({k for k, _ in held}):
        segmenter = Segmenter.from_pretrained(Path(args.runs) / f"fold_{fold}" / "best", backend="torch", max_side=None)
        four_way = four_way_maps(segmenter)
        for key in tqdm([i for k, i in held if k == fold][: args.limit or None], desc=f"fold {fold}", unit="image"):
            decoded = read_image(Path(args.data) / key)
            small = resize_rgb(decoded.pixels, segmenter.size)
            maps = {"two-way": segmenter.network_maps(small)}
            if args.four_way:
                maps["four-way"] = four_way(small)
            truth = label_mask(labels[key])
            for flip, threshold, zoom in variants:
                four = flip == "four-way"
                probability, flipped = maps["four-way" if four else "two-way"]
                options = SegmentOptions(threshold=threshold, flip_average=bool(flip), zoom_margin=zoom)
                if four:  # the second look sees four views as well
                    segmenter.network_maps = four_way
                if flip == "photo-aspect":
                    cervix_unet.pipeline.expand_box = photo_aspect_box
                result = segmenter.postprocess(decoded.pixels, probability, options, flipped=flipped, small=small)
                segmenter.__dict__.pop("network_maps", None)
                cervix_unet.pipeline.expand_box = expand_box
                name = variant_name(flip, threshold, zoom)
                masks = {name: result.mask}
                if args.shapes and name == args.baseline:
                    masks[f"{name} hull"] = convex_hull(result.mask)
                    masks.update({f"{name} open {f:g}": opened(result.mask, f) for f in (0.15, 0.3)})
                for variant, mask in masks.items():
                    rows[variant].append(
                        {
                            "fold": fold,
                            "image": key,
                            "source": source_of(key),
                            "label_empty": not truth.any(),
                            "dice": float(DiceScore().add(mask, truth).values()[0]),
                            "box_iou": box_iou(mask_box(mask), mask_box(truth)),
                            "reliability": result.reliability,
                            "confidence": result.confidence,
                            "check": result.check,
                            "flags": "; ".join(result.flags),
                        }
                    )

    summary = {}
    for name, part in rows.items():
        entry = {}
        for source in sorted({r["source"] for r in part}):
            own = [r for r in part if r["source"] == source]
            folds = sorted({r["fold"] for r in own})
            entry[source] = {
                "photos": len(own),
                "dice_mean": float(np.mean([r["dice"] for r in own])),
                "dice_median": float(np.median([r["dice"] for r in own])),
                "box_iou_mean": float(np.mean([r["box_iou"] for r in own])),
                "dice_per_fold": [float(np.mean([r["dice"] for r in own if r["fold"] == k])) for k in folds],
            }
        failures = failure_prediction(part)
        entry["reliability"] = {
            k: failures[k] for k in ("auroc_reliability", "failures", "failures_checked", "good_checked")
        }
        entry["reliability"]["below_0.70_unflagged"] = len(failures["below_0.70_unflagged"])
        if name != args.baseline:
            base = {(r["fold"], r["image"]): r for r in rows[args.baseline]}
            this = {(r["fold"], r["image"]): r for r in part}
            entry["versus_baseline"] = {m: paired(base, this, m, np.random.default_rng(0)) for m in ("dice", "box_iou")}
        summary[name] = entry
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    with open(out / "per_image.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["variant", *next(iter(rows.values()))[0]])
        writer.writeheader()
        writer.writerows({"variant": name, **row} for name, part in rows.items() for row in part)
    sources = [s for s in summary[args.baseline] if s != "reliability"]
    lines = [
        f"# Post-processing chosen by cross-validation ({args.report}, models {args.runs}/fold_k/best)",
        "",
        "| variant | "
        + " | ".join(f"{s} Dice mean / median / box IoU" for s in sources)
        + " | AUROC | below 0.70 unflagged | "
        + " | ".join(f"{s} Dice vs baseline" for s in sources)
        + " |",
        "|---|" + "---|" * (2 * len(sources) + 2),
    ]
    for name, entry in summary.items():
        cells = [
            f"{entry[s]['dice_mean']:.4f} / {entry[s]['dice_median']:.4f} / {entry[s]['box_iou_mean']:.4f}"
            for s in sources
        ]
        r = entry["reliability"]
        versus = entry.get("versus_baseline", {}).get("dice", {})
        changes = [
            f"{versus[s]['difference']:+.4f} [{versus[s]['interval'][0]:+.4f}, {versus[s]['interval'][1]:+.4f}]"
            if s in versus
            else "baseline"
            for s in sources
        ]
        lines.append(
            f"| {name} | "
            + " | ".join(cells)
            + f" | {r['auroc_reliability'] or float('nan'):.3f} | {r['below_0.70_unflagged']} | "
            + " | ".join(changes)
            + " |"
        )
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
