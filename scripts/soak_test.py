"""Soak test of the running app: 1,000 requests against `python app.py` on a loopback port,
good and bad files mixed, some identical and at once; errors, resident memory over time and
files left on disk.

    .venv/bin/python scripts/soak_test.py --out reports/soak                # 1,000 requests
    .venv/bin/python scripts/soak_test.py --requests 100 --out /tmp/soak    # a short run

Bounded: at most ``--requests`` requests and ``--max-minutes`` of sending, then one retention
period (``CERVIX_UNET_RETENTION_S`` of the app, 60 s by default, plus a margin) of watching the
files go. Loopback only: the server listens on 127.0.0.1 and the clients are in this process.

Each request is checked: a photo must come back with the right answer (cervix found or not,
mask of the photo's size), a bad file with a message for a person (an ``AppError`` naming the
problem, never "Something went wrong"), a series with its gallery and a ZIP of the right rows.
Pass: no failed request; resident memory after the requests within 50 MB of what it was after
warm-up; no file of a request left after the retention time. Writes soak.json, soak.md and
soak.png (memory and files on disk over time) into ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import random
import re
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
from gradio_client import Client, handle_file
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.app_server import AppServer  # noqa: E402

EXAMPLES = sorted((ROOT / "examples").glob("*.jpg"))
WARM_UP = 100  # requests before the memory baseline is taken
GROWTH_LIMIT_MB = 50


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def bomb_png(side: int = 60000) -> bytes:
    """A tiny PNG whose header claims side x side pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\0" * 4096))
        + chunk(b"IEND", b"")
    )


def make_files(folder: Path) -> dict[str, list[tuple[Path, str]]]:
    """Good photos (expected answer), bad files (expected words in the message)."""
    good, bad = [], []
    for i, example in enumerate(EXAMPLES):
        with Image.open(example) as im:
            for j, (fmt, kwargs) in enumerate([("JPEG", {"quality": 90}), ("PNG", {}), ("JPEG", {"quality": 75})]):
                path = folder / f"photo_{i}_{j}.{'png' if fmt == 'PNG' else 'jpg'}"
                im.save(path, fmt, **kwargs)
                good.append((path, "Cervix found"))
            gray = folder / f"gray_{i}.png"
            im.convert("L").save(gray)
            good.append((gray, "Cervix found|No cervix found"))  # the model's call on a grey photo
    blank = folder / "blank.png"
    Image.new("RGB", (600, 400)).save(blank)
    good.append((blank, "No cervix found"))
    truncated = folder / "truncated.jpg"
    truncated.write_bytes(EXAMPLES[0].read_bytes()[:3000])
    bad.append((truncated, "truncated|corrupt|decoded"))
    text = folder / "notes.jpg"
    text.write_text("not a photo")
    bad.append((text, "not an image"))
    bomb = folder / "bomb.png"
    bomb.write_bytes(bomb_png())
    bad.append((bomb, "too large|decompression bomb"))
    tiny = folder / "tiny.png"
    Image.new("RGB", (8, 8)).save(tiny)
    bad.append((tiny, "too small"))
    empty = folder / "empty.jpg"
    empty.write_bytes(b"")
    bad.append((empty, "empty|not an image"))
    shared = folder / "shared.jpg"  # sent 8 times at once: Gradio stores it once
    with Image.open(EXAMPLES[1]) as im:
        im.save(shared, quality=92)
    return {"good": good, "bad": bad, "shared": [(shared, "Cervix found")]}


class Clients:
    """One gradio_client Client per worker thread, renewed every 100 requests (new sessions)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.local = threading.local()

    def get(self) -> Client:
        if getattr(self.local, "uses", 100) >= 100:
            self.local.client = Client(self.url, verbose=False)
            self.local.uses = 0
        self.local.uses += 1
        return self.local.client


def check_photo(clients: Clients, path: Path, expected: str) -> str | None:
    """None if the answer is right, else what was wrong."""
    overlay, mask, crop, info, crop_file, mask_file = clients.get().predict(
        handle_file(str(path)), 0.5, 5, "Box", api_name="/segment"
    )
    if not re.search(expected, info):
        return f"{path.name}: expected {expected!r}, got {info[:80]!r}"
    with Image.open(path) as im, Image.open(mask_file) as m:
        if m.size != im.size:
            return f"{path.name}: mask {m.size} for a {im.size} photo"
    if ("Cervix found" in info) != (crop_file is not None):
        return f"{path.name}: crop file does not match the answer"
    return None


def check_bad(clients: Clients, path: Path, expected: str) -> str | None:
    from gradio_client.exceptions import AppError

    try:
        clients.get().predict(handle_file(str(path)), 0.5, 5, "Box", api_name="/segment")
    except AppError as err:
        message = str(err)
        if "Something went wrong" in message or not re.search(expected, message, re.IGNORECASE):
            return f"{path.name}: message {message[:120]!r}"
        return None
    return f"{path.name}: a bad file was answered"


def check_series(clients: Clients, files: list[tuple[Path, str]], bad: tuple[Path, str]) -> str | None:
    paths = [p for p, _ in files] + [bad[0]]
    gallery, text, zip_file = clients.get().predict(
        [handle_file(str(p)) for p in paths], 0.5, 5, "Box", api_name="/segment_series"
    )
    if len(gallery) != len(files) or zip_file is None:
        return f"series: {len(gallery)} gallery items for {len(files)} photos"
    with zipfile.ZipFile(zip_file) as z:
        rows = list(csv.DictReader(io.StringIO(z.read("summary.csv").decode())))
    if len(rows) != len(paths) or rows[-1]["status"] != "not processed" or not rows[-1]["reason"]:
        return f"series: summary rows {[r['status'] for r in rows]}"
    return None


def rss_mb(pid: int) -> float:
    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20


def request_files(private: Path, examples: set[tuple[str, int]]) -> int:
    """Files under the app's private folder, other than the cached examples Gradio keeps."""
    count = 0
    for dirpath, _, names in os.walk(private):
        for name in names:
            try:
                size = os.lstat(os.path.join(dirpath, name)).st_size
            except FileNotFoundError:
                continue
            count += (name, size) not in examples
    return count


