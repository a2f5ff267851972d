"""The app as a person uses it: Debian's Chromium driven by Playwright, against the running server.

Set CERVIX_UNET_SCREENSHOT=path to keep a screenshot of the working page (docs/app.png).
"""

import io
import os
import re
import shutil
import struct
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed (scripts/setup.sh --test installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, app_server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.goto(app_server.url)
    page.get_by_text("Research use only").wait_for(timeout=30_000)
    yield page
    context.close()


def _wait_until_done(page):
    page.wait_for_timeout(300)
    page.get_by_text(re.compile(r"processing \|")).first.wait_for(state="hidden", timeout=60_000)
    page.wait_for_timeout(200)


def _new_page(browser, app_server, **context):
    context = browser.new_context(**{"viewport": {"width": 1400, "height": 1000}, "accept_downloads": True, **context})
    page = context.new_page()
    page.goto(app_server.url)
    page.get_by_text("Research use only").wait_for(timeout=30_000)
    return page


def _image_src(page, elem_id):
    return page.locator(f"#{elem_id} img").first.get_attribute("src", timeout=30_000)


def test_example_gives_three_images_and_a_download(page, tmp_path):
    assert page.get_by_text("not a diagnostic device").is_visible()
    page.locator("#examples").get_by_role("button").first.click()
    page.locator("#info").get_by_text("Cervix found").wait_for(timeout=60_000)
    for elem_id in ["overlay", "mask", "crop"]:
        assert _image_src(page, elem_id)
    assert re.search(r"Processing time:\s*\d+ ms", page.locator("#info").inner_text())
    with page.expect_download(timeout=30_000) as info:
        page.locator("#download-crop").click()
    saved = tmp_path / "crop.png"
    info.value.save_as(saved)
    with Image.open(saved) as im:
        assert im.format == "PNG" and not im.getexif()
        assert np.asarray(im).shape[2] == 3
    target = os.environ.get("CERVIX_UNET_SCREENSHOT")
    if target:
        page.screenshot(path=target, full_page=True)
    # the cached examples survive their use: another one, then the first again, both answer
    first = page.locator("#info").inner_text()
    page.locator("#examples").get_by_role("button").nth(1).click()
    _wait_until_done(page)
    second = page.locator("#info").inner_text()
    assert "Cervix found" in second and second != first
    page.locator("#examples").get_by_role("button").first.click()
    _wait_until_done(page)
    assert page.locator("#info").inner_text().split("Processing")[0] == first.split("Processing")[0]
    assert "Something went wrong" not in page.content() and "interrupted" not in page.content()


def test_bad_file_shows_a_message(page, tmp_path, app_server):
    bad = tmp_path / "notes.jpg"
    bad.write_text("this is a text file")
    page.locator("#photo input[type=file]").set_input_files(str(bad))
    page.get_by_text(re.compile("not an image")).first.wait_for(timeout=30_000)
    assert "Traceback" not in page.content()
    assert app_server.alive()


def test_upload_a_real_photo(page, example_paths, tmp_path):
    photo = tmp_path / "upload.png"
    Image.open(example_paths[1]).save(photo)
    page.locator("#photo input[type=file]").set_input_files(str(photo))
    page.locator("#info").get_by_text("Cervix found").wait_for(timeout=60_000)
    page.get_by_label("Masked (black outside the cervix)").check()
    page.wait_for_timeout(1500)
    assert _image_src(page, "crop")


# ---- a person using the page: replacing photos, errors, downloads, the series, a phone ----


def _info(page):
    return page.locator("#info").inner_text()


def _downloads_enabled(page):
    return [page.locator(f"#download-{kind}").is_enabled() for kind in ("crop", "mask")]


def _shown_images(page):
    return [page.locator(f"#{elem_id} img").count() for elem_id in ("overlay", "mask", "crop")]


def _watch_joins(page):
    joins = []
    page.on("request", lambda r: joins.append(r.post_data or "") if "queue/join" in r.url else None)
    return joins


def _photo(source, path, size=None):
    with Image.open(source) as im:
        (im.resize(size) if size else im).save(path)
    return path


def _bomb_png(path, side=60000):
    """A small PNG whose header claims side x side pixels (a decompression bomb)."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\0" * 4096))
        + chunk(b"IEND", b"")
    )
    return path


def test_replacing_a_photo_runs_one_job_and_shows_no_false_error(page, example_paths, tmp_path):
    joins = _watch_joins(page)
    upload = page.locator("#photo input[type=file]")
    assert _downloads_enabled(page) == [False, False]  # no result yet
    upload.set_input_files(str(_photo(example_paths[0], tmp_path / "first.png")))
    page.locator("#info").get_by_text("Cervix found").wait_for(timeout=60_000)
    first = _info(page)
    assert _downloads_enabled(page) == [True, True]
    for i, source in enumerate([example_paths[1], example_paths[2], example_paths[1]]):
        joins.clear()
        upload.set_input_files(str(_photo(source, tmp_path / f"next_{i}.png")))
        page.wait_for_function("document.querySelector('#info').innerText.includes('Cervix found')", timeout=60_000)
        _wait_until_done(page)
        page.wait_for_timeout(1000)
        assert len(joins) == 1, joins  # one job for one replacement
        assert "interrupted" not in page.content() and "cannot be used" not in page.content()
    assert _info(page) != first and _downloads_enabled(page) == [True, True]


def test_replacing_a_photo_while_it_is_processed_never_shows_its_result(page, example_paths, tmp_path):
    """A slow photo (7000x5000 PNG) replaced by a small one before its answer: its result must
    not appear beside the new photo, even though the server finishes it."""
    joins = _watch_joins(page)
    big = _photo(example_paths[2], tmp_path / "big.png", (7000, 5000))
    small = _photo(example_paths[0], tmp_path / "small.png")
    upload = page.locator("#photo input[type=file]")
    upload.set_input_files(str(big))
    page.wait_for_function("() => true")
    deadline = time.time() + 60
    while not joins and time.time() < deadline:
        page.wait_for_timeout(50)
    upload.set_input_files(str(small))
    seen = []
    deadline = time.time() + 20
    while time.time() < deadline:
        seen.append(_info(page))
        if "576x384" in seen[-1] and "processing" not in page.locator("#info").inner_text():
            break
        page.wait_for_timeout(50)
    page.wait_for_timeout(4000)  # the slow job has finished by now
    seen.append(_info(page))
    assert not any("7000x5000" in text for text in seen), seen
    assert "Cervix found" in seen[-1] and "576x384" in seen[-1]


def test_an_error_after_a_result_clears_it_and_stays(page, example_paths, tmp_path):
    upload = page.locator("#photo input[type=file]")
    upload.set_input_files(str(_photo(example_paths[0], tmp_path / "good.png")))
    page.locator("#info").get_by_text("Cervix found").wait_for(timeout=60_000)
    notes = tmp_path / "notes.jpg"
    notes.write_text("a text file, not a photo")
    for bad, reason in [(_bomb_png(tmp_path / "bomb.png"), r"too large|decompression bomb"), (notes, "not an image")]:
        upload.set_input_files(str(bad))
        page.locator("#info").get_by_text(re.compile(reason, re.IGNORECASE)).wait_for(timeout=30_000)
        text = _info(page)
        assert "cervix-unet" in text and re.search(reason, text, re.IGNORECASE), text
        assert "Cervix found" not in page.locator("body").inner_text()  # no earlier result beside it
        assert _shown_images(page) == [0, 0, 0] and _downloads_enabled(page) == [False, False]
        assert "Traceback" not in page.content() and "Something went wrong" not in text
    page.wait_for_timeout(11_000)  # longer than a toast lives: the page still says what is wrong
    assert "not an image" in _info(page)
    upload.set_input_files(str(_photo(example_paths[1], tmp_path / "good_again.png")))
    page.locator("#info").get_by_text("Cervix found").wait_for(timeout=60_000)
    assert "cannot be used" not in _info(page) and _shown_images(page) == [1, 1, 1]


def test_two_users_at_once_past_the_cleanup_age(browser, app_server, example_paths, tmp_path):
    """Two people uploading one photo after another for longer than the files are kept (12 s in
    the tests): every upload answered, each download a PNG, never a silent failure."""
    from tests.conftest import APP_RETENTION_S

    pages = [_new_page(browser, app_server) for _ in range(2)]
    deadline, rounds = time.time() + 2.5 * APP_RETENTION_S, 0
    try:
        while time.time() < deadline:
            if rounds % 3 == 0:  # both users upload the same bytes under the same name: one stored file
                photos = [_photo(example_paths[3], tmp_path / f"shared_{rounds}.png")] * 2
            else:
                photos = [_photo(example_paths[(rounds + u) % 3], tmp_path / f"user{u}_{rounds}.png") for u in range(2)]
            for page, photo in zip(pages, photos):
                page.locator("#photo input[type=file]").set_input_files(str(photo))
            for u, (page, name) in enumerate(zip(pages, [p.name for p in photos])):
                page.wait_for_function(f"document.querySelector('#info').innerText.includes('{name}')", timeout=60_000)
                text = _info(page)
                assert "Cervix found" in text and "576x384" in text, (rounds, u, text)
                with page.expect_download(timeout=30_000) as info:
                    page.locator("#download-mask").click()
                saved = tmp_path / f"mask_{rounds}_{u}.png"
                info.value.save_as(saved)
                with Image.open(saved) as im:
                    assert im.format == "PNG" and im.size == (576, 384)
            rounds += 1
        assert rounds >= 4
    finally:
        for page in pages:
            page.context.close()
    assert app_server.alive()


def test_a_series_gives_a_gallery_and_one_zip(page, example_paths, tmp_path):
    page.get_by_role("tab", name="A series").click()
    assert not page.locator("#download-zip").is_enabled()
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    page.locator("#series-files input[type=file]").set_input_files([str(p) for p in example_paths] + [str(notes)])
    page.locator("#series-info").get_by_text("could not be used").wait_for(timeout=120_000)
    text = page.locator("#series-info").inner_text()
    assert "cervix found in 4" in text and "notes.txt" in text and "not an image" in text
    assert page.locator("#gallery img").count() >= 4
    with page.expect_download(timeout=30_000) as info:
        page.locator("#download-zip").click()
    saved = tmp_path / "series.zip"
    info.value.save_as(saved)
    with zipfile.ZipFile(saved) as z:
        names = z.namelist()
        assert len([n for n in names if n.startswith("crops/")]) == 4 and "summary.csv" in names
        assert "notes.txt" in z.read("summary.csv").decode()
        with Image.open(io.BytesIO(z.read(names[0]))) as crop:
            assert crop.format == "PNG" and not crop.getexif()


def test_on_a_phone_the_controls_sit_under_what_they_change(browser, app_server):
    page = _new_page(browser, app_server, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        page.locator("#examples").get_by_role("button").first.click()
        page.locator("#info").get_by_text("Cervix found").wait_for(timeout=60_000)

        def box(locator):
            return locator.first.bounding_box()

        mask, crop = box(page.locator("#mask")), box(page.locator("#crop"))
        threshold, margin = box(page.get_by_text("Threshold", exact=True)), box(page.get_by_text("Crop margin (%)"))
        assert 0 <= threshold["y"] - (mask["y"] + mask["height"]) < 100  # right under the mask
        assert 0 <= margin["y"] - (crop["y"] + crop["height"]) < 100  # right under the crop
        assert box(page.locator("#info"))["y"] < box(page.locator("#overlay"))["y"]  # the words beside the photo
    finally:
        page.context.close()
