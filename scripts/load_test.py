"""Load test of the running app: N concurrent gradio_client requests, every answer checked.

    .venv/bin/python scripts/load_test.py -n 8 --rounds 3 --out reports/load

Starts `python app.py` on a free loopback port (or uses --url), sends ``rounds`` waves of ``n``
simultaneous requests with real photos, then n requests with one identical file and n with
different files all at once; checks each answer (cervix found, mask PNG of the photo's size),
and reports latency, throughput and the server's resident memory (after each wave and at
peak). Writes load.json and load.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psutil
from gradio_client import Client, handle_file
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.app_server import AppServer  # noqa: E402

EXAMPLES = sorted((ROOT / "examples").glob("*.jpg"))


def one_request(url: str, photo: Path) -> dict:
    client = Client(url, verbose=False)
    start = time.perf_counter()
    overlay, mask, crop, info, crop_file, mask_file = client.predict(
        handle_file(str(photo)), 0.5, 5, "Box", api_name="/segment"
    )
    seconds = time.perf_counter() - start
    with Image.open(photo) as im:
        size = im.size
    with Image.open(mask_file) as m:
        ok = "Cervix found" in info and m.size == size and crop_file is not None
    return {"photo": photo.name, "seconds": seconds, "ok": bool(ok)}


def rss_mb(pid: int) -> float:
    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def distinct_photos(n: int, folder: Path) -> list[Path]:
    """``n`` real photos with distinct bytes (each patient's photo differs; Gradio stores
    identical uploads once)."""
    photos = []
    for i in range(n):
        path = folder / f"photo_{i}.jpg"
        with Image.open(EXAMPLES[i % len(EXAMPLES)]) as im:
            im.save(path, quality=95 - i)
        photos.append(path)
    return photos


def identical_and_distinct(url: str, n: int = 8) -> dict:
    """``n`` requests with the same file and ``n`` with different files, all at once (a workshop
    trying the README's example beside a clinic's own photos); every answer checked."""
    folder = Path(tempfile.mkdtemp(prefix="load-photos-"))
    same = folder / "same.jpg"
    with Image.open(EXAMPLES[0]) as im:
        im.save(same, quality=93)
    photos = [same] * n + distinct_photos(n, folder)
    start = time.perf_counter()
    with ThreadPoolExecutor(len(photos)) as pool:
        results = list(pool.map(lambda p: _checked(url, p), photos))
    report = {
        "identical": n,
        "distinct": n,
        "ok": sum(r["ok"] for r in results),
        "requests": len(results),
        "wall_s": time.perf_counter() - start,
        "errors": [r["error"] for r in results if r.get("error")],
    }
    for photo in set(photos):
        photo.unlink()
    folder.rmdir()
    return report


def _checked(url: str, photo: Path) -> dict:
    try:
        return one_request(url, photo)
    except Exception as err:  # an AppError ("The upload was interrupted") counts as a failure
        return {"photo": photo.name, "ok": False, "error": f"{type(err).__name__}: {err}"}


def load_test(url: str, pid: int, n: int, rounds: int) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="load-photos-"))
    photos = distinct_photos(n, folder)
    rss_before = rss_mb(pid)
    one_request(url, EXAMPLES[0])  # one request (also the warm-up)
    report = {
        "concurrent": n,
        "rounds": rounds,
        "rss_mb_before": rss_before,
        "rss_mb_after_one_request": rss_mb(pid),
        "waves": [],
    }
    with ThreadPoolExecutor(n) as pool:
        for _ in range(rounds):
            start = time.perf_counter()
            results = list(pool.map(lambda p: one_request(url, p), photos))
            wall = time.perf_counter() - start
            latencies = [r["seconds"] for r in results]
            report["waves"].append(
                {
                    "ok": sum(r["ok"] for r in results),
                    "requests": n,
                    "wall_s": wall,
                    "throughput_per_s": n / wall,
                    "latency_median_s": float(np.median(latencies)),
                    "latency_max_s": float(max(latencies)),
                    "rss_mb_after": rss_mb(pid),
                }
            )
    report["identical_and_distinct"] = identical_and_distinct(url, n)
    report["rss_mb_peak"] = peak_rss_mb(pid)
    for photo in photos:
        photo.unlink()
    folder.rmdir()
    mixed = report["identical_and_distinct"]
    report["all_ok"] = all(w["ok"] == w["requests"] for w in report["waves"]) and mixed["ok"] == mixed["requests"]
    return report


def markdown(report: dict) -> str:
    lines = [
        f"{report['concurrent']} concurrent gradio_client requests per wave, {report['rounds']} waves "
        f"(576x384 AnnoCerv photos, threshold 0.5; each request a new gradio_client Client, as a new user). "
        f"Server resident memory: {report['rss_mb_before']:.0f} MB started, "
        f"{report['rss_mb_after_one_request']:.0f} MB after one request, peak {report['rss_mb_peak']:.0f} MB "
        f"over all waves.",
        "",
        "| wave | correct answers | wall (s) | throughput (req/s) | median latency (s) | max latency (s) | server RSS after (MB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, w in enumerate(report["waves"], 1):
        lines.append(
            f"| {i} | {w['ok']}/{w['requests']} | {w['wall_s']:.2f} | {w['throughput_per_s']:.1f} | "
            f"{w['latency_median_s']:.2f} | {w['latency_max_s']:.2f} | {w['rss_mb_after']:.0f} |"
        )
    mixed = report["identical_and_distinct"]
    lines += [
        "",
        f"Then {mixed['identical']} requests with the same file and {mixed['distinct']} with different "
        f"files, all at once: {mixed['ok']}/{mixed['requests']} answered correctly in {mixed['wall_s']:.2f} s.",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=8, help="concurrent requests per wave (at least 8)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="reports/load")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = AppServer(Path(tmp))
        try:
            report = load_test(server.url, server.process.pid, args.n, args.rounds)
        finally:
            server.stop()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "load.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "load.md").write_text(markdown(report))
    print(markdown(report))
    return 0 if report["all_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
