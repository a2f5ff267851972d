"""Start the real app (`python app.py`) in its own process for the app, load and browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """``python app.py`` on a free loopback port with its own GRADIO_TEMP_DIR (the parent of the
    app's private folder); ``env`` adds environment variables (e.g. CERVIX_UNET_RETENTION_S)."""

    def __init__(self, temp_dir: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.temp_dir = temp_dir
        self.log_path = temp_dir / "server.log"
        env = {
            **os.environ,
            "GRADIO_TEMP_DIR": str(temp_dir / "gradio"),
            "GRADIO_ANALYTICS_ENABLED": "False",
            "CERVIX_UNET_SHARE": "0",
            **(env or {}),
        }
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"app exited: {self.log_path.read_text()}")
            try:
                urllib.request.urlopen(self.url, timeout=2)
                return
            except OSError:
                time.sleep(0.5)
        raise TimeoutError("app did not start")

    @property
    def private_dirs(self) -> list[Path]:
        """The app's private folders under GRADIO_TEMP_DIR (one while it runs, none after it stops)."""
        return sorted((self.temp_dir / "gradio").glob("cervix-unet-app-*"))

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
