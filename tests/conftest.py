"""Shared fixtures: the shipped model, the example photos, the development data beside the repo."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "weights"
EXAMPLES = sorted((ROOT / "examples").glob("*.jpg"))
LABELS = ROOT / "labels"
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def segmenter():
    """The shipped model, loaded once (PyTorch backend: the source of truth)."""
    from cervix_unet import Segmenter

    return Segmenter.from_pretrained(WEIGHTS, backend="torch")


@pytest.fixture(scope="session")
def example_paths() -> list[Path]:
    assert EXAMPLES, "examples/*.jpg missing"
    return EXAMPLES


@pytest.fixture(scope="session")
def labels():
    from cervix_unet.workshop.labels import load_labels

    return load_labels(LABELS)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not beside the repository")
    return SHARED_DATA


def jpeg_bytes(array: np.ndarray, exif: Image.Exif | None = None) -> bytes:
    """Encode an RGB array as JPEG, optionally with EXIF."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=95, exif=exif or Image.Exif())
    return buffer.getvalue()


def example_key(path: Path) -> str:
    """The label key of a shipped example image."""
    return f"annocerv/images/{path.name}"


APP_RETENTION_S = 12  # short, so the tests see files deleted; the app's default is 60


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """The real app running in its own process on a loopback port, files kept 12 s."""
    from tests.app_server import AppServer

    server = AppServer(tmp_path_factory.mktemp("app"), env={"CERVIX_UNET_RETENTION_S": str(APP_RETENTION_S)})
    yield server
    server.stop()


@pytest.fixture(scope="session")
def heic_example():
    """A HEIC photo written by pillow-heif (as phones do) and the pixels it was made from."""
    from tests.hostile import heic_file

    upright = np.asarray(Image.open(EXAMPLES[0]).convert("RGB"))
    return heic_file(upright), upright
