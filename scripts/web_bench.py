"""Time per photo in the browser beside the Python pipeline's, on the same photos and machine.

    .venv/bin/python scripts/web_bench.py --rounds 10 --out reports/web

The built page (int8 and fp32 exports) runs in Debian's Chromium, headless, served by a plain
static file server; the model's load is timed apart. Each round feeds every photo to each page and
to `Segmenter.from_pretrained("weights")` in turn (interleaved, so that drift of a shared machine
hits all alike). The page times its own stages with performance.now(): decode (header checks and
the browser's decoder), resize (reading the pixels and the area resize), network, post-processing
and drawing the four pictures; "total" runs from the chosen file to the drawn result. The masks of
each page are compared with the Python pipeline's (Dice). Writes web_bench.json and web_bench.md.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from build_web import build  # noqa: E402

from cervix_unet import Segmenter  # noqa: E402
from cervix_unet.workshop.metrics import DiceScore  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
STAGES = ["decode", "resize", "network", "zoom", "postprocess", "draw", "total"]  # zoom: the second look


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _Isolated(_Quiet):
    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()


def serve(folder: Path, isolated: bool = False) -> str:
    handler = _Isolated if isolated else _Quiet
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/"


def cpu_model() -> str:
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def cpu_flags() -> list[str]:
    flags = Path("/proc/cpuinfo").read_text().split("flags", 1)[1].split("\n", 1)[0].split()
    return sorted(f for f in flags if f in {"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16"})


def photos(folder: Path) -> dict[str, Path]:
    """The four examples (576x384) and one 4000x3000 JPEG made from the first."""
    found = {p.name: p for p in sorted((ROOT / "examples").glob("*.jpg"))}
    big = cv2.resize(np.asarray(Image.open(next(iter(found.values()))).convert("RGB")), (4000, 3000),
                     interpolation=cv2.INTER_CUBIC)  # fmt: skip
    path = folder / "camera_4000x3000.jpg"
    Image.fromarray(big).save(path, quality=90)
    found[path.name] = path
    return found


def segment_in_page(page, path: Path) -> dict:
    page.set_input_files("#file", str(path))
    page.wait_for_function(
        "document.body.dataset.state === 'ready' && document.querySelector('#info').dataset.outcome", timeout=120_000
    )
    return page.evaluate("window.cervixUnet.result()")


def mask_from_page(page) -> np.ndarray:
    with page.expect_download() as info:
        page.click("#download-mask")
    with Image.open(info.value.path()) as im:
        return np.asarray(im.convert("L")) > 127


def python_run(segmenter: Segmenter, data: bytes) -> dict:
    start = time.perf_counter()
    result = segmenter(data)
    total = time.perf_counter() - start
    laps = {k: v * 1000 for k, v in result.timings.items()}
    return {"decode": laps["decode"], "resize": laps["resize"], "network": laps["network"],
            "zoom": laps.get("zoom", 0.0), "postprocess": laps["postprocess"] + laps["upsample"] + laps["crop"],
            "total": total * 1000}  # fmt: skip


def median(values: list[float]) -> float:
    return round(statistics.median(values), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "web")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="web-bench-"))
    files = photos(work)
    python = {"python int8 (auto)": Segmenter.from_pretrained(ROOT / "weights"),
              "python int8, full-size decode": Segmenter.from_pretrained(ROOT / "weights", max_side=None)}  # fmt: skip
    reference_fp32 = Segmenter.from_pretrained(ROOT / "weights", backend="onnx", max_side=None)
    report = {"machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "flags": cpu_flags(),
                          "load_average_start": os.getloadavg()}, "rounds": args.rounds, "load_ms": {},
              "per_photo": {}, "dice": {}}  # fmt: skip
    times: dict[str, dict[str, list[dict]]] = {name: {} for name in files}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        report["machine"]["chromium"] = browser.version
        pages = {}
        sites = {precision: build(work / precision, ROOT / "weights", precision) for precision in ("int8", "fp32")}
        for precision, isolated in [("int8", False), ("int8", True), ("fp32", False)]:
            url = serve(sites[precision], isolated)
            page = browser.new_page()
            start = time.perf_counter()
            page.goto(url)
            page.wait_for_function("document.body.dataset.state === 'ready'", timeout=180_000)
            threads = page.evaluate("document.querySelector('#status-text').textContent").split("WebAssembly, ")[1]
            label = f"browser {precision}, {threads.split(')')[0]}"
            report["load_ms"][label] = round((time.perf_counter() - start) * 1000)
            report["machine"]["onnxruntime_web"] = page.evaluate("fetch('config.json').then(r => r.json())")["runtime"][
                "onnxruntime_web"
            ]
            pages[label] = page
        for _ in range(args.rounds):
            for name, path in files.items():
                data = path.read_bytes()
                for label, page in pages.items():
                    times[name].setdefault(label, []).append(segment_in_page(page, path)["timings"])
                for label, segmenter in python.items():
                    times[name].setdefault(label, []).append(python_run(segmenter, data))
        for name, path in files.items():
            truth = python["python int8, full-size decode"](path).mask
            fp32 = reference_fp32(path).mask
            for label, page in pages.items():
                segment_in_page(page, path)
                mask = mask_from_page(page)
                report["dice"].setdefault(name, {})[label] = {
                    "vs python int8": round(float(DiceScore().add(mask, truth).values()[0]), 4),
                    "vs python fp32": round(float(DiceScore().add(mask, fp32).values()[0]), 4),
                }
        browser.close()
    report["machine"]["load_average_end"] = os.getloadavg()
    for name, runs in times.items():
        report["per_photo"][name] = {
            label: {stage: median([r[stage] for r in rows]) for stage in STAGES if stage in rows[0]}
            for label, rows in runs.items()
        }
        report["fastest"] = report.get("fastest", {})
        report["fastest"][name] = {
            label: {stage: round(min(r[stage] for r in rows), 1) for stage in ("network", "total")}
            for label, rows in runs.items()
        }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "web_bench.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "web_bench.md").write_text(markdown(report))
    print(markdown(report))


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        "# Time per photo: in the browser and in Python",
        "",
        f"{m['cpu']} ({', '.join(m['flags'])}), {m['cores']} cores shared with other jobs (load average "
        f"{m['load_average_start'][0]:.1f} at the start, {m['load_average_end'][0]:.1f} at the end); Chromium "
        f"{m['chromium']} headless, ONNX Runtime Web {m['onnxruntime_web']} (WebAssembly; 2 threads where the page is "
        "served cross-origin isolated, as `python app.py` serves it; 1 thread from a plain static host); "
        f"{report['rounds']} interleaved rounds, medians in ms (and the fastest run, less sensitive to the other "
        "jobs' bursts). `.venv/bin/python scripts/web_bench.py`.",
        "",
        "Model load (page opened to model ready, once): "
        + ", ".join(f"{k} {v} ms" for k, v in report["load_ms"].items())
        + ".",
        "",
    ]
    for name, runs in report["per_photo"].items():
        lines += [f"## {name}", "", "| | " + " | ".join(STAGES) + " | fastest network | fastest total |",
                  "|---|" + "---|" * (len(STAGES) + 2)]  # fmt: skip
        for label, stages in runs.items():
            fastest = report["fastest"][name][label]
            lines.append(f"| {label} | " + " | ".join(str(stages.get(s, "")) for s in STAGES)
                         + f" | {fastest['network']} | {fastest['total']} |")  # fmt: skip
        lines += ["", "Masks against Python's: " + "; ".join(
            f"{label}: Dice {d['vs python int8']} (int8), {d['vs python fp32']} (fp32)"
            for label, d in report["dice"][name].items()) + ".", ""]  # fmt: skip
    lines += [
        "Python stages: decode, resize, network, post-processing with upsampling and crop (`result.timings`); "
        "total is bytes to mask, box and crop. The browser's total also draws the four pictures. Both run the "
        "network twice per photo (the photo and its mirror image, for the reliability score): Python one after "
        "the other, the page as one batch of two; zoom is the second look around the first outline, twice more "
        "(0 where the grown box is the whole photo, as for frame-filling views).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
