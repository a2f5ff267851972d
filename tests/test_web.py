"""The in-browser page (web/): built by its one command, loaded in Debian's Chromium from a plain
static file server, fed real photos, and held to the Python pipeline's answers.

- config.json is written from the Python package (working size, SegmentOptions, image_io limits);
- the page's arithmetic (OpenCV's resizes, post-processing) is bit-exact against the package's;
- each example photo, an EXIF-rotated one, a 3000x2000 one and one small in a wide frame give the
  masks, reliability and flags of the package on the page's network (the int8 export), and masks
  with Dice >= 0.99 against `Segmenter.from_pretrained("weights")`, downloaded through the page's
  own button;
- after the model has loaded the page makes no request at all (it works offline), and no request
  ever carries a body: the photo never leaves the browser;
- bad files get the package's own words and the page keeps working; a browser without
  WebAssembly SIMD is told so; `python app.py` serves the page at /web/ and links to it.
"""

from __future__ import annotations

import base64
import functools
import io
import itertools
import json
import subprocess
import sys
import threading
import urllib.request
from dataclasses import asdict
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from cervix_unet import InvalidImageError, Segmenter, SegmentOptions, quality
from cervix_unet.backends import EXPORT_FILES
from cervix_unet.image_io import MAX_PIXELS, MIN_SIDE, decode_image
from cervix_unet.postprocess import clean_mask
from cervix_unet.preprocess import resize_rgb
from cervix_unet.weights import read_config
from cervix_unet.workshop.metrics import DiceScore
from tests.conftest import EXAMPLES, ROOT, WEIGHTS, jpeg_bytes
from tests.test_browser import ARGS, CHROMIUM

pytestmark = pytest.mark.browser
BUILD = ROOT / "build" / "web"  # where the README's command writes it, and where app.py serves it from
PAGE_FILES = {"index.html", "style.css", "page.js", "segment.js", "quality.js", "image_file.js", "config.json",
              "model.int8.onnx", "ort/ort.wasm.bundle.min.js", "ort/ort-wasm-simd-threaded.wasm"}  # fmt: skip


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def site() -> Path:
    """The page built by the README's command."""
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_web.py"), "--out", str(BUILD)],
                          capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return BUILD


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _Isolated(_Quiet):
    """A host that sends the two headers of cross-origin isolation (as app.py does): threads."""

    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()


def _serve(site: Path, handler: type):
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


@pytest.fixture(scope="module")
def static_url(site):
    """Any static host: Python's own file server on a loopback port."""
    server, url = _serve(site, _Quiet)
    yield url
    server.shutdown()


