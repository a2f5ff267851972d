"""Three "no cervix" rules for non-colposcopy pictures, measured (none is in the pipeline).

    .venv/bin/python scripts/no_cervix_gates.py --weights weights --crossval reports/crossval_all_stage2 \
        --out reports/no_cervix_gates

The pipeline says "no cervix" when the network's outline covers under 2% of the photo; some
non-colposcopy pictures (faces, a flower, a landscape) still get an outline. Three extra rules:

- A reliability floor: "no cervix" below a reliability R. Safe only if R lies below every true
  cervix's reliability; the cross-validation's results (``--crossval``: each photo scored by a
  model that never saw it) give the lowest, beside the held-out pictures' reliabilities.
- A distance from colposcopy: the network's deepest features (the 8x8x512 bottleneck at 128 px;
  per channel mean and max, log1p) of the labelled photos and of unlabelled phone photos; a
  Gaussian (Ledoit-Wolf covariance) fitted on every other photo, the Mahalanobis distance of the
  rest and of the non-colposcopy pictures of both parts (workshop/negatives.py). It separates
  if the pictures lie beyond the held-out photos' distances.
- A colour distance: each picture's Lab colour histogram (a-b chroma 8x8, lightness 6 bins, of a
  96-px thumbnail), its distance to the 5th nearest photo. A picture is "no cervix" beyond the
  photos' largest leave-one-out distance. A new device is the risk: each source in turn is left
  out, the threshold taken from the others, and its photos beyond it counted (true cervices lost).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from sklearn.covariance import LedoitWolf
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cervix_unet import CervixUNet, Segmenter  # noqa: E402
from cervix_unet.image_io import decode_image  # noqa: E402
from cervix_unet.preprocess import resize_rgb, to_batch  # noqa: E402
from cervix_unet.workshop.labels import load_labels  # noqa: E402
from cervix_unet.workshop.negatives import library_pictures  # noqa: E402
from cervix_unet.workshop.pseudo import unlabelled_keys  # noqa: E402
from cervix_unet.workshop.split import source_of  # noqa: E402

UNLABELLED = 300  # unlabelled phone photos added to the labelled ones (seeded sample)
NEIGHBOUR = 5  # the colour distance is to the 5th nearest photo (look-alikes sit in small groups)


def colour_histogram(image: np.ndarray) -> np.ndarray:
    """Square roots of the Lab chroma (8x8) and lightness (6) histograms of a 96-px thumbnail."""
    from skimage.color import rgb2lab

    small = Image.fromarray(image)
    small.thumbnail((96, 96))
    lightness, a, b = rgb2lab(np.asarray(small)).reshape(-1, 3).T
    chroma = np.histogram2d(a, b, bins=8, range=[[-40, 80], [-40, 80]])[0].ravel()
    return np.sqrt(np.concatenate([chroma, np.histogram(lightness, bins=6, range=(0, 100))[0]]) / len(a))


def neighbour_distance(queries: np.ndarray, photos: np.ndarray, leave_one_out: bool = False) -> np.ndarray:
    """Euclidean distance of each query to its NEIGHBOUR-th nearest photo (``leave_one_out``: the
    queries are the photos, each one's own distance of zero skipped)."""
    distances = np.sqrt(((queries[:, None] - photos[None]) ** 2).sum(-1))
    if leave_one_out:
        np.fill_diagonal(distances, np.inf)
    return np.sort(distances, 1)[:, NEIGHBOUR - 1]


def colour_rule(colours: np.ndarray, sources: np.ndarray) -> dict:
    """The colour rule's threshold and, per source left out, its photos beyond the threshold the
    other sources give (what a new device would lose)."""
    threshold = float(neighbour_distance(colours, colours, leave_one_out=True).max())
    new_device = {}
    for source in np.unique(sources):
        others = colours[sources != source]
        limit = neighbour_distance(others, others, leave_one_out=True).max()
        lost = neighbour_distance(colours[sources == source], others) > limit
        new_device[str(source)] = f"{int(lost.sum())} of {len(lost)}"
    return {"threshold": round(threshold, 3), "photos_lost_when_source_unseen": new_device}


class Bottleneck:
    """Per-channel mean and max of the network's deepest feature map (log1p), one vector a picture."""

    def __init__(self, weights: str | Path) -> None:
        self.model = CervixUNet.from_pretrained(weights).eval()
        self.model.down[-1].register_forward_hook(lambda module, inputs, output: setattr(self, "maps", output))

    def __call__(self, image: np.ndarray) -> np.ndarray:
        small = resize_rgb(image, self.model.input_size)
        with torch.no_grad():
            self.model(torch.from_numpy(to_batch(small)))
        maps = self.maps[0]
        return np.log1p(np.concatenate([maps.mean((1, 2)).numpy(), maps.amax((1, 2)).numpy()]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default="weights")
    parser.add_argument("--crossval", default="reports/crossval_all_stage2")
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--labels", default="labels")
    parser.add_argument("--out", default="reports/no_cervix_gates")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    with open(Path(args.crossval) / "per_image.csv") as f:
        scored = [row for row in csv.DictReader(f) if row["label_empty"] == "False" and row["found"] == "True"]
    lowest = min(scored, key=lambda row: float(row["reliability"]))
    parts = {part: library_pictures(part) for part in ("train", "test")}
    segmenter = Segmenter.from_pretrained(args.weights, backend="torch", max_side=None)
    pictures = {name: {"part": part} for part, named in parts.items() for name in named}
    for name, image in parts["test"].items():
        result = segmenter(image)
        pictures[name].update(found=result.found, check=result.check, reliability=round(result.reliability, 4))

    labels = load_labels(args.labels)
    unlabelled = unlabelled_keys(args.data, labels)
    random.Random(0).shuffle(unlabelled)
    photos = sorted(labels) + unlabelled[:UNLABELLED]
    embed = Bottleneck(args.weights)
    features, colours = [], []
    for key in tqdm(photos, desc="photos"):
        image = decode_image(Path(args.data) / key, max_side=1024)[0]
        features.append(embed(image))
        colours.append(colour_histogram(image))
    features, colours = np.stack(features), np.stack(colours)
    fitted = LedoitWolf().fit(features[::2])
    distance = np.sqrt(fitted.mahalanobis(features[1::2]))
    beyond = float(distance.max())
    for named in parts.values():
        for name, image in named.items():
            pictures[name]["distance"] = round(float(np.sqrt(fitted.mahalanobis(embed(image)[None]))[0]), 1)
            colour_distance = neighbour_distance(colour_histogram(image)[None], colours)[0]
            pictures[name]["colour_distance"] = round(float(colour_distance), 3)

    colour = colour_rule(colours, np.array([source_of(key) for key in photos]))
    negatives = [p for p in pictures.values() if p["part"] == "test"]
    summary = {
        "reliability_floor": {
            "lowest_true_cervix": {k: lowest[k] for k in ("image", "fold", "reliability", "dice")},
            "true_cervices_scored": len(scored),
            "held_out_pictures_found": sum(p["found"] for p in negatives),
            "found_below_lowest": sum(
                p["found"] and p["reliability"] < float(lowest["reliability"]) for p in negatives
            ),
        },
        "bottleneck_distance": {
            "photos_fitted": len(features[::2]),
            "held_out_photos": {q: round(float(np.percentile(distance, q)), 1) for q in (50, 90, 99, 100)},
            "pictures_beyond_held_out_max": {
                part: f"{sum(p['distance'] > beyond for p in pictures.values() if p['part'] == part)} of "
                f"{sum(p['part'] == part for p in pictures.values())}"
                for part in ("train", "test")
            },
        },
        "colour_distance": {
            **colour,
            "pictures_beyond": {
                part: f"{sum(p['colour_distance'] > colour['threshold'] for p in pictures.values() if p['part'] == part)}"
                f" of {sum(p['part'] == part for p in pictures.values())}"
                for part in ("train", "test")
            },
            "held_out_outlined_beyond": sum(
                p["found"] and p["colour_distance"] > colour["threshold"] for p in negatives
            ),
        },
        "held_out_pictures": {name: p for name, p in pictures.items() if p["part"] == "test"},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    chart(distance, pictures, out / "distances.png")
    print(json.dumps({k: v for k, v in summary.items() if k != "held_out_pictures"}, indent=1))


def chart(distance: np.ndarray, pictures: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    bins = np.linspace(0, max(distance.max(), max(p["distance"] for p in pictures.values())), 60)
    ax.hist(distance, bins, alpha=0.6, label="held-out colposcopy photos")
    for part in ("train", "test"):
        ax.hist(
            [p["distance"] for p in pictures.values() if p["part"] == part], bins, alpha=0.6, label=f"pictures ({part})"
        )
    ax.set_xlabel("Mahalanobis distance of the bottleneck features")
    ax.set_ylabel("count")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
