"""`cervix-unet predict INPUT... --out DIR`: crop, mask and overlay of every photo at its full
size, and a summary written as results arrive. Never stops on a file."""

from __future__ import annotations

import argparse
import sys
import traceback
import warnings
from pathlib import Path

from tqdm import tqdm

from ..batch import default_workers, run_batch, scan_inputs
from ..errors import describe_error
from ..outputs import FORMATS
from ..pipeline import Segmenter, SegmentOptions
from ..summary import SummaryWriter
from .common import add_backend, add_weights

EXIT_OK = 0  # every photo segmented (with or without a cervix found); non-images skipped
EXIT_SOME_FAILED = 1  # some files failed (each has a row with the reason), the others are done
EXIT_USAGE = 2  # bad command line, or the model or output folder unusable (argparse uses 2 too)
EXIT_NONE = 3  # nothing segmented: no photos in the inputs, or every one failed

EPILOG = f"""\
outputs, per photo, at its full upright size (boxes in its pixels):
  NAME_crop.jpg    JPEG photos: a lossless crop of the file (the photo's own pixels, the box
                   widened to the JPEG's 8/16 px grid, as summary's crop_box says); NAME_crop.png
                   for other inputs, --crop-mode masked, or where it cannot be lossless
  NAME_mask.png    8-bit PNG, 255 = cervix, 0 elsewhere
  NAME_overlay.jpg the photo with the cervix outlined (.png with --format png)
  summary.csv / summary.jsonl (one row per file, written as each finishes), summary.json
no output carries metadata of the input (EXIF, GPS, ICC, comments).

exit status:
  {EXIT_OK}  every photo segmented (files in folders that are not images are listed as skipped)
  {EXIT_SOME_FAILED}  some files failed; each has a row in the summary with the reason
  {EXIT_USAGE}  bad arguments, model or output folder unusable
  {EXIT_NONE}  nothing segmented: no photos found, or every photo failed
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("inputs", nargs="+", help="image files or folders (searched recursively)")
    parser.add_argument("--out", required=True, help="output folder")
    add_weights(parser)
    add_backend(parser)
    parser.add_argument("--threshold", type=float, default=SegmentOptions.threshold)
    parser.add_argument("--margin", type=float, default=SegmentOptions.margin)
    parser.add_argument("--crop-mode", default=SegmentOptions.crop_mode, choices=["box", "masked"])
    parser.add_argument(
        "--format",
        default="auto",
        choices=FORMATS,
        help="auto: lossless JPEG crop, PNG mask, JPEG overlay; png: PNG everywhere",
    )
    parser.add_argument(
        "--workers",
        type=_positive,
        default=default_workers(),
        help="threads decoding and encoding beside the network (default: %(default)s)",
    )
    parser.add_argument(
        "--skip-existing",
        action="store_true",
        help="resume: skip photos that an earlier run into --out finished (files still there)",
    )
    parser.add_argument("--debug", action="store_true", help="print a traceback for every failed file, keep warnings")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    try:
        options = SegmentOptions(threshold=args.threshold, margin=args.margin, crop_mode=args.crop_mode)
        out.mkdir(parents=True, exist_ok=True)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as err:
        print(f"error: cannot use {out} as the output folder: {describe_error(err)}", file=sys.stderr)
        return EXIT_USAGE
    jobs, rows = scan_inputs(args.inputs, exclude=out)
    summary = SummaryWriter(out, resume=args.skip_existing)
    for row in rows:
        summary.add(row)
    done_before = [job for job in jobs if args.skip_existing and summary.done_before(job.path)]
    todo = [job for job in jobs if job not in done_before]
    order = [row["input"] for row in rows] + [str(job.path) for job in jobs]
    if not jobs:
        summary.close(order)
        print(
            f"no images found in the inputs ({len(rows)} other files listed in {out / 'summary.csv'})", file=sys.stderr
        )
        return EXIT_NONE
    segmenter = None
    if todo:
        try:
            segmenter = Segmenter.from_pretrained(args.weights, backend=args.backend, options=options)
        except Exception as err:  # noqa: BLE001 - a sentence, not a traceback
            summary.close(order)
            print(f"error: could not load the model from {args.weights}: {describe_error(err)}", file=sys.stderr)
            if args.debug:
                traceback.print_exc()
            return EXIT_USAGE
    if not args.debug:
        warnings.simplefilter("ignore")  # library warnings about single files: the rows say what matters
    try:
        with tqdm(total=len(todo), desc="segmenting", unit="photo", disable=not todo) as bar:
            for row in run_batch(todo, segmenter, out, options, args.format, args.workers, args.debug) if todo else ():
                summary.add(row)
                if row["status"] != "ok":
                    bar.write(f"failed: {row['input']}: {row['error']}", file=sys.stderr)
                    if args.debug and row.get("traceback"):
                        bar.write(row["traceback"], file=sys.stderr)
                bar.update()
    except KeyboardInterrupt:
        summary.close(order)
        print(f"interrupted; the rows so far are in {out / 'summary.csv'} (--skip-existing resumes)", file=sys.stderr)
        return 130
    final = summary.close(order)
    return report(final, [str(j.path) for j in jobs], len(done_before), segmenter, out)


def report(rows: list[dict], inputs: list[str], earlier: int, segmenter: Segmenter | None, out: Path) -> int:
    """Print the outcome in one line and return the exit status."""
    wanted = set(inputs)
    mine = [r for r in rows if r["input"] in wanted]
    ok = [r for r in mine if r["status"] == "ok"]
    failed = [r for r in rows if r["status"] == "failed" and (r["input"] in wanted or not r["name"])]
    skipped = sum(r["status"] == "skipped" for r in rows)
    no_cervix = sum(not r.get("found") for r in ok)
    parts = [f"{len(ok)} segmented" + (f" ({no_cervix} without a cervix found)" if no_cervix else "")]
    if earlier:
        parts.append(f"{earlier} of them in an earlier run")
    parts.append(f"{len(failed)} failed")
    if skipped:
        parts.append(f"{skipped} skipped (not images)")
    backend = f"backend {segmenter.backend.name}; " if segmenter else ""
    print(f"{', '.join(parts)}; {backend}results in {out} (summary.csv)")
    if not ok:
        return EXIT_NONE
    return EXIT_SOME_FAILED if failed else EXIT_OK
