"""Patient-derived files kept no longer than needed: a private folder per server process, swept
on a schedule, removed when the process stops.

A server that takes uploads (the Gradio app) keeps every upload and every derived image in
one folder of its own, ``<parent>/cervix-unet-app-<pid>-<start>``:

- :class:`PrivateFolder` makes it, first purging the folders of earlier processes that are no
  longer running (killed with SIGKILL, out of memory, power cut), and removes it at exit and on
  SIGTERM / SIGINT (how systemd, Docker and hosted Spaces stop a server; Python runs no
  ``atexit`` for a signal it does not handle).
- :class:`Sweeper` deletes a file once nothing has touched it for ``max_age`` seconds and no
  request holds it (:meth:`Sweeper.hold`), so it never races with a request in flight: a file
  goes between ``max_age`` and ``max_age + interval`` seconds after its last use.

Nothing here imports Gradio; the app tells the sweeper which files Gradio still needs.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

PREFIX = "cervix-unet-app"
_NAME = re.compile(rf"^{PREFIX}-(\d+)-(\d+)$")


def _start_stamp(pid: int) -> int | None:
    """The start time of process ``pid`` in centiseconds, or None if no such process runs."""
    try:
        return round(psutil.Process(pid).create_time() * 100)
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:  # it runs, under another user: never ours to purge
        return -1


def _owner_alive(pid: int, stamp: int) -> bool:
    """Whether the process that made a folder still runs (the pid alone may have been reused)."""
    now = _start_stamp(pid)
    return now == -1 or (now is not None and abs(now - stamp) <= 1)


class PrivateFolder:
    """The folder of this process for uploads and derived files (see the module's docstring)."""

    def __init__(self, parent: str | Path) -> None:
        self.parent = Path(parent)
        self.parent.mkdir(parents=True, exist_ok=True)
        self.purged = purge_dead_folders(self.parent)
        pid = os.getpid()
        self.path = self.parent / f"{PREFIX}-{pid}-{_start_stamp(pid)}"
        self.path.mkdir(mode=0o700, exist_ok=True)

    def remove(self) -> None:
        """Delete the folder and everything in it (files written meanwhile by threads still at
        work are caught by a few retries)."""
        for _ in range(5):
            shutil.rmtree(self.path, ignore_errors=True)
            if not self.path.exists():
                return
            time.sleep(0.05)

    def remove_on_exit(self, signals: Iterable[int] = (signal.SIGTERM, signal.SIGINT)) -> None:
        """Remove the folder at a normal exit and on each of ``signals``: the handler removes it
        (again a few times if a request still at work wrote into it meanwhile) and ends the
        process at once with status 0; requests in flight are dropped, as SIGTERM means.
        Call from the main thread (Python's rule for signal handlers)."""
        import atexit

        atexit.register(self.remove)

        def handle(signum: int, frame: object) -> None:
            log.info("received %s: removing %s and exiting", signal.Signals(signum).name, self.path)
            self.remove()
            os._exit(0)  # the server's threads never delay the exit; nothing is left to flush

        for signum in signals:
            signal.signal(signum, handle)


def purge_dead_folders(parent: str | Path) -> list[Path]:
    """Delete the private folders in ``parent`` whose process no longer runs; return them."""
    purged = []
    for folder in Path(parent).glob(f"{PREFIX}-*"):
        match = _NAME.match(folder.name)
        if not match or not folder.is_dir() or folder.is_symlink():
            continue
        pid, stamp = int(match[1]), int(match[2])
        if pid == os.getpid() or _owner_alive(pid, stamp):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        purged.append(folder)
    if purged:
        log.info("purged %d folder(s) left by stopped processes", len(purged))
    return purged


class Sweeper:
    """Deletes files under ``root`` on a schedule: a file goes once it is older than ``max_age``
    seconds (counted from its last write, rename or release by :meth:`hold`) and is neither held
    by a request nor named by ``keep()``. Every file thus goes within ``max_age + interval``
    seconds of its last use. Empty folders go by the same rule.

    ``keep`` returns paths that must stay whatever their age (files a queued request will read,
    files the server never deletes); it is called once per sweep."""

    def __init__(
        self,
        root: str | Path,
        max_age: float,
        interval: float,
        keep: Callable[[], set[str]] = set,
        on_removed: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.root = Path(root)
        self.max_age = max_age
        self.interval = interval
        self.keep = keep
        self.on_removed = on_removed
        self._lock = threading.Lock()
        self._held: dict[str, int] = {}
        self._released: dict[str, float] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @contextmanager
    def hold(self, paths: Iterable[str | Path | None]) -> Iterator[None]:
        """Keep ``paths`` while the block runs; their age restarts when it ends."""
        keys = [_key(p) for p in paths if p]
        with self._lock:
            for k in keys:
                self._held[k] = self._held.get(k, 0) + 1
        try:
            yield
        finally:
            now = time.time()
            with self._lock:
                for k in keys:
                    self._held[k] -= 1
                    if not self._held[k]:
                        del self._held[k]
                    self._released[k] = now

    def sweep(self, now: float | None = None) -> list[str]:
        """One pass: delete what is due; return the deleted files. Never raises for a file that
        another thread deleted, renamed or rewrote meanwhile."""
        now = time.time() if now is None else now
        cutoff = now - self.max_age
        try:
            keep = {_key(p) for p in self.keep()}
        except Exception as err:  # a broken keep() must not delete what it would have kept
            log.warning("sweep skipped: keep() failed (%s)", type(err).__name__)
            return []
        removed = []
        folders = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            folders.extend(os.path.join(dirpath, d) for d in dirnames)
            for name in filenames:
                path = os.path.join(dirpath, name)
                if self._due(path, cutoff, keep):
                    try:
                        os.unlink(path)
                        removed.append(path)
                    except FileNotFoundError:
                        pass
                    except OSError as err:
                        log.warning("could not delete a file: %s", err.strerror)
        for folder in sorted(folders, key=len, reverse=True):  # deepest first
            try:
                if os.lstat(folder).st_mtime < cutoff:
                    os.rmdir(folder)  # fails (kept) unless empty
            except OSError:
                pass
        with self._lock:
            for k in [k for k, t in self._released.items() if t < cutoff and k not in self._held]:
                del self._released[k]
        if removed and self.on_removed is not None:
            self.on_removed(removed)
        return removed

    def _due(self, path: str, cutoff: float, keep: set[str]) -> bool:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return False
        if max(st.st_mtime, st.st_ctime) >= cutoff:
            return False
        key = _key(path)
        with self._lock:
            if key in self._held or self._released.get(key, 0) >= cutoff:
                return False
        return key not in keep

    def start(self) -> Sweeper:
        """Sweep every ``interval`` seconds in a daemon thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="cervix-unet-sweeper", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sweep()
            except Exception as err:  # the schedule must survive anything one pass meets
                log.warning("sweep failed: %s", type(err).__name__)


def _key(path: str | Path) -> str:
    return os.path.realpath(path)