@pytest.fixture(scope="module")
def isolated_url(site):
    server, url = _serve(site, _Isolated)
    yield url
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed (scripts/setup.sh --test installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


class WebPage:
    """One tab of the page with every request it makes recorded, loaded until the model is ready."""

    def __init__(self, browser, url: str, init_script: str | None = None) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        if init_script:
            self.context.add_init_script(init_script)
        self.requests: list[dict] = []
        self.websockets: list[str] = []
        self.context.on("request", self._record)
        self.page = self.context.new_page()
        self.page.on("websocket", lambda ws: self.websockets.append(ws.url))
        self.base = url
        self.page.goto(url)
        self.page.wait_for_function("document.body.dataset.state !== 'loading'", timeout=120_000)
        self.loaded_at = len(self.requests)

    def _record(self, request) -> None:
        body = request.post_data_buffer
        self.requests.append({"url": request.url, "method": request.method, "body": len(body) if body else 0})

    @property
    def state(self) -> str:
        return self.page.evaluate("document.body.dataset.state")

    def segment(self, path: Path) -> dict | None:
        """Choose a file as a person does; wait for the page's answer."""
        self.page.set_input_files("#file", str(path))
        self.page.wait_for_function(
            "document.body.dataset.state === 'ready' && document.querySelector('#info').dataset.outcome",
            timeout=120_000,
        )
        return self.page.evaluate("window.cervixUnet.result()")

    def download(self, button: str) -> np.ndarray:
        with self.page.expect_download(timeout=30_000) as info:
            self.page.click(button)
        with Image.open(info.value.path()) as im:
            assert im.format == "PNG" and not im.getexif()
            return np.asarray(im.convert("RGB"))

    def info(self) -> str:
        return self.page.inner_text("#info")

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def web(browser, static_url):
    page = WebPage(browser, static_url)
    assert page.state == "ready", page.page.inner_text("#status")
    yield page
    page.close()


@pytest.fixture(scope="module")
def page_backend(site) -> str:
    """The package's backend for the export the page was built with (its config.json), so that what
    is compared is the page's port of the pipeline, not 8-bit against 16-bit arithmetic: near a
    borderline mirror agreement the two networks' reliabilities differ by several hundredths."""
    model = json.loads((site / "config.json").read_text())["model"]["file"]
    return next(backend for backend, file in EXPORT_FILES.items() if file == model)


@pytest.fixture(scope="module")
def python_segmenter(page_backend):
    """The package on the page's own network."""
    return Segmenter.from_pretrained(WEIGHTS, backend=page_backend)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, tuple[Path, int | None]]:
    """The examples, one EXIF-rotated photo, one 3000x2000 camera-sized photo and one photo small in
    a wide dark frame (the second look runs in the page), with the
    ``max_side`` the Python reference uses (None: the full-size decode the browser does)."""
    folder = tmp_path_factory.mktemp("photos")
    found = {p.name: (p, 1000) for p in EXAMPLES}
    upright = np.asarray(Image.open(EXAMPLES[0]).convert("RGB"))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned a quarter anticlockwise: viewers turn it clockwise
    rotated = folder / "rotated_exif6.jpg"
    rotated.write_bytes(jpeg_bytes(np.ascontiguousarray(np.rot90(upright)), exif))
    found[rotated.name] = (rotated, 1000)
    big = folder / "camera_3000x2000.jpg"
    large = cv2.resize(np.asarray(Image.open(EXAMPLES[2]).convert("RGB")), (3000, 2000), interpolation=cv2.INTER_CUBIC)
    big.write_bytes(jpeg_bytes(large))
    found[big.name] = (big, None)
    wide = np.full((960, 1440, 3), 12, np.uint8)  # a phone-like view: the cervix small in a dark frame
    wide[288:672, 432:1008] = upright
    framed = folder / "wide_frame.jpg"
    framed.write_bytes(jpeg_bytes(wide))
    found[framed.name] = (framed, None)  # the page's own second look: region rows, resize, network, paste
    return found


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(DiceScore().add(a, b).values()[0])


# ------------------------------------------------------------------ one place for the definitions


def test_config_comes_from_the_python_package(site):
    config = json.loads((site / "config.json").read_text())
    assert config["input_size"] == read_config(WEIGHTS)["input_size"]
    assert config["options"] == asdict(SegmentOptions())
    assert config["limits"] == {"max_pixels": MAX_PIXELS, "min_side": MIN_SIDE}
    assert config["quality"]["flag_text"] == quality.FLAG_TEXT
    assert config["quality"]["reliability_min"] == quality.RELIABILITY_MIN
    assert config["quality"]["blur_max_sharpness"] == quality.BLUR_MAX_SHARPNESS
    assert len(config["quality"]) == 9  # the seven thresholds, the words and the flags that call for a check
    assert config["quality"]["check_flags"] == list(quality.CHECK_FLAGS)
    assert (site / config["model"]["file"]).read_bytes() == (WEIGHTS / config["model"]["file"]).read_bytes()
    assert {str(p.relative_to(site)) for p in site.rglob("*") if p.is_file()} == PAGE_FILES | {"ort/LICENSE"}


def test_the_page_starts_from_those_defaults(web):
    options = SegmentOptions()
    assert float(web.page.input_value("#threshold")) == options.threshold
    assert float(web.page.input_value("#margin")) == round(options.margin * 100)
    assert web.page.is_checked(f"input[name=crop-mode][value={options.crop_mode}]")


# ------------------------------------------------------------------ same arithmetic


def _in_page(web, script: str, **args):
    """Run ``script`` in the page with segment.js as ``m``, arrays passed as base64 (``bytes(x)``)."""
    args = {k: base64.b64encode(v.tobytes()).decode() if isinstance(v, np.ndarray) else v for k, v in args.items()}
    prelude = ("const m = await import('./segment.js');"
               "const bytes = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));"
               "const out = (x) => { const b = new Uint8Array(x.buffer); let s = '';"
               "  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));"
               "  return btoa(s); };")  # fmt: skip
    return web.page.evaluate(f"async (a) => {{ {prelude} {script} }}", args)


