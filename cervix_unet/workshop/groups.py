"""Look-alike groups for photos without patient ids (the phone photos), by perceptual hash.

Several photos of one woman can occur among the phone photos, and nothing says which. Photos
whose perceptual hashes (imagehash's DCT hash, 64 bits) differ in at most ``MAX_DISTANCE`` bits
are put in one group, transitively, and a group never straddles two folds or two splits. The
threshold is generous on purpose: merging two different women only makes a split coarser,
while splitting one woman's photos would leak her into the validation part.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

MAX_DISTANCE = 12  # bits of 64; the closest pairs among 400 labelled phone photos are 8-12 apart


def perceptual_hashes(keys: Iterable[str], data_root: str | Path) -> dict[str, np.ndarray]:
    """The 64-bit DCT perceptual hash of each photo, as a bool vector."""
    hashes = {}
    for key in keys:
        with Image.open(Path(data_root) / key) as im:
            hashes[key] = imagehash.phash(im).hash.flatten()
    return hashes


def hash_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """How many bits differ between each hash of ``a`` (N, 64 bool) and each of ``b`` (M, 64): (N, M)."""
    return (a[:, None, :] != b[None, :, :]).sum(-1)


def lookalike_groups(keys: Iterable[str], data_root: str | Path, max_distance: int = MAX_DISTANCE) -> dict[str, str]:
    """A group name per key: ``<source>/lookalike-<first key's stem>``, one per connected set of
    photos whose hashes differ in at most ``max_distance`` bits."""
    hashes = perceptual_hashes(sorted(keys), data_root)
    names = list(hashes)
    bits = np.array([hashes[k] for k in names])
    distance = hash_distances(bits, bits)
    parent = list(range(len(names)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(distance <= max_distance, 1))):
        parent[root(int(j))] = root(int(i))
    return {k: f"{k.split('/')[0]}/lookalike-{Path(names[root(i)]).stem}" for i, k in enumerate(names)}
