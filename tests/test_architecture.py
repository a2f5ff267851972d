"""The package's shape, checked by maintained tools and by what a real run imports.

- import-linter's contracts (pyproject.toml): the runtime never imports the workshop, nor the
  training tools or the app; and a planted violation is caught.
- ruff: lint and format.
- Segmenting a photo imports no training library; without PyTorch the runtime gives the same
  masks as the full install, and CervixUNet says which extra to install.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from cervix_unet.workshop.metrics import DiceScore
from tests.conftest import EXAMPLES, ROOT, WEIGHTS

BIN = Path(sys.executable).parent
TRAINING_LIBRARIES = ["monai", "segmentation_models_pytorch", "torchvision", "matplotlib", "onnx"]
# a fresh interpreter in which PyTorch cannot be imported, as in a runtime-only install
NO_TORCH = "import sys; [sys.modules.__setitem__(m, None) for m in ('torch', 'safetensors.torch')]; "


def run_python(code: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_import_contracts_hold():
    done = subprocess.run([str(BIN / "lint-imports")], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 kept, 0 broken" in done.stdout


def test_import_contract_catches_a_runtime_module_importing_the_workshop(tmp_path):
    shutil.copytree(ROOT / "cervix_unet", tmp_path / "cervix_unet", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    pipeline = tmp_path / "cervix_unet" / "pipeline.py"
    pipeline.write_text(pipeline.read_text() + "\nfrom .workshop import metrics  # planted\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([str(BIN / "lint-imports")], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert done.returncode != 0 and "The runtime never imports the workshop BROKEN" in done.stdout


def test_ruff_lint_and_format():
    lint = subprocess.run([str(BIN / "ruff"), "check", "."], capture_output=True, text=True, cwd=ROOT)
    assert lint.returncode == 0, lint.stdout
    fmt = subprocess.run([str(BIN / "ruff"), "format", "--check", "."], capture_output=True, text=True, cwd=ROOT)
    assert fmt.returncode == 0, fmt.stdout


def test_segmenting_imports_no_training_library():
    for backend in ("auto", "torch"):
        done = run_python(
            "import sys, json; from cervix_unet import Segmenter; "
            f"s = Segmenter.from_pretrained({str(WEIGHTS)!r}, backend={backend!r}); r = s({str(EXAMPLES[0])!r}); "
            f"print(json.dumps([r.found, [m for m in {TRAINING_LIBRARIES!r} if m in sys.modules]]))"
        )
        assert done.returncode == 0, done.stderr
        found, imported = json.loads(done.stdout.strip().splitlines()[-1])
        assert found and imported == [], (backend, imported)


def test_runtime_without_pytorch_gives_the_full_installs_masks(tmp_path):
    done = run_python(
        NO_TORCH + "from cervix_unet.cli import main; "
        f"sys.exit(main(['predict', *{[str(p) for p in EXAMPLES]!r}, '--out', {str(tmp_path / 'rt')!r}, "
        f"'--weights', {str(WEIGHTS)!r}]))"
    )
    assert done.returncode == 0, done.stderr
    assert "backend onnxruntime" in done.stdout, done.stdout  # ONNX Runtime ran it: no PyTorch there
    from cervix_unet import Segmenter

    full = Segmenter.from_pretrained(WEIGHTS, backend="torch")
    score = DiceScore()
    for path in EXAMPLES:
        runtime_mask = np.asarray(Image.open(tmp_path / "rt" / f"{path.stem}_mask.png")) > 127
        score.add(runtime_mask, full(path).mask)
    assert score.values().min() >= 0.99, score.values()


def test_cervixunet_without_pytorch_names_the_extra():
    done = run_python(NO_TORCH + "from cervix_unet import Segmenter\nfrom cervix_unet import CervixUNet")
    assert done.returncode != 0
    assert "ImportError" in done.stderr and "cervix-unet[torch]" in done.stderr, done.stderr
