"""cervix-unet in the browser: upload a colposcopy photo, or a series of them, and see the cervix
found and cut out.

    python app.py            # http://127.0.0.1:7860
    python app.py --share    # also a public share link (or CERVIX_UNET_SHARE=1)

A thin Gradio layer over the `cervix_unet` package. Privacy: uploads and every derived file
live in a private folder of this process, each file deleted at most CERVIX_UNET_RETENTION_S
seconds (default 60) after its last use by a request; the folder is removed at exit, on SIGTERM
and on SIGINT, and folders of earlier processes that were killed are purged at start. Returned
images are arrays or PNGs written here, without EXIF or other metadata of the upload; logs carry
sizes and timings only.
"""

from __future__ import annotations

import argparse
import ctypes
import html
import logging
import os
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from pathlib import Path

from cervix_unet.retention import PrivateFolder, Sweeper

# Every upload and derived file of this process goes to its own folder (set before Gradio is
# imported, which reads GRADIO_TEMP_DIR); a given GRADIO_TEMP_DIR becomes its parent.
PRIVATE = PrivateFolder(os.environ.get("GRADIO_TEMP_DIR") or tempfile.gettempdir())
os.environ["GRADIO_TEMP_DIR"] = str(PRIVATE.path)
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def _glibc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (macOS, musl): nothing to tune
        return None


# glibc gives each thread that allocates its own heap ("arena", up to 8 per core), and a freed
# decoded photo stays in its arena: a server's resident size then creeps up with the requests
# though nothing leaks (reports/soak/). Two arenas, set before Gradio starts any thread, and the
# free pages handed back after each sweep keep it flat.
LIBC = _glibc()
if LIBC is not None:
    LIBC.mallopt(-8, 2)  # M_ARENA_MAX

import atexit  # noqa: E402

import cv2  # noqa: E402
import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
from gradio.data_classes import FileData, ListFiles  # noqa: E402
from PIL import Image  # noqa: E402

from cervix_unet import InvalidImageError, SegmentationResult, Segmenter, SegmentOptions, to_png  # noqa: E402
from cervix_unet.archive import ResultsArchive  # noqa: E402
from cervix_unet.image_io import read_image  # noqa: E402
from cervix_unet.quality import FLAG_TEXT  # noqa: E402
from web_page import add_web_link, web_routes  # noqa: E402  (the in-browser page at /web/)

Outputs = tuple  # values or gr.update-like components for a page event's outputs, in order
ApiOutputs = tuple  # overlay, mask, crop (arrays), text, crop PNG path, mask PNG path

ROOT = Path(__file__).resolve().parent
WEIGHTS = Path(os.environ.get("CERVIX_UNET_WEIGHTS", ROOT / "weights"))
EXAMPLES = sorted((ROOT / "examples").glob("*.jpg"))
DISPLAY_SIDE = 1024  # images shown in the page are at most this large (downloads are full size)
THUMB_SIDE = 512  # gallery images
MAX_SERIES = 60  # photos processed per drop in the series tab; more are listed as not processed
# Retention: each file goes RETENTION_S seconds at most after its last use (the answer).
RETENTION_S = max(3.0, float(os.environ.get("CERVIX_UNET_RETENTION_S", "60")))
SWEEP_EVERY = max(1.0, min(10.0, RETENTION_S / 6))
MIN_AGE = RETENTION_S - SWEEP_EVERY  # files are deleted between MIN_AGE and RETENTION_S after last use
# The page disables its download buttons before the files can go (ticks every SWEEP_EVERY).
DOWNLOADS_VALID_S = max(1.0, MIN_AGE - SWEEP_EVERY - 1)
STATE_MINUTES = 5  # the upload's bytes and the probability maps stay in memory this long (for the controls)
# Gradio keeps a copy of the page's configuration (~75 KB here) for every session it has seen
# (each page load, each gradio_client Client) until 10,000 of them: up to 750 MB. The oldest
# session's goes beyond this many (its tab then keeps its results, but not the controls' state).
SESSIONS = int(os.environ.get("CERVIX_UNET_SESSIONS", "300"))

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
logging.getLogger("httpx").setLevel(logging.WARNING)
log = logging.getLogger("cervix_unet.app")
atexit.register(PRIVATE.remove)

