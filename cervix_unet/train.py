"""Train CervixUNet on the project's labels (nanoGPT style: config, one loop, checkpoints).

    cervix-unet train --data ../shared/data --out runs/r128 --size 128 --epochs 120

Every epoch: train on the train split with augmentation, measure Dice on the validation
split (at the working resolution), write ``checkpoint.pt`` (resume with ``--resume``), save
the best model with ``save_pretrained`` to ``<out>/best`` and redraw ``curves.png``.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import segmentation_models_pytorch as smp
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from .data import CervixDataset, load_pairs
from .labels import load_labels
from .model import CervixUNet
from .split import keys_in


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="../shared/data", help="folder the label keys are relative to")
    parser.add_argument("--labels", default="labels", help="folder with the label files and split.json")
    parser.add_argument("--out", default="runs/train", help="run folder (checkpoint, best model, curves)")
    parser.add_argument("--size", type=int, default=128, help="working resolution (square, multiple of 16)")
    parser.add_argument("--epochs", type=int, default=120)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--warmup-epochs", type=int, default=3)
    parser.add_argument("--patience", type=int, default=40, help="stop after this many epochs without improvement")
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True,
                        help="bfloat16 autocast (fast on CPUs with AMX/AVX512-BF16)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint.pt")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    parser.add_argument("--max-images", type=int, default=0, help="use at most this many images per split (smoke tests)")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def learning_rate(epoch: float, args: argparse.Namespace) -> float:
    """Linear warm-up, then cosine decay to 1% of the peak."""
    if epoch < args.warmup_epochs:
        return args.lr * (epoch + 1) / args.warmup_epochs
    progress = (epoch - args.warmup_epochs) / max(1, args.epochs - args.warmup_epochs)
    return args.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


@torch.inference_mode()
def validate(model: CervixUNet, loader: DataLoader, bf16: bool) -> tuple[float, float]:
    """Mean per-image Dice (threshold 0.5) and mean loss-free IoU on the loader."""
    model.eval()
    dices, ious = [], []
    for image, mask in loader:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(image.contiguous(memory_format=torch.channels_last))
        pred = logits.float() > 0
        truth = mask > 0.5
        inter = (pred & truth).sum((1, 2, 3)).float()
        total = pred.sum((1, 2, 3)) + truth.sum((1, 2, 3))
        union = (pred | truth).sum((1, 2, 3)).float()
        dices += torch.where(total > 0, 2 * inter / total.clamp(min=1), torch.ones_like(inter)).tolist()
        ious += torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(inter)).tolist()
    return float(np.mean(dices)), float(np.mean(ious))


def plot_curves(history: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.plot(epochs, [h["train_loss"] for h in history], label="train loss (Dice + BCE)")
    ax1.set_xlabel("epoch"); ax1.set_yscale("log"); ax1.legend(); ax1.grid(alpha=0.3)
    ax2.plot(epochs, [h["val_dice"] for h in history], label="validation Dice")
    ax2.plot(epochs, [h["val_iou"] for h in history], label="validation IoU")
    ax2.set_xlabel("epoch"); ax2.set_ylim(0.5, 1.0); ax2.legend(); ax2.grid(alpha=0.3)
    fig.suptitle(f"CervixUNet training ({path.parent.name})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def train(args: argparse.Namespace) -> Path:
    """Run the training; returns the folder of the best model."""
    if args.threads:
        torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    labels = load_labels(args.labels)
    split = json.loads((Path(args.labels) / "split.json").read_text())
    train_keys, val_keys = keys_in(labels, split["train"]), keys_in(labels, split["val"])
    if args.max_images:  # a quick smoke run
        train_keys, val_keys = train_keys[::len(train_keys) // args.max_images + 1], val_keys[:args.max_images]
    store = 2 * args.size  # stored larger than the working size, room for crops and zoom
    train_set = CervixDataset(*load_pairs(train_keys, labels, args.data, store), args.size, augment=True)
    val_set = CervixDataset(*load_pairs(val_keys, labels, args.data, args.size), args.size, augment=False)
    generator = torch.Generator().manual_seed(args.seed)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, drop_last=True, generator=generator)
    val_loader = DataLoader(val_set, batch_size=16)
    print(f"train {len(train_keys)} images, val {len(val_keys)} images, size {args.size}")

    model = CervixUNet(input_size=args.size).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    dice_loss = smp.losses.DiceLoss(smp.losses.BINARY_MODE, from_logits=True)
    bce_loss = torch.nn.BCEWithLogitsLoss()
    history: list[dict] = []
    start, best = 0, -1.0
    checkpoint_path = out / "checkpoint.pt"
    if args.resume and checkpoint_path.exists():
        state = torch.load(checkpoint_path, weights_only=False)
        model.load_state_dict(state["model"]); optimizer.load_state_dict(state["optimizer"])
        history, start, best = state["history"], state["epoch"] + 1, state["best"]
        torch.set_rng_state(state["rng"]); generator.set_state(state["generator"])
        print(f"resumed at epoch {start}, best val Dice {best:.4f}")

    stale = 0 if not history else start - 1 - max(h["epoch"] for h in history if h["val_dice"] == best)
    for epoch in range(start, args.epochs):
        model.train()
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(epoch, args)
        losses, t0 = [], time.time()
        for image, mask in tqdm(train_loader, desc=f"epoch {epoch}", leave=False):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                logits = model(image.contiguous(memory_format=torch.channels_last))
            logits = logits.float()
            loss = dice_loss(logits, mask) + bce_loss(logits, mask)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            losses.append(loss.item())
        val_dice, val_iou = validate(model, val_loader, args.bf16)
        history.append({"epoch": epoch, "lr": optimizer.param_groups[0]["lr"], "train_loss": float(np.mean(losses)),
                        "val_dice": val_dice, "val_iou": val_iou, "seconds": time.time() - t0})
        improved = val_dice > best
        if improved:
            best, stale = val_dice, 0
            model.save_pretrained(out / "best")
        else:
            stale += 1
        print(json.dumps(history[-1]) + (" *" if improved else ""), flush=True)
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                    "history": history, "best": best, "rng": torch.get_rng_state(),
                    "generator": generator.get_state(), "args": vars(args)}, checkpoint_path)
        (out / "history.json").write_text(json.dumps(history, indent=1))
        plot_curves(history, out / "curves.png")
        if stale >= args.patience:
            print(f"no improvement for {stale} epochs: stopping")
            break
    return out / "best"


def run(args: argparse.Namespace) -> int:
    """Entry point of `cervix-unet train`."""
    train(args)
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    train(parser.parse_args(argv))


if __name__ == "__main__":
    main()
