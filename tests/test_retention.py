"""The private folder and the sweeper: files go on schedule, never while held, and the folder
goes on SIGTERM / SIGINT and when its process was killed."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from cervix_unet.retention import PREFIX, PrivateFolder, Sweeper, purge_dead_folders
from tests.conftest import ROOT


def _age(path, seconds):
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_sweeper_deletes_old_files_only(tmp_path):
    old, new = tmp_path / "a" / "old.png", tmp_path / "b" / "new.png"
    for p in (old, new):
        p.parent.mkdir()
        p.write_bytes(b"x")
    _age(old, 100)
    sweeper = Sweeper(tmp_path, max_age=10, interval=1)
    # ctime cannot be set back, so judge "now" from the future for the old file only
    assert sweeper.sweep(now=time.time() + 5) == []  # both touched (ctime) within 10 s
    assert sorted(sweeper.sweep(now=time.time() + 11)) == sorted([str(old), str(new)])
    assert not old.exists() and not new.exists()


def test_held_and_kept_files_stay_and_age_from_release(tmp_path):
    held, kept = tmp_path / "held.jpg", tmp_path / "kept.jpg"
    held.write_bytes(b"x")
    kept.write_bytes(b"y")
    sweeper = Sweeper(tmp_path, max_age=10, interval=1, keep=lambda: {str(kept)})
    future = time.time() + 60
    with sweeper.hold([str(held)]), sweeper.hold([str(held)]):  # two requests for the same upload
        assert sweeper.sweep(now=future) == []
    assert held.exists() and kept.exists()
    assert sweeper.sweep(now=time.time() + 5) == []  # released just now: its age restarts
    assert sweeper.sweep(now=time.time() + 11) == [str(held)]
    assert kept.exists()


def test_sweep_survives_files_vanishing_and_a_broken_keep(tmp_path):
    for i in range(50):
        (tmp_path / f"d{i}").mkdir()
        (tmp_path / f"d{i}" / "f.png").write_bytes(b"x")
    removed = []
    sweeper = Sweeper(tmp_path, max_age=0, interval=1, on_removed=removed.extend)
    # another sweeper deleting the same files at the same time: neither raises
    import threading

    other = Sweeper(tmp_path, max_age=0, interval=1)
    thread = threading.Thread(target=other.sweep, kwargs={"now": time.time() + 1})
    thread.start()
    sweeper.sweep(now=time.time() + 1)
    thread.join()
    assert not any(p.is_file() for p in tmp_path.rglob("*"))

    def broken():
        raise RuntimeError("queue changed")

    (tmp_path / "late.png").write_bytes(b"x")
    assert Sweeper(tmp_path, max_age=0, interval=1, keep=broken).sweep(now=time.time() + 1) == []
    assert (tmp_path / "late.png").exists()


def test_folders_of_dead_processes_are_purged(tmp_path):
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp_path / f"{PREFIX}-{int(done.stdout)}-1"
    reused = tmp_path / f"{PREFIX}-{os.getppid()}-1"  # a running pid, but not the process that made it
    other = tmp_path / "someone-elses-folder"
    for folder in (dead, reused, other):
        folder.mkdir()
        (folder / "crop.png").write_bytes(b"x")
    mine = PrivateFolder(tmp_path)
    assert not dead.exists() and not reused.exists() and other.exists() and mine.path.exists()
    assert purge_dead_folders(tmp_path) == []  # its own folder stays
    mine.remove()
    assert not mine.path.exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_removes_the_folder(tmp_path, signum):
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from cervix_unet.retention import PrivateFolder
        folder = PrivateFolder({str(tmp_path)!r})
        folder.remove_on_exit()
        (folder.path / "crop.png").write_bytes(b"x")
        print(folder.path, flush=True)
        time.sleep(60)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    path = process.stdout.readline().strip()
    assert os.path.isdir(path)
    process.send_signal(signum)
    assert process.wait(20) == 0
    assert not os.path.exists(path)
