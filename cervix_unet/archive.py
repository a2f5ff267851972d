"""One ZIP for a series of photos (a colposcopy examination: saline, green filter, acetic acid,
Lugol's): every crop and mask, and a summary CSV with one row per file, bad files included.

    with ResultsArchive("exam.zip") as archive:
        for name, data in photos:
            try:
                archive.add(name, segmenter(data))
            except InvalidImageError as err:
                archive.add_error(name, str(err))

Images are PNGs written from pixel arrays: no EXIF, GPS, ICC or text of the photos. ZIP entries
carry a fixed date (1980-01-01), not the time they were made. Boxes in the CSV are in the
photo's own (full-size, upright) pixels.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path
from typing import BinaryIO

from .crop import scale_box
from .pipeline import SegmentationResult
from .render import to_png

FIELDS = [
    "file",
    "status",
    "reason",
    "found",
    "confidence",
    "reliability",
    "check",
    "flags",
    "area_fraction",
    "width",
    "height",
    "box_x0",
    "box_y0",
    "box_x1",
    "box_y1",
    "crop_x0",
    "crop_y0",
    "crop_x1",
    "crop_y1",
    "crop_file",
    "mask_file",
]
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)


def _safe_stem(name: str) -> str:
    """A file stem safe in any ZIP tool: letters, digits, ``-_.``; never empty."""
    stem = Path(name.replace("\\", "/")).stem
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:80] or "photo"


class ResultsArchive:
    """A ZIP being written; rows of the summary collect in ``rows`` (also for a page to show)."""

    def __init__(self, target: str | Path | BinaryIO) -> None:
        self._zip = zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED)  # PNGs are compressed already
        self.rows: list[dict] = []
        self._stems: set[str] = set()

    def _stem(self, name: str) -> str:
        stem, n = _safe_stem(name), 2
        unique = stem
        while unique in self._stems:  # two photos called IMG_0001.jpg from two folders
            unique, n = f"{stem}_{n}", n + 1
        self._stems.add(unique)
        return unique

    def _write(self, arcname: str, data: bytes) -> None:
        self._zip.writestr(zipfile.ZipInfo(arcname, date_time=_FIXED_DATE), data)

    def add(self, name: str, result: SegmentationResult) -> dict:
        """Add one photo's crop (when a cervix was found) and mask; return its summary row."""
        stem = self._stem(name)
        size = (result.image.shape[1], result.image.shape[0])
        summary = result.summary()  # the numbers of the command line's summary, rounded alike
        row = {
            "file": name,
            "status": "cervix found" if result.found else "no cervix found",
            "reason": "",
            **{k: summary[k] for k in ("found", "confidence", "reliability", "check", "area_fraction")},
            "flags": "; ".join(summary["flags"]),
            "width": summary["original_width"],
            "height": summary["original_height"],
        }
        if result.found:
            crop_box = scale_box(result.crop_box, size, result.original_size)
            row.update(zip(["box_x0", "box_y0", "box_x1", "box_y1"], summary["box_original"]))
            row.update(zip(["crop_x0", "crop_y0", "crop_x1", "crop_y1"], crop_box))
            row["crop_file"] = f"crops/{stem}_crop.png"
            self._write(row["crop_file"], to_png(result.crop))
        row["mask_file"] = f"masks/{stem}_mask.png"
        self._write(row["mask_file"], to_png(result.mask))
        self.rows.append(row)
        return row

    def add_error(self, name: str, reason: str) -> dict:
        """Record a file that gave no result, with the reason meant for a person."""
        row = {"file": name, "status": "not processed", "reason": reason, "found": False}
        self.rows.append(row)
        return row

    def close(self) -> None:
        """Write ``summary.csv`` and finish the ZIP."""
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=FIELDS, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        self._write("summary.csv", text.getvalue().encode("utf-8"))
        self._zip.close()

    def __enter__(self) -> ResultsArchive:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