APP = "cervix-unet"
TITLE = "cervix-unet: find and crop the cervix in a colposcopy photograph"
INTRO = f"""
Upload a colposcopy photograph (or pick an example below), or drop the photos of a whole
examination in the second tab. A U-Net finds the cervix, the visible ectocervix between the
vaginal fornices, and cuts it out, so that screening looks at the cervix and not at the speculum,
vaginal walls, instruments and glare around it. Uploads and results are deleted from the server
at most {RETENTION_S:.0f} seconds after the answer.
"""
NOTICE = (
    "**Research use only. This is not a diagnostic device** and must not be used to make "
    "clinical decisions. It can miss or mis-outline the cervix; check every result by eye."
)
CREDITS = """
Example photographs: AnnoCerv dataset (CC BY 4.0), "AnnoCerv: A new dataset for feature-driven
and image-based automated colposcopy analysis". The model was trained on AnnoCerv and the IARC
Atlas of Colposcopy (IARC Screening Group). See the model card in `weights/README.md`.
"""
CSS = """
.notice {border-left: 4px solid #c77d00; padding: 0.4em 0.9em; background: rgba(199,125,0,0.08);}
.problem {border-left: 4px solid #c0392b; padding: 0.2em 0.9em; background: rgba(192,57,43,0.08);}
@media (max-width: 700px) { #photo, #overlay, #mask, #crop {height: 250px !important;} }
"""
START_TEXT = "Upload a photo to begin."
SERIES_START = (
    f"Drop several photos of one examination (up to {MAX_SERIES}): each is segmented, "
    "shown below, and put in one ZIP with every crop, mask and a summary CSV."
)


class PhotoUpload(gr.Image):
    """``gr.Image`` that hands the uploaded file over untouched. Gradio's own preprocessing opens
    it with Pillow, fails with a generic error on a non-image, and re-encodes non-RGB images
    (losing 16-bit data); the package decodes it instead, with EXIF orientation and clear errors.
    ``is_template`` keeps the browser side the standard Image component."""

    is_template = True

    def preprocess(self, payload: FileData | None) -> str | None:
        if payload is not None and payload.path:
            return str(payload.path)
        return super().preprocess(payload)


class SeriesUpload(gr.File):
    """``gr.File`` (several files) that passes the uploaded paths on, without the empty temporary
    file Gradio's own preprocessing leaves behind for each."""

    is_template = True

    def preprocess(self, payload: ListFiles | FileData | None) -> list[str] | None:
        if payload is None:
            return None
        files = payload.root if hasattr(payload, "root") else [payload]
        return [str(f.path) for f in files]


def load_segmenter() -> Segmenter:
    segmenter = Segmenter.from_pretrained(WEIGHTS)
    log.info(
        "model loaded from %s (backend %s, %dx%d)", WEIGHTS, segmenter.backend.name, segmenter.size, segmenter.size
    )
    return segmenter


SEGMENTER = load_segmenter()


# ---- files: what a request reads and writes, and when it goes ----


def files_gradio_keeps() -> set[str]:
    """Files Gradio never deletes (the cached examples), read as its own cache cleaner does."""
    return set().union(*(getattr(block, "keep_in_cache", set()) for block in demo.blocks.values()))


def files_in_queue() -> set[str]:
    """Uploads named by requests still waiting in Gradio's queue or starting: they must stay
    however old they are. Reads the queue's internals (gradio pinned in requirements.txt); if
    they change, this returns nothing and the age rule alone applies."""
    paths: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("path"), str):
                paths.add(value["path"])
            for v in value.values():
                walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)

    queue = getattr(demo, "_queue", None)
    try:
        events = [e for q in list(getattr(queue, "event_queue_per_concurrency_id", {}).values()) for e in list(q.queue)]
        events += [e for job in list(getattr(queue, "active_jobs", [])) if job for e in list(job)]
        for event in events:
            walk(getattr(getattr(event, "data", None), "data", None))
    except (AttributeError, TypeError, RuntimeError):
        pass
    return paths


