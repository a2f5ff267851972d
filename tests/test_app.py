"""The Gradio app through its named API endpoint, with gradio_client against the running server."""
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from tests.conftest import EXAMPLES


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


@pytest.mark.parametrize("payload, message", [
    (b"hello, not an image", "not an image"),
    (None, "truncated|decoded"),
])
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


def test_uploads_are_not_kept(client, app_server, tmp_path):
    photo = tmp_path / "private_patient_photo.jpg"
    Image.open(EXAMPLES[3]).rotate(180).save(photo, quality=90)  # not one of the app's examples
    _segment(client, photo)
    kept = [p for p in (app_server.temp_dir / "gradio").rglob("*") if p.is_file()
            and p.read_bytes() == photo.read_bytes()]
    assert kept == []


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
