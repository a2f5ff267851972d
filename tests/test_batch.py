"""The batch behind `predict`: every failure a row, rows on disk as they arrive, unique names."""

import copy
import csv
import json
import shutil

from cervix_unet.batch import Job, run_batch, scan_inputs
from cervix_unet.summary import SummaryWriter
from tests.conftest import EXAMPLES


def test_any_exception_becomes_a_row_and_the_batch_goes_on(segmenter, tmp_path):
    flaky = copy.copy(segmenter)
    calls = []

    def probability(small):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return segmenter.run_network(small)

    flaky.run_network = probability
    jobs = [Job(p, p.stem) for p in EXAMPLES[:3]]
    rows = {r["name"]: r for r in run_batch(jobs, flaky, tmp_path, keep_traceback=True)}
    assert sorted(r["status"] for r in rows.values()) == ["failed", "ok", "ok"]
    failed = next(r for r in rows.values() if r["status"] == "failed")
    assert failed["error"] == "Unexpected error while running the model (RuntimeError: boom)."
    assert "Traceback" in failed["traceback"]
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    row = next(run_batch(jobs[:1], segmenter, not_a_folder))
    assert row["status"] == "failed" and row["error"].startswith("A file error occurred while writing the outputs")


def test_summary_rows_are_on_disk_before_the_batch_ends(tmp_path):
    summary = SummaryWriter(tmp_path)
    summary.add(
        {"input": "a.jpg", "name": "a", "status": "ok", "error": "", "box": [1, 2, 3, 4], "mask_file": "a_mask.png"}
    )
    summary.add({"input": "b.jpg", "name": "b", "status": "failed", "error": "The file is empty."})
    # no close(): as after a crash
    lines = [json.loads(line) for line in (tmp_path / "summary.jsonl").read_text().splitlines()]
    assert [r["name"] for r in lines] == ["a", "b"]
    with open(tmp_path / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["box"] for r in rows] == ["1 2 3 4", ""]
    resumed = SummaryWriter(tmp_path, resume=True)
    assert resumed.done_before("a.jpg") is None  # its mask file is not there
    (tmp_path / "a_mask.png").write_bytes(b"x")
    assert resumed.done_before("a.jpg")["name"] == "a" and resumed.done_before("b.jpg") is None
    assert [r["input"] for r in resumed.close(["b.jpg", "a.jpg"])] == ["b.jpg", "a.jpg"]
    assert json.loads((tmp_path / "summary.json").read_text())[0]["input"] == "b.jpg"


def test_scan_names_outputs_uniquely_and_lists_what_it_skips(tmp_path):
    folder = tmp_path / "in"
    (folder / "day 2").mkdir(parents=True)
    for name in ["photo.jpg", "photo.png", "day 2/photo.jpg", "notes.txt", ".DS_Store"]:
        shutil.copy(EXAMPLES[0], folder / name)
    (folder / "out").mkdir()
    shutil.copy(EXAMPLES[0], folder / "out" / "old_crop.jpg")  # an earlier run's output inside the input
    jobs, rows = scan_inputs([folder, tmp_path / "missing.jpg", folder / "photo.jpg"], exclude=folder / "out")
    assert [(j.path.relative_to(folder).as_posix(), j.name) for j in jobs] == [
        ("day 2/photo.jpg", "day 2__photo"),
        ("photo.jpg", "photo"),
        ("photo.png", "photo_png"),
    ]
    assert {r["input"].rsplit("/", 1)[-1]: (r["status"], r["error"]) for r in rows} == {
        ".DS_Store": ("skipped", "hidden file"),
        "notes.txt": ("skipped", "not an image file (.txt)"),
        "missing.jpg": ("failed", f"No such file or folder: {tmp_path / 'missing.jpg'}"),
    }
