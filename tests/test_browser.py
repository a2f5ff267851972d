"""The app as a person uses it: Debian's Chromium driven by Playwright, against the running server.

Set CERVIX_UNET_SCREENSHOT=path to keep a screenshot of the working page (docs/app.png).
"""
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

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