def soak(
    url: str,
    pid: int,
    private: Path,
    retention_s: float,
    requests: int,
    max_minutes: float,
    workers: int,
    seed: int = 0,
) -> dict:
    rng = random.Random(seed)
    folder = Path(tempfile.mkdtemp(prefix="soak-files-"))
    files = make_files(folder)
    examples = {(p.name, p.stat().st_size) for p in EXAMPLES}
    clients = Clients(url)
    start = time.time()
    samples: list[dict] = []
    done = {"n": 0, "failed": 0, "kinds": {"photo": 0, "bad": 0, "identical": 0, "series": 0}}
    failures: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append(
                {
                    "t": time.time() - start,
                    "rss_mb": rss_mb(pid),
                    "requests": done["n"],
                    "files": request_files(private, examples),
                }
            )
            stop.wait(2.0)

    def record(kind: str, error: str | None) -> None:
        with lock:
            done["n"] += 1
            done["kinds"][kind] += 1
            if error:
                done["failed"] += 1
                failures.append(error)

    def one(kind: str, item) -> None:
        try:
            if kind == "photo":
                error = check_photo(clients, *item)
            elif kind == "bad":
                error = check_bad(clients, *item)
            else:
                error = check_series(clients, *item)
        except Exception as err:  # anything unexpected is a failed request, never a crash
            error = f"{kind}: {type(err).__name__}: {str(err)[:160]}"
        record(kind, error)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    deadline = start + max_minutes * 60
    baseline = None
    with ThreadPoolExecutor(workers) as pool:
        sent = 0
        while sent < requests and time.time() < deadline:
            if sent and sent % 50 == 0 and requests - sent >= 8:  # 8 identical uploads at once
                with ThreadPoolExecutor(8) as burst:  # new clients, as 8 people trying the same example
                    for _ in range(8):
                        burst.submit(_identical, clients, files["shared"][0], record)
                sent += 8
            roll = rng.random()
            if roll < 0.70:
                futures = [pool.submit(one, "photo", rng.choice(files["good"]))]
            elif roll < 0.95:
                futures = [pool.submit(one, "bad", rng.choice(files["bad"]))]
            else:
                futures = [pool.submit(one, "series", (rng.sample(files["good"][:12], 3), rng.choice(files["bad"])))]
            sent += 1
            # keep about `workers` requests in flight
            while done["n"] < sent - workers and time.time() < deadline:
                time.sleep(0.01)
            if baseline is None and done["n"] >= WARM_UP:
                time.sleep(0.5)
                baseline = {"t": time.time() - start, "rss_mb": rss_mb(pid), "requests": done["n"]}
            del futures
    end_of_requests = {"t": time.time() - start, "rss_mb": rss_mb(pid), "requests": done["n"]}
    # watch the files go: one retention period and a margin
    watch_until = time.time() + retention_s + 15
    while time.time() < watch_until:
        time.sleep(1)
    stop.set()
    sampler.join()
    final = {"t": time.time() - start, "rss_mb": rss_mb(pid), "files": request_files(private, examples)}
    samples.append({**final, "requests": done["n"]})
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    growth = end_of_requests["rss_mb"] - baseline["rss_mb"] if baseline else float("nan")
    return {
        "requests": done["n"],
        "failed": done["failed"],
        "kinds": done["kinds"],
        "failures": failures[:50],
        "workers": workers,
        "retention_s": retention_s,
        "seconds_sending": end_of_requests["t"],
        "baseline": baseline,
        "end_of_requests": end_of_requests,
        "final": final,
        "rss_growth_after_warm_up_mb": growth,
        "files_left": final["files"],
        "peak_rss_mb": max(s["rss_mb"] for s in samples),
        "samples": samples,
        "passed": done["failed"] == 0 and growth < GROWTH_LIMIT_MB and final["files"] == 0,
    }