def test_resize_is_bit_exact_against_the_package(web):
    rng = np.random.default_rng(0)
    for w, h in [(576, 384), (384, 576), (1000, 750), (300, 260), (256, 256), (257, 258), (129, 500), (100, 60)]:
        image = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 2)
        got = _in_page(web, "const s = bytes(a.src); return out(m.resizeRgb("
                       "(y) => s.subarray(y * a.w * 3, (y + 1) * a.w * 3), () => s, a.w, a.h, 128, 3));",
                       src=image, w=w, h=h)  # fmt: skip
        got = np.frombuffer(base64.b64decode(got), np.uint8).reshape(128, 128, 3)
        assert np.array_equal(got, resize_rgb(image, 128)), (w, h)


def test_postprocessing_is_bit_exact_against_the_package(web, python_segmenter):
    rng = np.random.default_rng(1)
    maps = [python_segmenter(p).working_probability for p in EXAMPLES[:2]]
    maps += [cv2.GaussianBlur(rng.random((128, 128)).astype(np.float32), (0, 0), 3) for _ in range(2)]
    maps = [((m - m.min()) / (m.max() - m.min())).astype(np.float32) if i >= 2 else m for i, m in enumerate(maps)]
    image = cv2.resize(np.asarray(Image.open(EXAMPLES[0]).convert("RGB")), (700, 700))  # the second look sees this
    zoomed = 0
    for probability, (w, h), (threshold, margin), (average, zoom) in itertools.product(
        maps,
        [(576, 384), (333, 700), (90, 60)],
        [(0.5, 0.05), (0.3, 0.13), (0.55, 0)],
        [(False, None), (True, None), (True, 0.25), (False, 0.1)],
    ):
        flipped = np.ascontiguousarray(np.roll(probability, 5, axis=1)) if average else None  # a map that differs
        options = SegmentOptions(threshold=threshold, margin=margin, flip_average=average, zoom_margin=zoom)
        want = python_segmenter.postprocess(image[:h, :w], probability, options, flipped=flipped)
        zoomed += want.zoom_box is not None
        second = want.zoom_maps or (np.zeros(0, np.float32),) * 2
        got = _in_page(web, "const f = a.f ? new Float32Array(bytes(a.f).buffer) : null; "
                       "const z = a.zb ? { box: a.zb, probability: new Float32Array(bytes(a.zp).buffer), "
                       "  flipped: new Float32Array(bytes(a.zf).buffer) } : null; "
                       "const r = m.postprocess(new Float32Array(bytes(a.p).buffer), 128, a.w, a.h, a.o, f, null, null, z); "
                       "return {...r, mask: out(r.mask), probability: null};",
                       p=probability, f=flipped, w=w, h=h, zb=want.zoom_box and list(want.zoom_box),
                       zp=second[0], zf=second[1],
                       o={"threshold": threshold, "margin": margin, "min_area_fraction": 0.02,
                          "flip_average": average, "zoom_margin": zoom})  # fmt: skip
        case = (w, h, threshold, average, zoom)
        assert got["zoomBox"] == (list(want.zoom_box) if want.zoom_box else None), case
        assert got["zoomed"] == (want.zoom_box is not None), case
        mask = np.frombuffer(base64.b64decode(got["mask"]), np.uint8).reshape(h, w)
        assert np.array_equal(mask.astype(bool), want.mask), case
        assert got["found"] == want.found and got["cropBox"] == (list(want.crop_box) if want.found else None)
        assert got["confidence"] == pytest.approx(want.confidence, abs=1e-6)
        assert got["reliability"] == pytest.approx(want.reliability, abs=1e-6)
    assert zoomed >= 20  # the second look was compared, not only skipped


