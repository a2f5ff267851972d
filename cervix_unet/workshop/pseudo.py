"""Teacher masks for the unlabelled phone photos (self-training, ``--pseudo-labels``).

Only 400 of the 1,993 phone photos are labelled. A teacher (a trained model folder) runs the
full pipeline (mirror average and second look) on the others, and the results it trusts (a
cervix found, no "check this result") join the training as a source of their own: the student
learns what the pipeline sees, from five times as many phone photos. Photos that look like a
held-out photo (``groups.MAX_DISTANCE``) are left out, so that a cross-validation fold never
trains on a near copy of what it is scored on. The teacher must not have trained on the held-out
photos either (in cross-validation: that fold's own model of an earlier recipe).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..pipeline import Segmenter
from ..preprocess import resize_rgb
from ..render import overlay
from .data import resize_mask
from .groups import MAX_DISTANCE, hash_distances, perceptual_hashes
from .label_tools import contact_sheet
from .split import PHONE_SOURCE, source_of

PATTERNS = ("*.jpg", "*.jpeg", "*.png")


def unlabelled_keys(data_root: str | Path, labels: dict, source: str = PHONE_SOURCE) -> list[str]:
    """The photos of ``source`` under ``data_root`` that have no label, as label-style keys."""
    root = Path(data_root)
    found = {p.relative_to(root).as_posix() for pattern in PATTERNS for p in (root / source).rglob(pattern)}
    return sorted(found - set(labels))


def without_lookalikes(
    candidates: list[str], held_out: list[str], data_root: str | Path, max_distance: int = MAX_DISTANCE
) -> list[str]:
    """``candidates`` less those whose perceptual hash is within ``max_distance`` bits of a held-out photo's."""
    held_out = [k for k in held_out if source_of(k) == PHONE_SOURCE]
    if not held_out or not candidates:
        return list(candidates)
    hashes = perceptual_hashes(candidates + held_out, data_root)
    distance = hash_distances(np.array([hashes[k] for k in candidates]), np.array([hashes[k] for k in held_out]))
    near = (distance <= max_distance).any(1)
    return [k for k, n in zip(candidates, near) if not n]


def pseudo_labels(
    teacher: str | Path, keys: list[str], data_root: str | Path, size: int, cache: Path | None = None
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The teacher's trusted results on ``keys``: (kept keys, images (N, size, size, 3) uint8,
    masks (N, size, size) bool), whole frame squashed as ``data.load_pairs`` does. With ``cache``
    (an ``.npz``), a second call with the same teacher and keys reads it instead of running."""
    stamp = {"teacher": str(teacher), "keys": hashlib.sha256("\n".join(keys).encode()).hexdigest(), "size": size}
    if cache is not None and cache.exists():
        stored = np.load(cache)
        if json.loads(str(stored["stamp"])) == stamp:
            return list(stored["keys"]), stored["images"], stored["masks"]
    segmenter = Segmenter.from_pretrained(teacher, backend="torch", max_side=None)
    kept, images, masks = [], [], []
    for key in tqdm(keys, desc="teacher masks", unit="photo"):
        result = segmenter(Path(data_root) / key)
        if result.found and not result.check:
            kept.append(key)
            images.append(resize_rgb(result.image, size))
            masks.append(resize_mask(result.mask, size))
    images_array = np.stack(images) if images else np.empty((0, size, size, 3), np.uint8)
    masks_array = np.stack(masks) if masks else np.empty((0, size, size), bool)
    if cache is not None:
        np.savez(cache, stamp=json.dumps(stamp), keys=np.array(kept), images=images_array, masks=masks_array)
    return kept, images_array, masks_array


def teacher_sheet(
    keys: list[str], images: np.ndarray, masks: np.ndarray, count: int = 48, seed: int = 0
) -> Image.Image:
    """A random sample of the teacher's masks over their photos, to see what the student is taught."""
    pick = np.sort(np.random.default_rng(seed).choice(len(keys), min(count, len(keys)), replace=False))
    items = [(Image.fromarray(overlay(images[i], masks[i])), Path(keys[i]).stem) for i in pick]
    return contact_sheet(items, columns=8, thumb_width=200)
