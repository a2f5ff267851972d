"""Build the in-browser page: a folder of static files that any static host serves.

    .venv/bin/python scripts/build_web.py                 # -> build/web/ (python app.py serves it at /web/)
    .venv/bin/python scripts/build_web.py --out site/     # anywhere else, e.g. for GitHub Pages

The folder holds web/'s page (HTML, CSS, four JavaScript modules), ONNX Runtime Web's
WebAssembly build (from web/node_modules: `npm ci --prefix web`, which scripts/setup.sh runs),
the model export and config.json. config.json is written here from the Python package itself
(working size from the model's config.json, SegmentOptions' defaults, image_io's limits,
quality.py's thresholds and words), so that the page and the package cannot drift apart:
tests/test_web.py checks it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cervix_unet import SegmentOptions, quality  # noqa: E402
from cervix_unet.image_io import MAX_PIXELS, MIN_SIDE  # noqa: E402
from cervix_unet.weights import INT8_ONNX_FILE, ONNX_FILE, export_is_current, read_config  # noqa: E402

WEB = ROOT / "web"
PAGE_FILES = ["index.html", "style.css", "page.js", "segment.js", "quality.js", "image_file.js"]
ORT_DIST = WEB / "node_modules" / "onnxruntime-web" / "dist"
# ONNX Runtime Web (WebAssembly only, its glue bundled in) and its WebAssembly binary, as named in the
# build: ".js" rather than ".mjs", a suffix some static hosts serve without a JavaScript type
ORT_FILES = {
    "ort.wasm.bundle.min.mjs": "ort.wasm.bundle.min.js",
    "ort-wasm-simd-threaded.wasm": "ort-wasm-simd-threaded.wasm",
}
MODEL_FILES = {"int8": INT8_ONNX_FILE, "fp32": ONNX_FILE}
ORT_LICENSE = """onnxruntime-web {version} (npm), the files in this folder. MIT License

Copyright (c) Microsoft Corporation

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated
documentation files (the "Software"), to deal in the Software without restriction, including without limitation the
rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and to permit
persons to whom the Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or substantial portions of the
Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE
WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR
COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""
DISPLAY_SIDE = 1024  # pictures on the page are at most this large (as app.py's); downloads are full size


def onnx_metadata(path: Path) -> dict[str, str]:
    """An ONNX file's metadata, read with ONNX Runtime (a runtime dependency)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(session.get_modelmeta().custom_metadata_map)


def quality_rules() -> dict:
    """quality.py's thresholds (its upper-case numbers, in lower case) and the words of its flags."""
    rules = {
        name.lower(): value for name, value in vars(quality).items() if name.isupper() and isinstance(value, float)
    }
    return {**rules, "flag_text": quality.FLAG_TEXT, "check_flags": list(quality.CHECK_FLAGS)}


def web_config(weights: Path, precision: str = "int8") -> dict:
    """What the page needs to know, from the Python package: the one place these are defined."""
    model = weights / MODEL_FILES[precision]
    return {
        "input_size": int(read_config(weights)["input_size"]),
        "options": asdict(SegmentOptions()),
        "limits": {"max_pixels": MAX_PIXELS, "min_side": MIN_SIDE},
        "quality": quality_rules(),
        "display_side": DISPLAY_SIDE,
        "model": {"file": model.name, "precision": precision, "bytes": model.stat().st_size},
        "runtime": {
            "script": "ort/ort.wasm.bundle.min.js",
            "wasm": "ort/ort-wasm-simd-threaded.wasm",
            "wasm_bytes": (ORT_DIST / "ort-wasm-simd-threaded.wasm").stat().st_size,
            "onnxruntime_web": json.loads((ORT_DIST.parent / "package.json").read_text())["version"],
        },
    }


def build(out: Path, weights: Path, precision: str = "int8") -> Path:
    """Write the static site to ``out`` (replacing what was there) and return it."""
    if not ORT_DIST.is_dir():
        raise SystemExit(f"{ORT_DIST} is missing: run `npm ci --prefix web` (scripts/setup.sh does) first")
    model = weights / MODEL_FILES[precision]
    if not export_is_current(onnx_metadata(model), weights):
        raise SystemExit(f"{model} was not made from {weights}'s model.safetensors: run `cervix-unet export` first")
    config = web_config(weights, precision)
    if out.exists():
        shutil.rmtree(out)
    (out / "ort").mkdir(parents=True)
    for name in PAGE_FILES:
        shutil.copy2(WEB / name, out / name)
    for name, built in ORT_FILES.items():
        shutil.copy2(ORT_DIST / name, out / "ort" / built)
    (out / "ort" / "LICENSE").write_text(ORT_LICENSE.format(version=config["runtime"]["onnxruntime_web"]))
    shutil.copy2(model, out / model.name)
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "web", help="folder to write (default build/web)")
    parser.add_argument("--weights", type=Path, default=ROOT / "weights", help="model folder (default weights)")
    parser.add_argument(
        "--precision",
        choices=sorted(MODEL_FILES),
        default="int8",
        help="which ONNX export the page runs (default int8: 8 MB instead of 31)",
    )
    args = parser.parse_args()
    out = build(args.out, args.weights, args.precision)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"wrote {out} ({size / 1e6:.1f} MB): serve it with any static file server, or `python app.py` at /web/")


if __name__ == "__main__":
    main()
