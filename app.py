"""cervix-unet in the browser: upload a colposcopy photo, see the cervix found and cut out.

    python app.py            # http://127.0.0.1:7860
    python app.py --share    # also a public share link (or CERVIX_UNET_SHARE=1)

A thin Gradio layer over the `cervix_unet` package. Privacy: uploads are read once and deleted
at once; derived images live in Gradio's cache, which is purged every minute; returned images
are fresh arrays or PNGs written here, so they carry no EXIF or other metadata of the upload;
logs carry sizes and timings only.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

# Uploads and outputs go to a private folder of this process, removed at exit (set before
# Gradio is imported, which reads it).
_TEMP_ROOT = Path(tempfile.mkdtemp(prefix="cervix-unet-app-"))
os.environ.setdefault("GRADIO_TEMP_DIR", str(_TEMP_ROOT / "gradio"))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import atexit  # noqa: E402

import cv2  # noqa: E402
import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402

from cervix_unet import InvalidImageError, SegmentationResult, Segmenter, SegmentOptions, to_png  # noqa: E402
from web_page import add_web_link, web_routes  # noqa: E402  (the in-browser page at /web/)

ROOT = Path(__file__).resolve().parent
WEIGHTS = Path(os.environ.get("CERVIX_UNET_WEIGHTS", ROOT / "weights"))
EXAMPLES = sorted((ROOT / "examples").glob("*.jpg"))
DISPLAY_SIDE = 1024  # images shown in the page are at most this large (downloads are full size)
DOWNLOADS = _TEMP_ROOT / "downloads"
CACHE_MINUTES = 5

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
logging.getLogger("httpx").setLevel(logging.WARNING)
log = logging.getLogger("cervix_unet.app")
atexit.register(shutil.rmtree, _TEMP_ROOT, ignore_errors=True)

TITLE = "cervix-unet: find and crop the cervix in a colposcopy photograph"
INTRO = """
Upload a colposcopy photograph (or take one with the camera, or pick an example below). A U-Net
finds the cervix, the visible ectocervix between the vaginal fornices, and cuts it out, so that
screening looks at the cervix and not at the speculum, vaginal walls, instruments and glare
around it. You see the photo, the cervix outlined on it, the mask, and the crop; the threshold,
margin and crop mode can be changed after the upload. Photos are processed in memory and the
uploaded file is deleted at once.
"""
NOTICE = ("**Research use only. This is not a diagnostic device** and must not be used to make "
          "clinical decisions. It can miss or mis-outline the cervix; check every result by eye.")
CREDITS = """
Example photographs: AnnoCerv dataset (CC BY 4.0), "AnnoCerv: A new dataset for feature-driven
and image-based automated colposcopy analysis". The model was trained on AnnoCerv and the IARC
Atlas of Colposcopy (IARC Screening Group). See the model card in `weights/README.md`.
"""
CSS = ".notice {border-left: 4px solid #c77d00; padding: 0.4em 0.9em; background: rgba(199,125,0,0.08);}"


class PhotoUpload(gr.Image):
    """``gr.Image`` that hands the uploaded file over untouched. Gradio's own preprocessing opens
    it with Pillow, fails with a generic error on a non-image, and re-encodes non-RGB images
    (losing 16-bit data); the package decodes it instead, with EXIF orientation and clear errors.
    ``is_template`` keeps the browser side the standard Image component."""

    is_template = True

    def preprocess(self, payload):
        if payload is not None and payload.path:
            return str(payload.path)
        return super().preprocess(payload)


def load_segmenter() -> Segmenter:
    segmenter = Segmenter.from_pretrained(WEIGHTS)
    log.info("model loaded from %s (backend %s, %dx%d)", WEIGHTS, segmenter.backend.name, segmenter.size, segmenter.size)
    return segmenter


SEGMENTER = load_segmenter()


def fit(image: np.ndarray, side: int = DISPLAY_SIDE) -> np.ndarray:
    """The image scaled down (never up) so that its long side is at most ``side``."""
    h, w = image.shape[:2]
    scale = side / max(h, w)
    if scale >= 1:
        return image
    return cv2.resize(image.astype(np.uint8), (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


def write_download(array: np.ndarray, name: str) -> str:
    """A PNG (no metadata) in this app's download folder; files older than the cache age go."""
    DOWNLOADS.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - CACHE_MINUTES * 60
    for old in DOWNLOADS.glob("*/*.png"):
        if old.stat().st_mtime < cutoff:
            shutil.rmtree(old.parent, ignore_errors=True)
    folder = DOWNLOADS / uuid.uuid4().hex
    folder.mkdir()
    path = folder / name
    path.write_bytes(to_png(array))
    return str(path)