def _identical(clients: Clients, item: tuple[Path, str], record) -> None:
    try:
        error = check_photo(clients, *item)
    except Exception as err:
        error = f"identical: {type(err).__name__}: {str(err)[:160]}"
    record("identical", error)


def chart(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = report["samples"]
    t = [s["t"] for s in samples]
    fig, (ax, ax_files) = plt.subplots(2, 1, figsize=(9, 6), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    ax.plot(t, [s["rss_mb"] for s in samples], color="tab:blue", label="server resident memory (MB)")
    if report["baseline"]:
        b = report["baseline"]
        ax.axhline(b["rss_mb"], color="gray", ls=":", lw=1, label=f"after warm-up ({b['requests']} requests)")
        ax.axhline(b["rss_mb"] + GROWTH_LIMIT_MB, color="tab:red", ls="--", lw=1, label=f"limit: +{GROWTH_LIMIT_MB} MB")
    ax.axvline(report["end_of_requests"]["t"], color="black", lw=0.8)
    ax.set_ylabel("MB")
    ax.legend(loc="lower right", fontsize=8)
    requests = ax.twinx()
    requests.plot(t, [s["requests"] for s in samples], color="tab:orange", lw=1)
    requests.set_ylabel("requests answered", color="tab:orange")
    ax.set_title(
        f"{report['requests']} requests, {report['failed']} failed; "
        f"memory growth after warm-up {report['rss_growth_after_warm_up_mb']:+.1f} MB"
    )
    ax_files.plot(t, [s["files"] for s in samples], color="tab:green")
    ax_files.axvline(report["end_of_requests"]["t"], color="black", lw=0.8)
    ax_files.axvline(
        report["end_of_requests"]["t"] + report["retention_s"],
        color="tab:red",
        ls="--",
        lw=1,
        label=f"last request + {report['retention_s']:.0f} s retention",
    )
    ax_files.set_ylabel("files on disk")
    ax_files.set_xlabel("seconds")
    ax_files.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(report: dict) -> str:
    b, e, f = report["baseline"], report["end_of_requests"], report["final"]
    kinds = ", ".join(f"{v} {k}" for k, v in report["kinds"].items())
    lines = [
        f"# Soak test: {report['requests']} requests against `python app.py`",
        "",
        f"`{report['command']}` on {report['cpu']} ({report['cores']} cores), {report['date']}. "
        f"Loopback only; {report['workers']} client threads (gradio_client, a new session every 100 "
        f"requests each); the app's files kept at most {report['retention_s']:.0f} s.",
        "",
        f"- **Requests:** {report['requests']} ({kinds}) in {report['seconds_sending']:.0f} s: photos "
        f"(JPEG, PNG, grey, a blank one), bad files (truncated JPEG, text, a 60000x60000 PNG bomb, "
        f"an 8x8 image, an empty file), series of 3 photos and a bad file (/segment_series), and "
        f"every 50 requests 8 identical uploads at once.",
        f"- **Failed:** {report['failed']}"
        + ("" if not report["failures"] else " (first: " + "; ".join(report["failures"][:5]) + ")"),
        f"- **Resident memory (server):** {b['rss_mb']:.0f} MB after warm-up ({b['requests']} requests), "
        f"{e['rss_mb']:.0f} MB after the last request: **{report['rss_growth_after_warm_up_mb']:+.1f} MB** "
        f"(limit +{GROWTH_LIMIT_MB} MB); peak {report['peak_rss_mb']:.0f} MB.",
        f"- **Files of requests on disk:** {f['files']} at {f['t'] - e['t']:.0f} s after the last request "
        f"(Gradio's cached copies of the 4 example photos are not counted: they are the shipped examples).",
        f"- **Result:** {'passed' if report['passed'] else 'FAILED'}.",
        "",
        "![memory and files over time](soak.png)",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--max-minutes", type=float, default=40, help="stop sending after this long")
    parser.add_argument("--workers", type=int, default=4, help="requests in flight at once")
    parser.add_argument("--out", default="reports/soak")
    args = parser.parse_args()
    retention = float(os.environ.get("CERVIX_UNET_RETENTION_S", "60"))
    with tempfile.TemporaryDirectory() as tmp:
        server = AppServer(Path(tmp), env={"CERVIX_UNET_RETENTION_S": str(retention)})
        try:
            [private] = server.private_dirs
            report = soak(
                server.url, server.process.pid, private, retention, args.requests, args.max_minutes, args.workers
            )
        finally:
            server.stop()
        report["private_folder_after_stop"] = [str(p) for p in server.private_dirs]
    report.update(
        cpu=cpu_model(),
        cores=os.cpu_count(),
        date=time.strftime("%Y-%m-%d"),
        command=" ".join(["scripts/soak_test.py", *sys.argv[1:]]),
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "soak.json").write_text(json.dumps(report, indent=1) + "\n")
    chart(report, out / "soak.png")
    (out / "soak.md").write_text(markdown(report))
    print(markdown(report))
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