def test_quality_measures_and_flags_match_the_package(web, python_segmenter):
    rng = np.random.default_rng(2)
    cases = []
    for path in EXAMPLES[:2]:
        result = python_segmenter(path)
        small = resize_rgb(result.image, 128)
        working = clean_mask(result.working_probability, 0.5)
        cases += [
            (small, working),
            ((small * 0.4).astype(np.uint8), working),
            (cv2.GaussianBlur(small, (0, 0), 3), working),
        ]
        cases.append((small, working & (np.arange(128)[None, :] < 40)))  # a region cut by the frame
    cases.append((rng.integers(0, 256, (128, 128, 3), dtype=np.uint8), np.zeros((128, 128), bool)))  # empty mask
    cases.append((np.full((128, 128, 3), 250, np.uint8), np.ones((128, 128), bool)))  # glare everywhere
    for small, mask in cases:
        want = quality.quality_measures(small, mask)
        got = _in_page(web, "const q = await import('./quality.js'); const s = bytes(a.small), k = bytes(a.mask);"
                       "const measures = q.qualityMeasures(s, k, 128);"
                       "return { measures, flags: q.qualityFlags(measures, a.found, a.rules) };",
                       small=small, mask=mask.astype(np.uint8), found=bool(mask.any()),
                       rules=json.loads((BUILD / "config.json").read_text())["quality"])  # fmt: skip
        assert got["measures"] == pytest.approx(want, rel=1e-5, abs=1e-6)
        assert got["flags"] == quality.quality_flags(want, bool(mask.any()))
    a, b = (rng.random((128, 128)) > 0.5), (rng.random((128, 128)) > 0.4)
    got = _in_page(web, "const q = await import('./quality.js'); return q.flipAgreement(bytes(a.a), bytes(a.b));",
                   a=a.astype(np.uint8), b=b.astype(np.uint8))  # fmt: skip
    assert got == pytest.approx(quality.flip_agreement(a, b), abs=1e-12)


# ------------------------------------------------------------------ same masks, real model, real page


def test_masks_match_the_python_pipeline(web, photos, python_segmenter, page_backend):
    full_size = Segmenter.from_pretrained(WEIGHTS, backend=page_backend, max_side=None)
    package = {True: Segmenter.from_pretrained(WEIGHTS), False: Segmenter.from_pretrained(WEIGHTS, max_side=None)}
    zoomed = []
    for name, (path, max_side) in photos.items():
        reference = (python_segmenter if max_side else full_size)(path)
        summary = web.segment(path)
        assert summary["found"] and reference.found, name
        assert (summary["width"], summary["height"]) == reference.original_size, name
        mask = web.download("#download-mask")[:, :, 0] > 127
        assert mask.shape == reference.mask.shape, name
        score = dice(mask, reference.mask)
        assert score >= 0.99, f"{name}: Dice {score:.4f}"
        default = dice(mask, package[bool(max_side)](path).mask)  # the package's own backend on this CPU
        assert default >= 0.99, f"{name}: Dice {default:.4f} against the default backend"
        assert summary["confidence"] == pytest.approx(reference.confidence, abs=0.02), name
        assert summary["reliability"] == pytest.approx(reference.reliability, abs=0.02), name
        assert (summary["flags"], summary["check"]) == (reference.flags, reference.check), name
        assert summary["zoomed"] == (reference.zoom_box is not None) == (summary["zoomBox"] is not None), name
        if reference.zoom_box:  # the same region, up to the two JPEG decoders
            assert np.abs(np.subtract(summary["zoomBox"], reference.zoom_box)).max() <= 0.02 * max(mask.shape), name
        zoomed.append(summary["zoomed"])
        assert ("Check this result" if reference.check else "Cervix found") in web.info(), name
        assert "Processing time" in web.info()
        crop = web.download("#download-crop")
        x0, y0, x1, y1 = summary["cropBox"]
        assert crop.shape == (y1 - y0, x1 - x0, 3), name
        assert np.abs(np.array(summary["cropBox"]) - np.array(reference.crop_box)).max() <= 0.02 * max(mask.shape), name
        # the network saw what Python's network sees, up to the two JPEG decoders (both libjpeg-turbo)
        small = np.array(web.page.evaluate("window.cervixUnet.networkInput()"), np.uint8).reshape(128, 128, 3)
        image, _ = decode_image(path, max_side=max_side)
        assert np.abs(small.astype(int) - resize_rgb(image, 128)).mean() < 1.0, name
    assert any(zoomed)  # the wide frame's second look ran in the page


