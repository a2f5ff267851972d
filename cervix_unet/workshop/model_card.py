"""The model card (``weights/README.md``), built from a template like smp's ``base/hub_mixin.py``,
filled with the measured evaluation and benchmark numbers so the saved folder documents itself.

    cervix-unet card --weights weights --evaluation reports/val/summary.json --bench reports/bench/bench.json
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData

from ..model import CervixUNet
from ..weights import INT8_ONNX_FILE

TEMPLATE = """---
{{ card_data }}
---
# CervixUNet: cervix segmentation in colposcopy photographs

A U-Net (two 3x3 conv + ReLU per level, widths 32-64-128-256-512, max pooling down, nearest 2x
upsampling + skip concatenation up, 1x1 head; {{ parameters }} parameters) that outlines the
cervix in a colposcopy photograph, so that a crop of the cervix can be handed on to a person or a
lesion model. Input: the whole photo resized to {{ size }}x{{ size }}, RGB in [0, 1]; output: one
logit map (cervix vs not).

> **Research use only. Not a diagnostic device.** It has not been validated clinically and must
> not be used to make clinical decisions.

## Use

```python
from cervix_unet import CervixUNet, Segmenter

model = CervixUNet.from_pretrained("weights")        # or a Hub id; safetensors only
segmenter = Segmenter.from_pretrained("weights")     # the whole pipeline
result = segmenter("photo.jpg")                      # mask, box, crop, overlay, confidence
```

Intended users: researchers building cervical-screening tools, and clinicians trying the demo on
their own photographs. Intended input: a colposcope (or camera) view of the cervix through a
speculum, in any of the usual stages (saline, green filter, acetic acid, Lugol's iodine,
magnified). It says "no cervix found" rather than cropping garbage when the mask is tiny.

## Training data

- **AnnoCerv** (CC BY 4.0): 270 images from 90 cases, after acetic acid, 576x384. Attribution:
  "AnnoCerv: A new dataset for feature-driven and image-based automated colposcopy analysis"
  (AnnoCerv dataset, public GitHub repository iclx/AnnoCerv).
- **IARC Atlas of Colposcopy** (IARC Screening Group, screening.iarc.fr; for education and AI
  research): 243 images from 50 cases, 800x600, all stages of the examination. Credit: IARC
  Screening Group, *Atlas of Colposcopy: Principles and Practice*. Its images are not
  redistributed with this model.
- **Smartphone colposcopy photos** (Intel & MobileODT Cervical Cancer Screening, Kaggle 2017;
  research use): 400 of its photos, stratified by transformation-zone type, taken with a phone
  on a MobileODT EVA colposcope (plastic specula, round vignette, the cervix often small in the
  frame). Not redistributed with this model.
- **Made-up "no cervix" pictures**: {{ negatives }} pictures that ship with scikit-image (grey
  LFW faces tinted to skin tones, a cat, coffee, textures, text), and rendered text pages, with
  empty masks (`cervix_unet/workshop/negatives.py`); a held-out set of other such pictures
  (colour portraits, a landscape, a flower, a page, documents) tests "no cervix".
- **Labels**: no public cervix masks exist for these photographs. The project's own polygons
  (`labels/*.json`, one per image, with annotator, confidence and note) were drawn by eye over a
  coordinate grid following the project's annotation guide (the ectocervix, excluding vaginal
  walls, speculum, instruments and vignetting; empty where no cervix is visible) and reviewed
  over the images; corrections are listed in `labels/CORRECTIONS.md`. Two annotators agree at a
  mean Dice of about 0.96-0.97 (0.960 over 16 same-patient image pairs): that is the labels' own
  noise and the ceiling any model is measured under.
- **Split**: by patient (AnnoCerv case ids that are one patient kept together, look-alike phone
  photos grouped by perceptual hash), {{ train_images }} images for training and
  {{ val_images }} for validation, every source and kind of view in both parts
  (`labels/split.json`).
- **Training**: {{ training }}

## Cross-validated estimate

{{ crossval }}

## Measured on the validation cases

{{ measured_model }}

{{ metrics }}

(Full-size masks, threshold 0.5 on the mean of the photo's and the mirrored photo's maps, largest
component, holes filled, then the same again on the region around that outline where it is
smaller than the photo (the second look, `SegmentOptions.zoom_margin` 0.25); PyTorch fp32, the
source of truth.)

## Files and backends

- `model.safetensors` + `config.json`: the weights (PyTorch, the source of truth).
- `model.onnx`: float32 ONNX export; logits within 1e-3 of PyTorch (`cervix-unet export` checks).
- `model.int8.onnx`: that export with static 8-bit quantisation (per-channel weights, calibrated
  on 64 training photos of every source), about 1.6x faster than float32 on CPUs without native bfloat16.
  {{ int8 }}

