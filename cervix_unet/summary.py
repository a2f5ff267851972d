"""The batch summary on disk, written as results arrive: a crash at file 9,000 loses nothing.

``summary.jsonl`` and ``summary.csv`` get one line per photo as soon as its files are written
(flushed at once); at the end ``summary.json`` (all rows) and ``summary.csv`` are rewritten in
input order. A later run with ``resume=True`` starts from the rows of ``summary.jsonl``.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

FIELDS = [
    "input",
    "name",
    "status",
    "error",
    "found",
    "confidence",
    "reliability",
    "check",
    "flags",
    "area_fraction",
    "width",
    "height",
    "box",
    "crop_box",
    "crop_method",
    "crop_file",
    "mask_file",
    "overlay_file",
    "format",
    "orientation",
    "frames",
    "note",
    "seconds",
]
OUTPUT_FIELDS = ("crop_file", "mask_file", "overlay_file")


def _csv_row(row: dict) -> dict:
    """Lists as text: boxes "x0 y0 x1 y1", flags "glare; small"."""
    return {
        k: ("; " if k == "flags" else " ").join(map(str, v)) if isinstance(v, (list, tuple)) else v
        for k, v in row.items()
        if k in FIELDS
    }


class SummaryWriter:
    """Rows of one output folder. ``resume``: keep the rows of an earlier run there (others are
    replaced by the new run's)."""

    def __init__(self, folder: str | Path, resume: bool = False) -> None:
        self.folder = Path(folder)
        self.rows: dict[str, dict] = {}  # by input path; a later row replaces an earlier one
        jsonl = self.folder / "summary.jsonl"
        if resume and jsonl.is_file():
            for line in jsonl.read_text().splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:  # a line cut short by a crash
                    continue
                self.rows[row["input"]] = row
        self._jsonl = open(jsonl, "a" if resume else "w")  # resumed: earlier lines stay, later ones win
        self._csv_file = open(self.folder / "summary.csv", "w", newline="")
        self._csv = csv.DictWriter(self._csv_file, fieldnames=FIELDS, extrasaction="ignore")
        self._csv.writeheader()
        self._csv.writerows(_csv_row(row) for row in self.rows.values())

    def done_before(self, path: str | Path) -> dict | None:
        """The earlier row of ``path`` if it succeeded and all its files are still there."""
        row = self.rows.get(str(path))
        if not row or row.get("status") != "ok":
            return None
        if any(row.get(k) and not (self.folder / row[k]).is_file() for k in OUTPUT_FIELDS):
            return None
        return row

    def add(self, row: dict) -> None:
        """Record a row and put it on disk now."""
        row = {k: v for k, v in row.items() if k != "traceback"}
        self.rows[row["input"]] = row
        self._write(row)

    def _write(self, row: dict) -> None:
        self._jsonl.write(json.dumps(row) + "\n")
        self._jsonl.flush()
        self._csv.writerow(_csv_row(row))
        self._csv_file.flush()

    def close(self, order: list[str]) -> list[dict]:
        """Write ``summary.json`` and ``summary.csv`` with the rows in ``order`` (input paths;
        rows not named come last) and return them."""
        self._jsonl.close()
        self._csv_file.close()
        rank = {p: i for i, p in enumerate(order)}
        rows = sorted(self.rows.values(), key=lambda r: rank.get(r["input"], len(rank)))
        _replace(self.folder / "summary.json", json.dumps(rows, indent=1) + "\n")
        with open(self.folder / "summary.csv.partial", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(_csv_row(r) for r in rows)
        os.replace(self.folder / "summary.csv.partial", self.folder / "summary.csv")
        return rows


def _replace(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)
