"""Many photos through the pipeline, overlapped, never stopping on a file.

Each photo goes read + decode -> network -> post-process + encode + write. Decoding and encoding
run on a small thread pool (libjpeg-turbo, zlib, OpenCV and ONNX Runtime release the GIL) while
the calling thread feeds the network, so on 2 cores the network's time hides behind the
encoders' and vice versa (reports/throughput/). Every failure, of any kind, becomes a row with a
message for a person; rows are yielded as photos finish, so a caller can save each at once.
"""

from __future__ import annotations

import os
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import describe_error
from .image_io import DecodedImage, read_bytes, read_image, skip_reason
from .outputs import OutputFormat, encode_result
from .pipeline import Segmenter, SegmentOptions
from .preprocess import resize_rgb


@dataclass(frozen=True)
class Job:
    """One input file and the stem of its output files (unique within the batch)."""

    path: Path
    name: str


@dataclass
class _Prepared:
    data: bytes
    decoded: DecodedImage
    small: np.ndarray
    started: float


def default_workers() -> int:
    """Threads for decoding and encoding: one per core, at least 2, at most 4."""
    return max(2, min(4, os.cpu_count() or 2))


def scan_inputs(inputs: Iterable[str | Path], exclude: Path | None = None) -> tuple[list[Job], list[dict]]:
    """Jobs for the files named and for the image files found under the folders named
    (recursively, sorted), and rows for what is not read: files in those folders that are not
    images (``status="skipped"``) and names that do not exist (``status="failed"``).
    ``exclude``: a folder never scanned (the output folder, when it lies inside an input)."""
    exclude = exclude.resolve() if exclude else None
    paths, rows = [], []
    for item in map(Path, inputs):
        if item.is_dir():
            for path in sorted(p for p in item.rglob("*") if p.is_file()):
                if exclude and path.resolve().is_relative_to(exclude):
                    continue
                reason = skip_reason(path.relative_to(item))
                if reason:
                    rows.append(row_for(path, "", "skipped", reason))
                else:
                    paths.append((path, item))
        elif item.exists():
            paths.append((item, None))
        else:
            rows.append(row_for(item, "", "failed", f"No such file or folder: {item}"))
    seen: set[Path] = set()  # a file named twice (or also inside a folder named) is done once
    unique = [(path, root) for path, root in paths if not (path.resolve() in seen or seen.add(path.resolve()))]
    return _name_jobs(unique), rows


def _name_jobs(paths: list[tuple[Path, Path | None]]) -> list[Job]:
    """Readable, unique output stems: the path below its input folder with '/' as '__'; a
    clash (photo.jpg beside photo.png) adds the extension, then a number."""
    jobs, taken = [], set()
    for path, root in paths:
        stem = "__".join(path.relative_to(root).with_suffix("").parts) if root else path.stem
        name, n = stem, 1
        if name in taken:
            name = f"{stem}_{path.suffix.lstrip('.').lower()}"
        while name in taken:
            n += 1
            name = f"{stem}_{n}"
        taken.add(name)
        jobs.append(Job(path, name))
    return jobs


def row_for(path: Path, name: str, status: str, error: str = "") -> dict:
    """A summary row with only the input, its status and, for failures, the reason."""
    return {"input": str(path), "name": name, "status": status, "error": error}


def run_batch(
    jobs: list[Job],
    segmenter: Segmenter,
    out: str | Path,
    options: SegmentOptions | None = None,
    fmt: OutputFormat = "auto",
    workers: int | None = None,
    keep_traceback: bool = False,
) -> Iterator[dict]:
    """Segment ``jobs`` and write each one's files into ``out``; yield one summary row per job
    as it finishes (in finishing order). Never raises for a file: a failure is a row with
    ``status="failed"`` and ``error`` written for a person (``keep_traceback`` adds the
    traceback under ``"traceback"``, for --debug)."""
    out = Path(out)
    options = options or segmenter.options
    workers = workers or default_workers()
    window = workers + 1  # decoded photos waiting for the network: bounds memory, keeps it fed
    todo = iter(jobs)
    decoding: deque[tuple[Job, Future]] = deque()
    finishing: set[Future] = set()

    def fail(job: Job, stage: str, err: BaseException) -> dict:
        row = row_for(job.path, job.name, "failed", describe_error(err, stage))
        if keep_traceback:
            row["traceback"] = "".join(traceback.format_exception(err))
        return row

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cervix-unet") as pool:

        def refill() -> None:
            while len(decoding) < window:
                job = next(todo, None)
                if job is None:
                    return
                decoding.append((job, pool.submit(_prepare, job, segmenter)))

        refill()
        while decoding or finishing:
            if decoding:
                job, future = decoding.popleft()
                try:
                    prepared = future.result()
                except BaseException as err:  # noqa: BLE001 - every failure is a row
                    if isinstance(err, KeyboardInterrupt):
                        raise
                    yield fail(job, "read", err)
                    refill()
                    continue
                try:
                    maps = segmenter.network_maps(prepared.small)
                except Exception as err:  # noqa: BLE001
                    yield fail(job, "network", err)
                    refill()
                    continue
                finishing.add(pool.submit(_finish, job, prepared, maps, segmenter, options, fmt, out, fail))
                refill()
                done = {f for f in finishing if f.done()}
                if len(finishing) - len(done) > workers:  # the encoders are behind: wait for one
                    done |= wait(finishing, return_when=FIRST_COMPLETED).done
            else:
                done = wait(finishing, return_when=FIRST_COMPLETED).done
            for future in done:
                finishing.discard(future)
                yield future.result()


def _prepare(job: Job, segmenter: Segmenter) -> _Prepared:
    started = time.perf_counter()
    data = read_bytes(job.path)
    decoded = read_image(data, segmenter.max_pixels, segmenter.max_side)
    return _Prepared(data, decoded, resize_rgb(decoded.pixels, segmenter.size), started)


def _finish(
    job: Job,
    prepared: _Prepared,
    maps: tuple[np.ndarray, np.ndarray],
    segmenter: Segmenter,
    options: SegmentOptions,
    fmt: OutputFormat,
    out: Path,
    fail: Callable[[Job, str, BaseException], dict],
) -> dict:
    """Post-process, encode and write one photo; its summary row (never raises)."""
    try:
        info = prepared.decoded.info
        probability, flipped = maps
        result = segmenter.postprocess(
            prepared.decoded.pixels, probability, options, info.size, None, flipped, prepared.small, source=info
        )
        files = encode_result(result, prepared.data, fmt)
    except BaseException as err:  # noqa: BLE001
        return fail(job, "process", err)
    try:
        names = files.write(out, job.name)
    except BaseException as err:  # noqa: BLE001
        return fail(job, "write", err)
    summary = result.summary()
    return {
        **row_for(job.path, job.name, "ok"),
        "found": result.found,
        "confidence": summary["confidence"],
        "reliability": summary["reliability"],
        "check": summary["check"],
        "flags": summary["flags"],
        "area_fraction": summary["area_fraction"],
        "width": info.size[0],
        "height": info.size[1],
        "box": summary["box_original"],
        "crop_box": list(files.crop_box) if files.crop_box else None,
        "crop_method": files.crop_method,
        "crop_file": names.get("crop", ""),
        "mask_file": names["mask"],
        "overlay_file": names["overlay"],
        "format": info.format or "",
        "orientation": info.orientation,
        "frames": info.frames,
        "note": "; ".join(info.notes),
        "seconds": round(time.perf_counter() - prepared.started, 3),
    }