`Segmenter.from_pretrained("weights")` picks bfloat16 PyTorch on CPUs with native bf16 (masks
agree with fp32 at Dice >= 0.999), else the int8 export, else the float32 one, else PyTorch
fp32; an export is used only if its recorded weights hash matches `model.safetensors`.

## Speed

{{ speed }}

## Limits and failure modes

{{ limits }}
"""


def format_metrics(summary: dict) -> str:
    """Markdown table of an evaluation summary (from ``cervix-unet evaluate``)."""
    rows = ["| metric | mean | median | worst |", "|---|---|---|---|"]
    for key, label in [
        ("dice", "Dice"),
        ("iou", "IoU"),
        ("box_iou", "crop box IoU"),
        ("hd95", "HD95 (pixels)"),
        ("hd95_fraction", "HD95 / image diagonal"),
    ]:
        m = summary[key]
        worst = m["max"] if key.startswith("hd95") else m["min"]
        rows.append(f"| {label} | {m['mean']:.3f} | {m['median']:.3f} | {worst:.3f} |")
    by_source = ", ".join(f"{s} {v:.3f}" for s, v in summary.get("by_source", {}).items())
    rows += [
        "",
        f"{summary['images']} validation images; mean Dice by source: {by_source}; "
        f"images below Dice 0.6: {len(summary['dice_below_0.6'])}; "
        f"no-cervix detection accuracy {summary['no_cervix_accuracy']:.3f} "
        f"({summary['labelled_empty']} labelled empty). Backend {summary['backend']}.",
    ]
    return "\n".join(rows)


def measured_model(metrics: dict | None, val_images: int) -> str:
    """Which model the validation figures describe: these weights, or a model trained without the
    validation photos (when these weights are a refit on every labelled photo)."""
    if not metrics:
        return ""
    if metrics["weights"] in ("weights", "."):
        return f"These weights, on the {val_images} validation photos they did not train on."
    return (
        f"The shipped weights are a refit on every labelled photo, so no photo of the pool is unseen by "
        f"them. The figures are those of a model trained on the training part only "
        f"(`{metrics['weights']}`; the training section says with which recipe), on the {val_images} "
        f"validation photos: one split. The cross-validated estimate above is the one recipe "
        f"decisions were made by."
    )


def describe_recipe(recipe: dict) -> str:
    """A cross-validated recipe in a few words: start, schedule, data."""
    init = recipe.get("init", "")
    start = f"from `{init}`" if init else "from a fresh (Glorot) start"
    if "{fold}" in init:
        start = f"from each fold's own model of an earlier step, `{init}`"
    extras = [
        text
        for key, text in [
            ("negatives", "the made-up non-colposcopy pictures"),
            ("balance_sources", "each source drawn equally often"),
            ("pseudo_labels", "a teacher's masks of the unlabelled phone photos"),
        ]
        if recipe.get(key)
    ]
    precision = "bfloat16" if recipe.get("bf16") else "float32"
    return f"{start}, {recipe['epochs']} epochs, Adam {recipe['lr']:g}, {precision}" + "".join(f", {e}" for e in extras)


def format_crossval(summary: dict | None, report: str) -> str:
    """Per-source figures of a ``cervix-unet crossval`` report of these weights' recipe, the spread
    across its folds and how well the reliability score predicted failure there."""
    if not summary:
        return "Not run yet."
    recipe = summary.get("recipe", {})
    folded = f"the {recipe['fold_sources']} photos" if recipe.get("fold_sources") else "every source"
    planned = recipe.get("folds", summary["folds"])
    folds = f"{summary['folds']}" if summary["folds"] >= planned else f"{summary['folds']} of {planned}"
    rows = [
        f"{folds} patient-wise folds over {folded} (`{report}`); each photo scored by the "
        f"fold model that never trained on it, with the recipe of these weights ({describe_recipe(recipe)})"
        + (
            f"; the other sources' validation part held out in every fold, since the starting weights "
            f"`{recipe['init']}` trained on their training part"
            if recipe.get("fold_sources") and recipe.get("init")
            else ""
        )
        + (". A photo held out in every fold counts once per fold:" if recipe.get("fold_sources") else ":"),
        "",
        "| source | results | Dice mean | Dice median | box IoU mean | worst fold's Dice |",
        "|---|---|---|---|---|---|",
    ]
    groups = dict(summary["by_source"])
    if summary.get("familiar"):
        groups["AnnoCerv + IARC"] = summary["familiar"]
    for source, s in groups.items():
        worst = f"{s['dice_worst_fold']:.3f}" if "dice_worst_fold" in s else "-"
        rows.append(
            f"| {source} | {s['images']} | {s['dice']:.3f} | {s['dice_median']:.3f} | {s['box_iou']:.3f} | {worst} |"
        )
    a, f = summary["across_folds"]["dice"], summary["failures"]
    rows += [
        "",
        f"Dice per fold: mean {a['mean']:.3f}, SD {a['std']:.3f}, worst fold {a['min']:.3f}. Reliability "
        f'score: AUROC {f["auroc_reliability"] or float("nan"):.3f} for Dice below {f["fail_below"]}; "check this result" '
        f"flags {f['failures_checked']} of the {f['failures']} failures and {f['good_checked']} of the "
        f"{f['photos'] - f['failures']} good results.",
    ]
    return "\n".join(rows)


def format_int8(fp32: dict | None, int8: dict | None, agreement: str = "") -> str:
    """The int8 export's agreement with float32 as its export recorded it, and its validation
    scores beside PyTorch fp32's when both evaluations are of these weights."""
    if agreement:
        return f"Checked by `cervix-unet export`: {agreement}."
    if not (fp32 and int8) or fp32["weights"] != int8["weights"]:
        return "Its validation scores have not been measured yet."
    return (
        f"On the validation cases: Dice mean {int8['dice']['mean']:.4f} / median {int8['dice']['median']:.4f} / "
        f"worst {int8['dice']['min']:.4f}, against {fp32['dice']['mean']:.4f} / {fp32['dice']['median']:.4f} / "
        f"{fp32['dice']['min']:.4f} for PyTorch fp32 (`--backend onnx-int8 --out reports/val_int8`)."
    )