def forget_removed(paths: list[str]) -> None:
    """Drop deleted files from Gradio's own lists of temporary files, which otherwise grow, and
    hand the memory freed since the last sweep back to the system."""
    for files in getattr(demo, "temp_file_sets", []):
        files.difference_update(paths)
    if LIBC is not None:
        LIBC.malloc_trim(0)


SWEEPER = Sweeper(
    PRIVATE.path,
    max_age=MIN_AGE,
    interval=SWEEP_EVERY,
    keep=lambda: files_gradio_keeps() | files_in_queue(),
    on_removed=forget_removed,
)


def new_folder() -> Path:
    """A new folder for one answer's files. Every file the app returns is written here under a
    name of its own: Gradio's own cache names files by their content, so two requests with the
    same photo would rewrite one file while it is being sent (a truncated download)."""
    folder = PRIVATE.path / f"answer-{uuid.uuid4().hex}"
    folder.mkdir()
    return folder


def write_png(folder: Path, name: str, array: np.ndarray) -> str:
    """A PNG of ``array`` (no metadata) in ``folder``; the sweeper removes it with the rest."""
    path = folder / name
    path.write_bytes(to_png(array))
    return str(path)


def upload_name(path: str) -> str:
    """The name the user's file had (Gradio keeps it as the upload's file name)."""
    return Path(path).name


class Generations:
    """Per browser session, the number of the newest photo (or series) put on the page. The page
    numbers each upload before its job starts; a job whose number is no longer the newest (the
    photo was replaced meanwhile) shows nothing, so no earlier photo's result is ever shown
    beside a newer one."""

    def __init__(self, sessions: int = 10_000) -> None:
        self._numbers: OrderedDict[str, int] = OrderedDict()
        self._sessions = sessions
        self._lock = threading.Lock()

    def next(self, key: str) -> int:
        with self._lock:
            number = self._numbers.pop(key, 0) + 1
            self._numbers[key] = number
            while len(self._numbers) > self._sessions:  # forget the oldest sessions
                self._numbers.popitem(last=False)
            return number

    def is_current(self, key: str, number: float | None) -> bool:
        with self._lock:
            return number is not None and self._numbers.get(key) == int(number)


GENERATIONS = Generations()


def _key(request: gr.Request | None, part: str) -> str:
    return f"{getattr(request, 'session_hash', None)}/{part}"


# ---- one photo ----


def options_from(threshold: float, margin_percent: float, crop_mode: str) -> SegmentOptions:
    return SegmentOptions(
        threshold=float(threshold),
        margin=float(margin_percent) / 100,
        crop_mode="masked" if str(crop_mode).startswith("Masked") else "box",
    )


def analyse(path: str, options: SegmentOptions) -> tuple[SegmentationResult, float, bytes]:
    """Read an upload (held against the sweeper while read) and segment it; also its bytes."""
    start = time.perf_counter()
    with SWEEPER.hold([path]):
        data = Path(path).read_bytes()
    try:
        result = SEGMENTER(data, options)
    except Exception:
        log.info("refused or failed on an upload of %d bytes", len(data))
        raise
    seconds = time.perf_counter() - start
    h, w = result.image.shape[:2]
    log.info("segmented %dx%d in %.0f ms, found=%s", w, h, seconds * 1000, result.found)
    return result, seconds, data


def problem(err: BaseException) -> str:
    """What went wrong, in words for the person who sent the file (never a traceback)."""
    if isinstance(err, InvalidImageError):
        return str(err)  # written for people by the package: bombs and oversized photos name their size
    if isinstance(err, Image.DecompressionBombError):
        return f"The image is too large to open safely (a possible decompression bomb): {err}"
    if isinstance(err, FileNotFoundError):
        return "The uploaded file is no longer on the server. Please upload it again."
    if isinstance(err, MemoryError):
        return "There was not enough memory for this photo. Please try a smaller one."
    log.error("failed: %s", type(err).__name__)
    return f"Something went wrong while processing this photo ({type(err).__name__}). Please try another file."