def forget_upload(path: str, keep: set[str]) -> None:
    """Delete an uploaded file from Gradio's upload folder; never the app's own files or the
    cached examples (``keep``)."""
    upload_root = Path(os.environ["GRADIO_TEMP_DIR"]).resolve()
    target = Path(path).resolve()
    if target.is_relative_to(upload_root) and str(target) not in keep and path not in keep:
        target.unlink(missing_ok=True)


def options_from(threshold: float, margin_percent: float, crop_mode: str) -> SegmentOptions:
    return SegmentOptions(threshold=float(threshold), margin=float(margin_percent) / 100,
                          crop_mode="masked" if crop_mode.startswith("Masked") else "box")


def describe(result: SegmentationResult, seconds: float) -> str:
    """The result in words, for the page."""
    h, w = result.image.shape[:2]
    size = f"{w}x{h}" if result.scale == 1 else f"{result.original_size[0]}x{result.original_size[1]} (processed at {w}x{h})"
    if not result.found:
        return (f"### No cervix found\nThe model found no cervix in this photo ({size}), so no crop is offered. "
                f"Check that it is a colposcopy view of the cervix; with a lower threshold the model may "
                f"still outline a faint candidate.\n\n- **Processing time:** {seconds * 1000:.0f} ms")
    x0, y0, x1, y1 = result.box
    return (f"### Cervix found\n- **Confidence:** {result.confidence:.0%} (mean probability inside the mask)\n"
            f"- **Area:** {result.area_fraction:.0%} of the photo; box x {x0}-{x1}, y {y0}-{y1} in a {size} photo\n"
            f"- **Processing time:** {seconds * 1000:.0f} ms")


def render(result: SegmentationResult, seconds: float):
    """Page outputs for a result: overlay, mask, crop, text, and the two downloads."""
    mask_u8 = result.mask.astype(np.uint8) * 255
    crop = fit(result.crop) if result.found else None
    crop_file = write_download(result.crop, "cervix_crop.png") if result.found else None
    mask_file = write_download(mask_u8, "cervix_mask.png")
    return fit(result.overlay), fit(mask_u8), crop, describe(result, seconds), crop_file, mask_file


def empty_outputs(message: str = ""):
    return None, None, None, message, None, None


def segment(photo: str | None, threshold: float, margin_percent: float, crop_mode: str):
    """Segment an uploaded photo. Keeps (image, probability) in the session state so that
    control changes only redo the cheap post-processing."""
    if not photo:
        return (None, *empty_outputs())
    start = time.perf_counter()
    try:
        data = Path(photo).read_bytes()
    except FileNotFoundError:  # the same bytes uploaded twice at once: Gradio stores them once
        raise gr.Error("The upload was interrupted. Please upload the photo again.") from None
    finally:
        forget_upload(photo, files_gradio_keeps())
    try:
        result = SEGMENTER(data, options_from(threshold, margin_percent, crop_mode))
    except InvalidImageError as err:
        log.info("refused an upload of %d bytes: %s", len(data), type(err).__name__)
        raise gr.Error(str(err), title="This file cannot be used") from None
    except Exception as err:  # never a traceback in the page, never a dead server
        log.error("failed on an upload of %d bytes: %s", len(data), type(err).__name__)
        raise gr.Error("Something went wrong while processing this photo. Please try another file.") from None
    seconds = time.perf_counter() - start
    h, w = result.image.shape[:2]
    log.info("segmented %dx%d in %.0f ms, found=%s", w, h, seconds * 1000, result.found)
    state = {"image": result.image, "probability": result.working_probability, "original_size": result.original_size}
    return (state, *render(result, seconds))