def test_controls_redo_only_the_postprocessing(web, python_segmenter):
    web.segment(EXAMPLES[1])
    network_ms = web.page.evaluate("window.cervixUnet.result().timings.network")
    web.page.fill("#threshold", "0.8")
    web.page.dispatch_event("#threshold", "input")
    web.page.fill("#margin", "20")
    web.page.dispatch_event("#margin", "input")
    web.page.check("input[name=crop-mode][value=masked]")
    web.page.wait_for_timeout(500)
    summary = web.page.evaluate("window.cervixUnet.result()")
    reference = python_segmenter(EXAMPLES[1], threshold=0.8, margin=0.2, crop_mode="masked")
    assert summary["timings"]["network"] == network_ms  # the network did not run again
    mask = web.download("#download-mask")[:, :, 0] > 127
    assert dice(mask, reference.mask) >= 0.99
    crop = web.download("#download-crop")
    x0, y0, x1, y1 = summary["cropBox"]
    assert not crop[~mask[y0:y1, x0:x1]].any()  # black outside the cervix
    for selector, value in [("#threshold", "0.5"), ("#margin", "5")]:
        web.page.fill(selector, value)
        web.page.dispatch_event(selector, "input")
    web.page.check("input[name=crop-mode][value=box]")


def test_check_this_result_when_the_package_says_so(web, python_segmenter, tmp_path):
    photo = np.asarray(Image.open(EXAMPLES[1]).convert("RGB"))
    for name, image in [
        ("dark.png", (photo * 0.45).astype(np.uint8)),
        ("blurred.png", cv2.GaussianBlur(photo, (0, 0), 6)),
    ]:
        path = tmp_path / name
        Image.fromarray(image).save(path)
        reference = python_segmenter(path)
        assert reference.flags, name
        summary = web.segment(path)
        assert summary["check"] == reference.check and summary["flags"] == reference.flags, name
        assert summary["outcome"] == ("check" if reference.check else "found"), name
        text = web.info()
        if not reference.check:  # blur alone is reported, not a reason to check (quality.CHECK_FLAGS)
            continue
        assert text.startswith("Check this result"), text
        assert all(quality.FLAG_TEXT[flag] in text for flag in reference.flags), text
        assert not web.page.is_disabled("#download-crop")  # the crop is offered, with the warning


def test_no_cervix_found_in_the_same_words(web, python_segmenter, tmp_path):
    dark = tmp_path / "dark.png"  # (a plain grey or coloured frame is "found": the model sees little else)
    Image.new("RGB", (400, 300), (0, 0, 0)).save(dark)
    assert not python_segmenter(dark).found
    summary = web.segment(dark)
    assert summary["found"] is False and summary["outcome"] == "none"
    text = web.info()
    assert text.startswith("No cervix found")
    assert "The model found no cervix in this photo (400x300), so no crop is offered." in text
    assert "### No cervix found\\nThe model found no cervix in this photo" in (ROOT / "app.py").read_text()
    assert web.page.is_disabled("#download-crop")


def test_a_dropped_photo_and_a_camera_frame(web, browser, static_url):
    data = base64.b64encode(EXAMPLES[2].read_bytes()).decode()
    drop = web.page.evaluate_handle(
        """(b64) => { const t = new DataTransfer(); const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        t.items.add(new File([bytes], "dropped.jpg", { type: "image/jpeg" })); return t; }""",
        data,
    )
    web.page.dispatch_event("#photo-panel", "drop", {"dataTransfer": drop})
    web.page.wait_for_function("window.cervixUnet.result()?.width === 576 && window.cervixUnet.state === 'ready'")
    assert web.page.evaluate("window.cervixUnet.result()")["found"]
    fake_camera = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]  # a test pattern
    camera = browser.browser_type.launch(executable_path=CHROMIUM, headless=True, args=[*ARGS, *fake_camera])
    try:
        page = camera.new_context(permissions=["camera"]).new_page()
        page.goto(static_url)
        page.wait_for_function("document.body.dataset.state === 'ready'", timeout=120_000)
        page.click("#camera")
        page.wait_for_function("document.querySelector('#video').readyState >= 2", timeout=30_000)
        page.click("#snap")
        page.wait_for_function(
            "document.body.dataset.state === 'ready' && document.querySelector('#info').dataset.outcome"
        )
        assert page.evaluate("window.cervixUnet.result().width") > 0 and page.is_visible("#photo")
        assert page.evaluate("document.querySelector('#video').srcObject") is None  # the camera was let go
    finally:
        camera.close()


