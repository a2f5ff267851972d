"""The `cervix-unet` command line: one subcommand per module in `cervix_unet.commands`.

``predict`` needs the runtime only; the others make or measure the model and need the
``train`` extra (PyTorch, MONAI, segmentation-models-pytorch).
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = {
    "predict": ("cervix_unet.commands.predict", "segment photos: crop, mask, overlay and a summary"),
    "train": ("cervix_unet.commands.train", "train CervixUNet on the project's labels"),
    "crossval": ("cervix_unet.commands.crossval", "patient-wise k-fold cross-validation of a training recipe"),
    "evaluate": ("cervix_unet.commands.evaluate", "measure a model against labels: Dice, IoU, HD95, box IoU"),
    "bench": ("cervix_unet.commands.bench", "time the network and the pipeline per backend and stage"),
    "export": ("cervix_unet.commands.export", "export the weights to ONNX and check it against PyTorch"),
    "labels": ("cervix_unet.commands.labels", "import, check, render and review cervix labels"),
    "card": ("cervix_unet.commands.card", "write the model card from the evaluation and benchmark reports"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cervix-unet", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    argv = sys.argv[1:] if argv is None else argv
    chosen = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:  # import only the module that runs (keeps `--help` and predict fast)
            module = importlib.import_module(module_name)
            module.add_arguments(p)
            p.set_defaults(run=module.run)
    args = parser.parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