def refine(state: dict | None, threshold: float, margin_percent: float, crop_mode: str):
    """Redo mask, box and crop from the kept probability map with new controls."""
    if not state:
        return empty_outputs()
    start = time.perf_counter()
    result = SEGMENTER.postprocess(state["image"], state["probability"], options_from(threshold, margin_percent, crop_mode),
                                   state["original_size"])
    return render(result, time.perf_counter() - start)


def files_gradio_keeps() -> set[str]:
    """Cached files Gradio itself never deletes (the examples), as its own cache cleaner reads them."""
    return set().union(*(getattr(block, "keep_in_cache", set()) for block in demo.blocks.values()))


def build() -> gr.Blocks:
    with gr.Blocks(title="cervix-unet", delete_cache=(60, CACHE_MINUTES * 60)) as demo:
        gr.Markdown(f"# {TITLE}")
        gr.Markdown(NOTICE, elem_classes="notice", elem_id="notice")
        gr.Markdown(INTRO)
        state = gr.State(None, time_to_live=CACHE_MINUTES * 60)
        with gr.Row(equal_height=True):
            photo = PhotoUpload(label="Photo", type="filepath", sources=["upload", "webcam", "clipboard"],
                             elem_id="photo", height=340)
            overlay = gr.Image(label="Cervix outlined", format="png", interactive=False, elem_id="overlay", height=340,
                               buttons=["download", "fullscreen"])
            mask = gr.Image(label="Mask", format="png", interactive=False, elem_id="mask", height=340,
                            buttons=["download", "fullscreen"])
            crop = gr.Image(label="Cropped cervix", format="png", interactive=False, elem_id="crop", height=340,
                            buttons=["download", "fullscreen"])
        with gr.Row():
            with gr.Column(scale=2):
                info = gr.Markdown("Upload a photo to begin.", elem_id="info", label="result")
            with gr.Column(scale=1):
                threshold = gr.Slider(0.05, 0.95, value=SegmentOptions.threshold, step=0.05, label="Threshold",
                                      info="probability above which a pixel counts as cervix")
                margin = gr.Slider(0, 30, value=SegmentOptions.margin * 100, step=1, label="Crop margin (%)",
                                   info="space kept around the cervix box")
                crop_mode = gr.Radio(["Box", "Masked (black outside the cervix)"], value="Box", label="Crop mode")
                with gr.Row():
                    crop_download = gr.DownloadButton("Download crop (PNG)", elem_id="download-crop")
                    mask_download = gr.DownloadButton("Download mask (PNG)", elem_id="download-mask")
        gr.Examples(examples=[[str(p)] for p in EXAMPLES], inputs=[photo], label="Examples (AnnoCerv, CC BY 4.0)",
                    elem_id="examples")
        gr.Markdown(CREDITS)

        outputs = [overlay, mask, crop, info, crop_download, mask_download]
        controls = [threshold, margin, crop_mode]
        photo.change(segment, [photo, *controls], [state, *outputs], api_name="segment", concurrency_id="model")
        for control in controls:
            control.change(refine, [state, *controls], outputs, api_name=False, concurrency_id="model")
    demo.queue(default_concurrency_limit=2, max_size=64)
    return demo


def main() -> None:
    parser = argparse.ArgumentParser(description="cervix-unet web app")
    parser.add_argument("--share", action="store_true", default=os.environ.get("CERVIX_UNET_SHARE") == "1",
                        help="create a public share link")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    args = parser.parse_args()
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, max_file_size="50mb",
                   css=CSS, footer_links=["api"], show_error=False, app_kwargs={"routes": web_routes()})


demo = build()  # Hugging Face Spaces and `gradio app.py` look for `demo`
add_web_link(demo)

if __name__ == "__main__":
    main()