def result_image(label: str, elem_id: str) -> gr.Image:
    """One of the page's three result images (overlay, mask, crop): shown, not edited."""
    return gr.Image(
        label=label,
        format="png",
        interactive=False,
        elem_id=elem_id,
        height=340,
        buttons=["fullscreen"],
        elem_classes="result-image",
    )


def fit(image: np.ndarray, side: int = DISPLAY_SIDE) -> np.ndarray:
    """The image scaled down (never up) so that its long side is at most ``side``."""
    h, w = image.shape[:2]
    scale = side / max(h, w)
    if scale >= 1:
        return image
    return cv2.resize(image.astype(np.uint8), (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


def describe(result: SegmentationResult, seconds: float, name: str = "") -> str:
    """The result in words, for the page (``name``: the photo's file name, so that a person
    with several open sees which photo the words are about)."""
    h, w = result.image.shape[:2]
    photo = f"\n- **Photo:** `{name.replace('`', '')}`" if name else ""
    size = (
        f"{w}x{h}"
        if result.scale == 1
        else f"{result.original_size[0]}x{result.original_size[1]} (processed at {w}x{h})"
    )
    if not result.found:
        return (
            f"### No cervix found\nThe model found no cervix in this photo ({size}), so no crop is offered. "
            f"Check that it is a colposcopy view of the cervix; with a lower threshold the model may "
            f"still outline a faint candidate.\n\n- **Processing time:** {seconds * 1000:.0f} ms{photo}"
        )
    x0, y0, x1, y1 = result.box
    check = ""
    if result.check:
        reasons = [FLAG_TEXT[f] for f in result.flags] or ["the model is less sure of this outline than usual"]
        check = f"\n\n**Check this result by eye:** {'; '.join(reasons)}."
    return (
        f"### Cervix found\n- **Confidence:** {result.confidence:.0%} (mean probability inside the mask); "
        f"reliability {result.reliability:.0%}\n"
        f"- **Area:** {result.area_fraction:.0%} of the photo; box x {x0}-{x1}, y {y0}-{y1} in a {size} photo\n"
        f"- **Processing time:** {seconds * 1000:.0f} ms{photo}{check}"
    )


def render(result: SegmentationResult, seconds: float, name: str = "cervix.png") -> ApiOutputs:
    """Overlay, mask and crop as shown (at most DISPLAY_SIDE), text, and the crop and mask PNGs
    at the photo's size (named after its file ``name``), all files of this answer alone."""
    folder, stem = new_folder(), Path(name).stem
    mask_u8 = result.mask.astype(np.uint8) * 255
    mask_file = write_png(folder, f"{stem}_mask.png", mask_u8)
    crop_file = write_png(folder, f"{stem}_crop.png", result.crop) if result.found else None

    def shown(array: np.ndarray, kind: str, full_file: str | None = None) -> str:
        small = fit(array)
        return full_file if small is array and full_file else write_png(folder, f"view-{kind}.png", small)

    crop = shown(result.crop, "crop", crop_file) if result.found else None
    return (
        shown(result.overlay, "overlay"),
        shown(mask_u8, "mask", mask_file),
        crop,
        describe(result, seconds, name),
        crop_file,
        mask_file,
    )


def segment(photo: str | None, threshold: float, margin_percent: float, crop_mode: str) -> ApiOutputs:
    """The ``/segment`` API: overlay, mask, crop, text, crop PNG, mask PNG. A bad file raises
    ``gr.Error`` (a ``gradio_client`` caller gets an ``AppError`` with the reason)."""
    if not photo:
        return None, None, None, "", None, None
    try:
        result, seconds, _ = analyse(photo, options_from(threshold, margin_percent, crop_mode))
    except Exception as err:
        raise gr.Error(
            html.escape(problem(err)), title=f"{APP}: this file cannot be used", print_exception=False
        ) from None
    return render(result, seconds, upload_name(photo))


def _downloads(crop_file: str | None, mask_file: str | None) -> tuple[gr.DownloadButton, gr.DownloadButton]:
    return (
        gr.DownloadButton(value=crop_file, interactive=crop_file is not None),
        gr.DownloadButton(value=mask_file, interactive=mask_file is not None),
    )


def photo_page(
    state: dict | None,
    info: str,
    images: tuple = (None, None, None),
    files: tuple = (None, None),
    problem_text: str | None = None,
) -> Outputs:
    """All outputs of the one-photo part of the page: state, overlay, mask, crop, info, crop
    and mask downloads, the "make again" button and the timer."""
    if problem_text:
        info = f"### {APP}: this file cannot be used\n{problem_text}"
    box = gr.Markdown(info, elem_classes=["problem"] if problem_text else [])
    timer = gr.Timer(active=True) if any(files) else gr.skip()  # the tick turns it off when nothing is due
    return (state, *images, box, *_downloads(*files), gr.Button(visible=False), timer)


def new_photo(request: gr.Request) -> Outputs:
    """Runs at once (not queued) when a photo is put on the page: numbers it, clears the page."""
    return GENERATIONS.next(_key(request, "photo")), *photo_page(None, "Finding the cervix…")


def show_photo(
    number: float, photo: str | None, threshold: float, margin_percent: float, crop_mode: str, request: gr.Request
) -> Outputs | dict:
    """The page's job for one photo: its result, or what is wrong with it (stated in the page,
    with the app's name, until the next action). Shows nothing if the photo was replaced."""
    key = _key(request, "photo")
    if not GENERATIONS.is_current(key, number):
        return gr.skip()
    if not photo:
        return photo_page(None, START_TEXT)
    try:
        result, seconds, data = analyse(photo, options_from(threshold, margin_percent, crop_mode))
        name = upload_name(photo)
        overlay, mask, crop, text, crop_file, mask_file = render(result, seconds, name)
    except Exception as err:
        if not GENERATIONS.is_current(key, number):
            return gr.skip()
        message = problem(err)
        gr.Warning(html.escape(message), title=f"{APP}: this file cannot be used")
        return photo_page(None, "", problem_text=message)
    if not GENERATIONS.is_current(key, number):
        return gr.skip()
    state = {
        "photo": photo,
        "name": name,
        "data": data,  # the upload as sent (a few MB at most), decoded again by refine: a
        # decoded camera photo would hold 36 MB per session for STATE_MINUTES
        "probability": result.working_probability,
        "flipped": result.flipped_probability,
        "original_size": result.original_size,
        "zoom": (result.zoom_box, result.zoom_maps) if result.zoom_box else None,  # the second look's maps
        "made": time.time(),
    }
    return photo_page(state, text, (overlay, mask, crop), (crop_file, mask_file))


def refine(
    number: float,
    state: dict | None,
    photo: str | None,
    threshold: float,
    margin_percent: float,
    crop_mode: str,
    request: gr.Request,
) -> Outputs | dict:
    """Redo mask, box and crop from the kept probability map with new controls (also makes the
    downloads again). Does nothing unless the kept photo is still the one shown."""
    key = _key(request, "photo")
    if not state or not photo or state.get("photo") != photo or not GENERATIONS.is_current(key, number):
        return gr.skip()
    start = time.perf_counter()
    try:
        image = read_image(state["data"], SEGMENTER.max_pixels, SEGMENTER.max_side).pixels
        result = SEGMENTER.postprocess(
            image,
            state["probability"],
            options_from(threshold, margin_percent, crop_mode),
            state["original_size"],
            flipped=state["flipped"],
            zoom=state.get("zoom"),  # the network runs again only if the controls move the second look's region
        )
        overlay, mask, crop, text, crop_file, mask_file = render(result, time.perf_counter() - start, state["name"])
    except Exception as err:
        return photo_page(None, "", problem_text=problem(err))
    if not GENERATIONS.is_current(key, number):
        return gr.skip()
    state["made"] = time.time()
    if result.zoom_box:
        state["zoom"] = (result.zoom_box, result.zoom_maps)
    return photo_page(state, text, (overlay, mask, crop), (crop_file, mask_file))


def clear_photo(request: gr.Request) -> Outputs:
    return GENERATIONS.next(_key(request, "photo")), *photo_page(None, START_TEXT)


# ---- a series ----


def run_series(
    files: list[str], options: SegmentOptions, progress: gr.Progress | None = None
) -> tuple[list, list[dict], str]:
    """Segment every file; return gallery items (overlay thumbnail, caption), summary rows and
    the ZIP's path. A bad file becomes a row with its reason; the others go on."""
    folder = new_folder()
    gallery, zip_path = [], folder / "cervix-unet-series.zip"
    with SWEEPER.hold(files), ResultsArchive(zip_path) as archive:
        for i, path in enumerate(files):
            name = upload_name(path)
            if progress is not None:
                progress((i, len(files)), desc=f"photo {i + 1} of {len(files)}")
            if i >= MAX_SERIES:
                archive.add_error(name, f"not processed: at most {MAX_SERIES} photos are processed at once")
                continue
            try:
                result, _, _ = analyse(path, options)
                archive.add(name, result)
            except Exception as err:
                archive.add_error(name, problem(err))
                continue
            caption = f"{name}: " + (f"cervix found ({result.confidence:.0%})" if result.found else "no cervix found")
            caption += ", check by eye" if result.check else ""
            gallery.append((write_png(folder, f"view-{i}.png", fit(result.overlay, THUMB_SIDE)), caption))
        rows = archive.rows
    return gallery, rows, str(zip_path)


def series_text(rows: list[dict]) -> str:
    """The summary table for the page."""
    found = sum(r["status"] == "cervix found" for r in rows)
    missing = sum(r["status"] == "no cervix found" for r in rows)
    failed = len(rows) - found - missing
    lines = [
        f"**{len(rows)} files:** cervix found in {found}, no cervix found in {missing}, {failed} could not be used.",
        "",
        "| # | file | result | reason |",
        "|---|---|---|---|",
    ]
    for i, r in enumerate(rows, 1):
        result = f"{r['status']} ({r['confidence']:.0%})" if r["status"] == "cervix found" else r["status"]
        if r.get("check"):
            result += ", check by eye" + (f" ({r['flags']})" if r["flags"] else "")
        name = html.escape(r["file"]).replace("|", "&#124;")
        reason = html.escape(r.get("reason", "")).replace("|", "&#124;")
        lines.append(f"| {i} | {name} | {'⚠ ' if r['reason'] else ''}{result} | {reason} |")
    return "\n".join(lines)


def segment_series(
    files: list[str] | None, threshold: float, margin_percent: float, crop_mode: str
) -> tuple[list, str, str | None]:
    """The ``/segment_series`` API: gallery (overlay, caption), summary text, ZIP file."""
    if not files:
        return [], "", None
    gallery, rows, zip_path = run_series(files, options_from(threshold, margin_percent, crop_mode))
    return gallery, series_text(rows), zip_path


def series_page(state: dict | None, gallery: list | None, info: str, zip_file: str | None) -> Outputs:
    return (
        state,
        gallery,
        info,
        gr.DownloadButton(value=zip_file, interactive=zip_file is not None),
        gr.Timer(active=True) if zip_file else gr.skip(),
    )


def new_series(files: list[str] | None, request: gr.Request) -> Outputs:
    """Runs at once when photos are dropped: numbers the drop, clears the page."""
    return GENERATIONS.next(_key(request, "series")), *series_page(
        None, None, f"Working on {len(files or [])} photos…", None
    )


def show_series(
    number: float,
    files: list[str] | None,
    threshold: float,
    margin_percent: float,
    crop_mode: str,
    request: gr.Request,
    progress: gr.Progress = gr.Progress(),
) -> Outputs | dict:
    """The page's job for one drop of several photos (nothing if they were replaced meanwhile)."""
    key = _key(request, "series")
    if not GENERATIONS.is_current(key, number):
        return gr.skip()
    if not files:
        return series_page(None, None, SERIES_START, None)
    try:
        gallery, rows, zip_path = run_series(files, options_from(threshold, margin_percent, crop_mode), progress)
    except Exception as err:
        return series_page(None, None, f"### {APP}: the series could not be processed\n{problem(err)}", None)
    if not GENERATIONS.is_current(key, number):
        return gr.skip()
    return series_page({"made": time.time()}, gallery, series_text(rows), zip_path)


def clear_series(request: gr.Request) -> Outputs:
    return GENERATIONS.next(_key(request, "series")), *series_page(None, None, SERIES_START, None)


def expire_downloads(photo_state: dict | None, series_state: dict | None) -> Outputs:
    """Timer tick: disable download buttons whose files the sweeper may soon delete."""
    now = time.time()
    photo_due = bool(photo_state and photo_state.get("made") and now - photo_state["made"] >= DOWNLOADS_VALID_S)
    series_due = bool(series_state and now - series_state["made"] >= DOWNLOADS_VALID_S)
    if photo_due:
        photo_state["made"] = None
    photo_waiting = bool(photo_state and photo_state.get("made"))
    series_waiting = bool(series_state) and not series_due
    off = gr.DownloadButton(value=None, interactive=False)
    return (
        photo_state,
        off if photo_due else gr.skip(),
        off if photo_due else gr.skip(),
        gr.Button(visible=True) if photo_due else gr.skip(),
        None if series_due else gr.skip(),
        off if series_due else gr.skip(),
        gr.Timer(active=photo_waiting or series_waiting),
    )


# ---- the page ----


def build() -> gr.Blocks:
    with gr.Blocks(title=APP) as demo:
        gr.Markdown(f"# {TITLE}")
        gr.Markdown(NOTICE, elem_classes="notice", elem_id="notice")
        gr.Markdown(INTRO)
        state = gr.State(None, time_to_live=STATE_MINUTES * 60)
        series_state = gr.State(None, time_to_live=STATE_MINUTES * 60)
        timer = gr.Timer(SWEEP_EVERY, active=False)
        photo_number = gr.Number(visible=False)  # which upload the page shows (see Generations)
        series_number = gr.Number(visible=False)
        with gr.Tabs():
            with gr.Tab("One photo", id="one"):
                # Columns wrap on a narrow screen: each control stays under the image it changes.
                with gr.Row(equal_height=False):
                    with gr.Column(min_width=260):
                        photo = PhotoUpload(
                            label="Photo", type="filepath", sources=["upload", "clipboard"], elem_id="photo", height=340
                        )
                        info = gr.Markdown(START_TEXT, elem_id="info")
                        again = gr.Button("Make the downloads again", visible=False, size="sm", elem_id="again")
                    with gr.Column(min_width=260):
                        overlay = result_image("Cervix outlined", "overlay")
                    with gr.Column(min_width=260):
                        mask = result_image("Mask", "mask")
                        threshold = gr.Slider(
                            0.05,
                            0.95,
                            value=SegmentOptions.threshold,
                            step=0.05,
                            label="Threshold",
                            info="probability above which a pixel counts as cervix",
                        )
                        mask_download = gr.DownloadButton(
                            "Download mask (PNG)", elem_id="download-mask", interactive=False
                        )
                    with gr.Column(min_width=260):
                        crop = result_image("Cropped cervix", "crop")
                        margin = gr.Slider(
                            0,
                            30,
                            value=SegmentOptions.margin * 100,
                            step=1,
                            label="Crop margin (%)",
                            info="space kept around the cervix box",
                        )
                        crop_mode = gr.Radio(
                            ["Box", "Masked (black outside the cervix)"], value="Box", label="Crop mode"
                        )
                        crop_download = gr.DownloadButton(
                            "Download crop (PNG)", elem_id="download-crop", interactive=False
                        )
                examples = gr.Examples(
                    examples=[[str(p)] for p in EXAMPLES],
                    inputs=[photo],
                    label="Examples (AnnoCerv, CC BY 4.0)",
                    elem_id="examples",
                )
            with gr.Tab("A series (one examination)", id="series"):
                with gr.Row(equal_height=False):
                    with gr.Column(min_width=260):
                        series_files = SeriesUpload(
                            label="Photos of one examination", file_count="multiple", elem_id="series-files", height=200
                        )
                        with gr.Row():
                            s_threshold = gr.Slider(
                                0.05, 0.95, value=SegmentOptions.threshold, step=0.05, label="Threshold", min_width=120
                            )
                            s_margin = gr.Slider(
                                0, 30, value=SegmentOptions.margin * 100, step=1, label="Crop margin (%)", min_width=120
                            )
                        s_crop_mode = gr.Radio(
                            ["Box", "Masked (black outside the cervix)"],
                            value="Box",
                            label="Crop mode",
                            info="settings apply to the next photos dropped",
                        )
                        zip_download = gr.DownloadButton(
                            "Download all (ZIP: crops, masks, summary.csv)", elem_id="download-zip", interactive=False
                        )
                    with gr.Column(scale=2, min_width=260):
                        gallery = gr.Gallery(
                            label="Results",
                            elem_id="gallery",
                            format="png",
                            columns=3,
                            buttons=["fullscreen"],
                            height="auto",
                            interactive=False,
                        )
                series_info = gr.Markdown(SERIES_START, elem_id="series-info")
        gr.Markdown(CREDITS)

        controls = [threshold, margin, crop_mode]
        page_outputs = [state, overlay, mask, crop, info, crop_download, mask_download, again, timer]
        series_outputs = [series_state, gallery, series_info, zip_download, timer]
        series_controls = [s_threshold, s_margin, s_crop_mode]

        # One job per photo: the page listens to `upload` (fired once per file chosen, dropped or
        # pasted), not `change` (fired again whenever the value object is replaced). A quick
        # unqueued call first numbers the photo and clears the page; the job, queued, shows its
        # result only if its photo is still the newest (see Generations).
        job = dict(api_name=False, concurrency_id="model", trigger_mode="multiple")
        quick = dict(queue=False, api_name=False, show_progress="hidden")
        photo.upload(new_photo, None, [photo_number, *page_outputs], **quick).then(
            show_photo, [photo_number, photo, *controls], page_outputs, **job
        )
        examples.load_input_event.then(new_photo, None, [photo_number, *page_outputs], **quick).then(
            show_photo, [photo_number, photo, *controls], page_outputs, **job
        )
        photo.clear(clear_photo, None, [photo_number, *page_outputs], **quick)
        for control in controls:
            control.input(
                refine,
                [photo_number, state, photo, *controls],
                page_outputs,
                show_progress="hidden",
                **{**job, "trigger_mode": "always_last"},
            )
        again.click(refine, [photo_number, state, photo, *controls], page_outputs, **job)

        series_files.upload(new_series, [series_files], [series_number, *series_outputs], **quick).then(
            show_series, [series_number, series_files, *series_controls], series_outputs, **job
        )
        series_files.clear(clear_series, None, [series_number, *series_outputs], **quick)

        timer.tick(
            expire_downloads,
            [state, series_state],
            [state, crop_download, mask_download, again, series_state, zip_download, timer],
            queue=False,
            api_name=False,
            show_progress="hidden",
        )

        # The named API, apart from the page's events: callers get errors raised, not shown.
        gr.on(
            [],
            segment,
            [photo, *controls],
            [overlay, mask, crop, info, crop_download, mask_download],
            api_name="segment",
            concurrency_id="model",
        )
        gr.on(
            [],
            segment_series,
            [series_files, *series_controls],
            [gallery, series_info, zip_download],
            api_name="segment_series",
            concurrency_id="model",
        )
    demo.queue(default_concurrency_limit=2, max_size=64)
    return demo


def main() -> None:
    parser = argparse.ArgumentParser(description="cervix-unet web app")
    parser.add_argument(
        "--share",
        action="store_true",
        default=os.environ.get("CERVIX_UNET_SHARE") == "1",
        help="create a public share link",
    )
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    args = parser.parse_args()
    PRIVATE.remove_on_exit()
    log.info("private folder %s; files deleted at most %.0f s after use", PRIVATE.path, RETENTION_S)
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        max_file_size="50mb",
        css=CSS,
        footer_links=["api"],
        show_error=False,
        state_session_capacity=SESSIONS,
        app_kwargs={"routes": web_routes()},
    )


demo = build()  # Hugging Face Spaces and `gradio app.py` look for `demo`
add_web_link(demo)
SWEEPER.start()

if __name__ == "__main__":
    main()