def format_speed(bench: dict) -> str:
    m = bench["machine"]
    size = next(iter(bench["network"]))
    net = bench["network"][size]["backends"]
    fastest = min(net, key=lambda k: net[k]["median"])
    pipe = bench["pipeline"]
    lines = [
        f"On {m['cpu']} ({m['threads']} threads): the network at {size}x{size} takes "
        f"{net[fastest]['median']:.1f} ms with {fastest}."
    ]
    for backend, runs in pipe.items():
        lines.append(
            f"- pipeline, backend `{backend}`: "
            + "; ".join(f"{p} {run['end_to_end']['median']:.1f} ms" for p, run in runs["photos"].items())
        )
    return "\n".join(lines)


def build_card(
    model: CervixUNet,
    metrics: dict | None,
    benches: list[dict],
    training: str,
    limits: str,
    train_images: int,
    val_images: int,
    metrics_int8: dict | None = None,
    int8_agreement: str = "",
    crossval: list[tuple[dict | None, str]] | None = None,
) -> ModelCard:
    from .negatives import library_pictures

    info = model._hub_mixin_info.model_card_data
    data = ModelCardData(
        library_name="cervix-unet",
        license="mit",
        tags=list(info.tags or []),
        pipeline_tag="image-segmentation",
        datasets=["AnnoCerv", "IARC Atlas of Colposcopy", "Intel & MobileODT Cervical Cancer Screening"],
        metrics=["dice", "iou"],
    )
    return ModelCard.from_template(
        data,
        template_str=TEMPLATE,
        parameters=f"{sum(p.numel() for p in model.parameters()):,}",
        size=model.input_size,
        train_images=train_images,
        val_images=val_images,
        negatives=len(library_pictures("train")),
        measured_model=measured_model(metrics, val_images),
        crossval="\n\n".join(format_crossval(summary, report) for summary, report in crossval or []) or "Not run yet.",
        training=training,
        metrics=format_metrics(metrics) if metrics else "Not measured yet.",
        speed="\n\n".join(format_speed(b) for b in benches) + "\n\nReproduce: `cervix-unet bench --weights weights`."
        if benches
        else "Not measured yet.",
        limits=limits,
        int8=format_int8(metrics, metrics_int8, int8_agreement),
    )


def int8_agreement(weights: str | Path) -> str:
    """What the int8 export's own check found, from its metadata ("" without one)."""
    path = Path(weights) / INT8_ONNX_FILE
    if not path.is_file():
        return ""
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    return meta.get("agreement", "")


def write_card(
    weights: str | Path,
    labels_dir: str | Path,
    evaluation: str,
    evaluation_int8: str,
    benches: list[str],
    training: str,
    limits: str,
    crossval: list[str] | None = None,
) -> Path:
    """Build the card from the report files that exist and save it as ``weights/README.md``."""
    from .labels import load_labels
    from .split import select_keys

    def read(path: str, kind: Callable = json.loads) -> object:
        p = Path(path)
        return kind(p.read_text()) if p.is_file() else None

    model = CervixUNet.from_pretrained(weights)
    labels = load_labels(labels_dir)
    card = build_card(
        model,
        read(evaluation),
        [b for b in map(read, benches) if b],
        read(training, str) or "",
        read(limits, str) or "",
        len(select_keys(labels, labels_dir, "train")),
        len(select_keys(labels, labels_dir, "val")),
        read(evaluation_int8),
        int8_agreement(weights),
        [
            (read(path), str(Path(path).parent))
            for i, path in enumerate(crossval or [])
            if i == 0 or Path(path).is_file()
        ],
    )
    card.save(Path(weights) / "README.md")
    return Path(weights) / "README.md"