# ------------------------------------------------------------------ bad files


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims to be ``width`` x ``height`` (a decompression bomb's header)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def _jpeg_claiming(width: int, height: int) -> bytes:
    """A real JPEG whose frame header is rewritten to claim ``width`` x ``height``."""
    data = bytearray(EXAMPLES[0].read_bytes())
    at = next(i for i in range(2, len(data)) if data[i] == 0xFF and data[i + 1] in (0xC0, 0xC2))
    data[at + 5 : at + 9] = bytes([height >> 8, height & 255, width >> 8, width & 255])
    return bytes(data)


def _bad_files() -> dict[str, bytes]:
    tiny = io.BytesIO()
    Image.new("RGB", (8, 8)).save(tiny, format="PNG")
    good = EXAMPLES[0].read_bytes()
    return {
        "notes.jpg": b"this is a text file, not a photo",
        "empty.jpg": b"",
        "truncated.jpg": good[: len(good) // 2],
        "over_the_limit.png": _png_header_only(10000, 8000),
        "over_the_limit.jpg": _jpeg_claiming(9000, 8000),
        "tiny.png": tiny.getvalue(),
    }


def _python_message(data: bytes) -> str:
    with pytest.raises(InvalidImageError) as err:
        decode_image(data)
    # the page names the formats a browser decodes, fewer than the package reads
    if "not an image that can be read" in str(err.value):
        return "This file is not an image that can be read (use JPEG, PNG, BMP or WebP)."
    return str(err.value)


def test_bad_files_get_the_packages_words_and_the_page_keeps_working(web, tmp_path):
    web.segment(EXAMPLES[3])  # a result first: an error must not leave it on the page
    for name, data in _bad_files().items():
        path = tmp_path / name
        path.write_bytes(data)
        assert web.segment(path) is None, name
        text = web.info()
        assert text.startswith("This file cannot be used"), name
        assert _python_message(data) in text, f"{name}: {text!r}"
        assert web.page.is_hidden("#overlay") and web.page.is_disabled("#download-mask"), name
        assert web.state == "ready"
    assert web.segment(EXAMPLES[3])["found"]


def test_a_decompression_bomb_is_refused_before_decoding(web, tmp_path):
    # Pillow itself refuses this header before the package's check (issue 12 changes that), so the
    # words are the package's template rather than its output; the page never allocates the pixels
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header_only(60000, 60000))
    assert web.segment(bomb) is None
    assert (
        "The image is too large (60000x60000 = 3600 megapixels; the limit is 64). It was refused before decoding. "
        "Please use a smaller photograph." in web.info()
    )
    assert web.segment(EXAMPLES[0])["found"]


# ------------------------------------------------------------------ nothing leaves the browser


@pytest.mark.parametrize("host", ["static_url", "isolated_url"])
def test_no_request_after_loading_and_none_carries_data(browser, photos, host, request):
    url = request.getfixturevalue(host)
    web = WebPage(browser, url)
    try:
        assert web.page.evaluate("self.crossOriginIsolated") == (host == "isolated_url")
        loaded = {r["url"].removeprefix(url) for r in web.requests}
        assert {"page.js", "model.int8.onnx", "ort/ort-wasm-simd-threaded.wasm"} <= loaded <= PAGE_FILES | {""}, loaded
        web.context.set_offline(True)  # the network cut: the page still works
        for path, _ in photos.values():
            assert web.segment(path)["found"]
            web.download("#download-mask")
            web.download("#download-crop")
        after = [r for r in web.requests[web.loaded_at :] if not r["url"].startswith("blob:")]
        assert after == [], after  # not one request once loaded (the downloads are local blob: URLs)
        assert all(r["method"] == "GET" and r["body"] == 0 for r in web.requests), web.requests
        assert web.websockets == []
    finally:
        web.close()


def test_a_browser_without_webassembly_is_told_so(browser, static_url):
    web = WebPage(browser, static_url, init_script="delete window.WebAssembly")
    try:
        assert web.state == "unsupported"
        assert "This browser cannot run the model" in web.page.inner_text("#status")
        assert web.page.is_disabled("#file")
    finally:
        web.close()


# ------------------------------------------------------------------ served by the app


def test_the_app_serves_the_page_and_links_to_it(site, app_server, browser):
    with urllib.request.urlopen(app_server.url + "config") as response:
        assert "Run on this device:** [the same model inside your browser](web/)" in response.read().decode()
    web = WebPage(browser, app_server.url + "web")  # redirected to web/
    try:
        assert web.state == "ready" and web.page.url == app_server.url + "web/"
        assert web.page.evaluate("self.crossOriginIsolated")  # so ONNX Runtime Web may use threads
        assert web.segment(EXAMPLES[0])["found"]
    finally:
        web.close()
