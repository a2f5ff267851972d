"""Cases, views, patient groups, the train / validation split and the cross-validation folds.

Images of one case (and of one patient filed under two AnnoCerv case ids) are
near-duplicates, so splits and folds are made over patient groups, never over images. Phone
photos have no patient ids: each is its own case, and look-alikes share the ``group`` their
label records (``groups.lookalike_groups``).
"""

from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

PHONE_SOURCE = "mobileodt"  # the phone photos: no patient ids, judged apart from the familiar sources

# AnnoCerv case ids that are the same patient (shared/data/README.md).
SAME_PATIENT = [("C1", "C23"), ("C16", "C26"), ("C21", "C28"), ("C55", "C87"), ("C98", "C100")]

VIEWS = [
    "speculum",
    "saline",
    "green filter",
    "acetic acid",
    "lugol's iodine",
    "magnified",
    "endocervical speculum",
    "phone",
    "other",
]


def source_of(key: str) -> str:
    """The source of an image key or group: ``annocerv``, ``iarc_atlas`` or ``mobileodt``."""
    return key.partition("/")[0]


def case_of(key: str) -> str:
    """The case of an image key: ``annocerv/C12`` or ``iarc_atlas/AAAX``."""
    source, _, rest = key.partition("/")
    if source == PHONE_SOURCE:  # no patient ids: one photo, one case
        return f"{source}/{Path(rest).stem}"
    if source == "annocerv":
        match = re.search(r"(C\d+)Aceto_", rest)
    else:
        match = re.search(r"case_([A-Za-z0-9]+)/", rest)
    if not match:
        raise ValueError(f"cannot tell the case of {key}")
    return f"{source}/{match.group(1)}"


def patient_of(key: str, label: dict | None = None) -> str:
    """The patient group of an image key: the label's look-alike ``group`` where it has one,
    else the case, with the AnnoCerv same-patient pairs merged."""
    if label and label.get("group"):
        return label["group"]
    case = case_of(key)
    for first, second in SAME_PATIENT:
        if case == f"annocerv/{second}":
            return f"annocerv/{first}"
    return case


def view_of(key: str) -> str:
    """The kind of view an image shows, from its file name (AnnoCerv: all acetic acid)."""
    name = key.rsplit("/", 1)[-1].lower()
    if key.startswith("annocerv/"):
        return "acetic acid"
    if key.startswith("mobileodt/"):
        return "phone"
    if "endocerv" in name:
        return "endocervical speculum"
    if "green_filter" in name:
        return "green filter"
    if "magnification" in name:
        return "magnified"
    if "lugol" in name:
        return "lugol's iodine"
    if "speculum_examination" in name:
        return "speculum"
    if "saline" in name:
        return "saline"
    if "acetic_acid" in name:
        return "acetic acid"
    return "other"


def make_split(keys: Iterable[str], val_fraction: float = 0.18, seed: int = 0) -> dict[str, list[str]]:
    """Split patient groups into train and validation, per source.

    Every view kind that occurs in at least two groups gets at least one group in each part;
    then groups are drawn at random until ``val_fraction`` of each source's groups is reached.
    Returns ``{"train": [group, ...], "val": [group, ...]}`` (sorted).
    """
    rng = random.Random(seed)
    views_by_group: dict[str, set[str]] = defaultdict(set)
    for key in keys:
        views_by_group[patient_of(key)].add(view_of(key))
    val: set[str] = set()
    groups_with: dict[str, list[str]] = defaultdict(list)
    for group in sorted(views_by_group):
        for view in views_by_group[group]:
            groups_with[view].append(group)
    for view in sorted(groups_with, key=lambda v: len(groups_with[v])):
        candidates = groups_with[view]
        if len(candidates) < 2 or any(g in val for g in candidates):
            continue
        val.add(rng.choice(candidates))
    for source in sorted({source_of(g) for g in views_by_group}):
        groups = sorted(g for g in views_by_group if source_of(g) == source)
        target = max(1, round(val_fraction * len(groups)))
        rest = [g for g in groups if g not in val]
        rng.shuffle(rest)
        while sum(g in val for g in groups) < target and rest:
            val.add(rest.pop())
    train = sorted(g for g in views_by_group if g not in val)
    return {"train": train, "val": sorted(val)}


def keys_of_groups(keys: Iterable[str] | dict[str, dict], groups: Iterable[str]) -> list[str]:
    """The image keys whose patient group is in ``groups`` (given the labels, a dict, look-alike
    groups recorded in them count as patients)."""
    wanted = set(groups)
    labels = keys if isinstance(keys, dict) else {}
    return sorted(k for k in keys if patient_of(k, labels.get(k)) in wanted)


def read_split(labels_dir: str | Path) -> dict[str, list[str]]:
    """``labels_dir/split.json``: the patient groups of each part ("train", "val")."""
    return json.loads((Path(labels_dir) / "split.json").read_text())


def select_keys(keys: Iterable[str] | dict[str, dict], labels_dir: str | Path, part: str) -> list[str]:
    """The keys of one part of the split ("train", "val"; "all": every key). Given the labels
    (a dict), look-alike groups recorded in them count as patients."""
    if part == "all":
        return sorted(keys)
    return keys_of_groups(keys, read_split(labels_dir)[part])


def make_folds(labels: dict[str, dict], n_folds: int = 5, seed: int = 0) -> list[list[str]]:
    """``n_folds`` cross-validation folds of the labelled keys: patient (and look-alike) groups
    kept whole, each source and view kind spread over the folds (scikit-learn's
    ``StratifiedGroupKFold``). Returns the held-out keys of each fold, sorted."""
    from sklearn.model_selection import StratifiedGroupKFold

    keys = sorted(labels)
    strata = [f"{k.split('/')[0]}|{view_of(k)}" for k in keys]
    groups = [patient_of(k, labels[k]) for k in keys]
    folds = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return [sorted(keys[i] for i in held_out) for _, held_out in folds.split(keys, strata, groups)]


def extend_split(
    split: dict[str, list[str]], labels: dict[str, dict], source: str, val_fraction: float = 0.18, seed: int = 0
) -> dict[str, list[str]]:
    """``split`` with the patient groups of a newly labelled ``source`` added, ``val_fraction`` of
    them (drawn with ``seed``) to validation; the groups already placed keep their part."""
    rng = random.Random(seed)
    placed = set(split["train"]) | set(split["val"])
    new = sorted({patient_of(k, v) for k, v in labels.items() if k.startswith(source + "/")} - placed)
    rng.shuffle(new)
    n_val = round(val_fraction * len(new))
    return {"train": sorted(split["train"] + new[n_val:]), "val": sorted(split["val"] + new[:n_val])}
