"""The Gradio app through its named API endpoints, with gradio_client against the running server."""

import csv
import io
import os
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from tests.conftest import APP_RETENTION_S, EXAMPLES, ROOT

sys.path.insert(0, str(ROOT / "scripts"))
from load_test import identical_and_distinct  # noqa: E402


@pytest.fixture(scope="module")
def client(app_server):
    return Client(app_server.url, verbose=False)


def _segment(client, path, threshold=0.5, margin=5, mode="Box"):
    return client.predict(handle_file(str(path)), threshold, margin, mode, api_name="/segment")


def _no_metadata(path):
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert not im.getexif() and "exif" not in im.info and not getattr(im, "text", {})
        return np.asarray(im)


def test_segment_endpoint_on_a_real_photo(client):
    overlay, mask, crop, info, crop_file, mask_file = _segment(client, EXAMPLES[0])
    assert "Cervix found" in info and "Confidence" in info and "ms" in info
    assert _no_metadata(overlay).shape == (384, 576, 3)
    assert set(np.unique(_no_metadata(mask))) <= {0, 255}
    assert _no_metadata(crop).ndim == 3
    assert _no_metadata(mask_file).shape == (384, 576)
    full_crop = _no_metadata(crop_file)
    assert full_crop.shape[0] <= 384 and full_crop.shape[1] <= 576


def test_masked_mode_blacks_out(client):
    *_, crop_file, mask_file = _segment(client, EXAMPLES[1], mode="Masked (black outside the cervix)", margin=10)
    crop = _no_metadata(crop_file)
    assert (crop.sum(axis=2) == 0).mean() > 0.02


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"hello, not an image", "not an image"),
        (None, "truncated|decoded"),
    ],
)
def test_bad_files_get_a_message_and_the_server_lives(client, app_server, tmp_path, payload, message):
    import re

    from gradio_client.exceptions import AppError

    bad = tmp_path / "bad.jpg"
    bad.write_bytes(payload if payload is not None else EXAMPLES[0].read_bytes()[:4000])
    with pytest.raises(AppError) as err:
        _segment(client, bad)
    assert re.search(message, str(err.value))
    assert "Traceback" not in str(err.value)
    assert app_server.alive()
    assert "Cervix found" in _segment(client, EXAMPLES[2])[3]


def test_blank_image_says_no_cervix(client, tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("RGB", (600, 400), (0, 0, 0)).save(blank)
    overlay, mask, crop, info, crop_file, mask_file = _segment(client, blank)
    assert "No cervix found" in info and crop is None and crop_file is None


def test_uploads_and_results_go_within_the_retention_time(client, app_server, tmp_path):
    photo = tmp_path / "private_patient_photo.jpg"
    Image.open(EXAMPLES[3]).rotate(180).save(photo, quality=90)  # not one of the app's examples
    _segment(client, photo)
    [private] = app_server.private_dirs
    examples = {p.read_bytes() for p in EXAMPLES}

    def patient_files():
        """Files on disk that are not the examples. The sweeper may delete a folder or file while
        this walks: os.walk skips a vanished folder, and a vanished file is gone, as it should be."""
        kept = []
        for folder, _, names in os.walk(private):
            for path in (Path(folder) / name for name in names):
                try:
                    if path.read_bytes() not in examples:
                        kept.append(path)
                except FileNotFoundError:
                    continue
        return kept

    assert any(p.read_bytes() == photo.read_bytes() for p in patient_files())  # kept while it may be in use
    deadline = time.time() + APP_RETENTION_S + 5
    while patient_files() and time.time() < deadline:
        time.sleep(0.5)
    assert patient_files() == []
    assert "Cervix found" in _segment(client, EXAMPLES[0])[3]  # the cached examples still answer


def test_identical_and_different_uploads_at_once(app_server):
    """8 requests with the same bytes (stored once by Gradio) and 8 with different ones: 16/16.
    Every answer's files are its own: none is named by its content (Gradio's cache does that, and
    rewrote a file shared by identical answers while it was being sent)."""
    report = identical_and_distinct(app_server.url, 8)
    assert report["ok"] == report["requests"] == 16, report
    [private] = app_server.private_dirs
    assert [p.name for p in private.glob("*/image.png")] == []


def test_a_series_gives_a_gallery_a_zip_and_reasons(client, tmp_path):
    bad = tmp_path / "scan.pdf"
    bad.write_bytes(b"%PDF-1.4 not a photo")
    files = [handle_file(str(EXAMPLES[0])), handle_file(str(bad)), handle_file(str(EXAMPLES[1]))]
    gallery, text, zip_file = client.predict(files, 0.5, 5, "Box", api_name="/segment_series")
    assert len(gallery) == 2 and all("cervix found" in item["caption"] for item in gallery)
    assert "scan.pdf" in text and "not an image" in text
    with zipfile.ZipFile(zip_file) as z:
        rows = list(csv.DictReader(io.StringIO(z.read("summary.csv").decode())))
        assert [r["status"] for r in rows] == ["cervix found", "not processed", "cervix found"]
        assert len([n for n in z.namelist() if n.startswith("crops/")]) == 2


def test_exif_is_not_passed_on(client, tmp_path):
    im = Image.open(EXAMPLES[0])
    exif = Image.Exif()
    exif[0x010F] = "SecretCamera"
    exif[0x8298] = "Patient Name"  # Copyright tag, standing in for identifying text
    path = tmp_path / "with_exif.jpg"
    im.save(path, "JPEG", exif=exif)
    outputs = _segment(client, path)
    for out in [outputs[0], outputs[1], outputs[2], outputs[4], outputs[5]]:
        data = open(out, "rb").read()
        assert b"SecretCamera" not in data and b"Patient Name" not in data
        _no_metadata(out)


def test_sigterm_removes_the_private_folder_and_start_purges_dead_ones(tmp_path):
    """SIGTERM (systemd, Docker, Spaces) with requests in flight leaves no folder of the app; a
    folder left by a killed process is purged when the next one starts."""
    import signal
    import subprocess
    import threading

    from tests.app_server import AppServer

    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    left = tmp_path / "gradio" / f"cervix-unet-app-{int(done.stdout)}-1"  # as if killed with SIGKILL
    left.mkdir(parents=True)
    (left / "crop.png").write_bytes(b"patient pixels")
    server = AppServer(tmp_path)
    try:
        assert not left.exists() and len(server.private_dirs) == 1
        client = Client(server.url, verbose=False)
        _segment(client, EXAMPLES[0])
        assert any(p.is_file() for p in server.private_dirs[0].rglob("*"))
        in_flight = lambda: _try(lambda: _segment(Client(server.url, verbose=False), EXAMPLES[1]))  # noqa: E731
        threads = [threading.Thread(target=in_flight) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.0)  # requests uploading and in the queue
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(20) == 0
        for t in threads:
            t.join(30)
    finally:
        server.stop()
    assert server.private_dirs == []


def _try(fn):
    try:
        fn()
    except Exception:
        pass
