"""Train CervixUNet on the project's labels (nanoGPT style: config, one loop, checkpoints).

    cervix-unet train --data ../shared/data --out runs/r128 --size 128 --epochs 120

Every epoch: train on the train split with augmentation, measure Dice on the validation
split (at the working resolution), write ``checkpoint.pt`` (resume with ``--resume``), save
the best model with ``save_pretrained`` to ``<out>/best`` and redraw ``curves.png``.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import segmentation_models_pytorch as smp
import torch
from torch.utils.data import DataLoader, WeightedRandomSampler
from tqdm import tqdm

from ..model import CervixUNet
from ..preprocess import resize_rgb
from .data import CervixDataset, load_pairs, load_zoomed
from .labels import load_labels
from .metrics import DiceScore
from .negatives import library_pictures
from .pseudo import pseudo_labels, teacher_sheet, unlabelled_keys, without_lookalikes
from .split import make_folds, select_keys, source_of

# the second look's views for --zoom-in: box grown by 0.1-0.5 (the pipeline's zoom_margin, 0.25, with room
# for a first-look box that is off)
ZOOM_MARGINS = (0.1, 0.5)


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on: plain values, stored in the checkpoint."""

    data: str = "../shared/data"  # folder the label keys are relative to
    labels: str = "labels"  # folder with the label files and split.json
    out: str = "runs/train"  # run folder: checkpoint, best model, curves
    size: int = 128  # working resolution (square, multiple of 16)
    epochs: int = 120
    batch_size: int = 8
    lr: float = 3e-4  # peak learning rate (Adam)
    warmup_epochs: int = 3
    patience: int = 40  # stop after this many epochs without improvement
    bf16: bool = True  # bfloat16 autocast (fast on CPUs with AMX / AVX512-BF16)
    seed: int = 0
    resume: bool = False  # continue from <out>/checkpoint.pt
    threads: int = 0  # torch threads (0: all cores)
    max_images: int = 0  # use at most this many images per split (smoke tests)
    fold: int = -1  # -1: validate on split.json's val part; k >= 0: hold out cross-validation fold k
    folds: int = 5  # number of cross-validation folds (split.make_folds)
    fold_seed: int = 0  # how the folds are drawn (fixed, so that every recipe sees the same folds)
    fold_sources: str = ""  # e.g. "mobileodt": fold only these sources; the others keep split.json's parts
    # (their validation part held out in every fold), for weights (--init) that trained on the others
    keep_last: bool = False  # the model is the last epoch (the refit's rule), not the best on validation
    refit: bool = False  # train on every labelled image, no validation; the last epoch is the model
    # start from these weights (a model folder; "{fold}": the fold's number) instead of a fresh Glorot init
    init: str = ""
    train_sources: str = ""  # e.g. "annocerv,iarc_atlas": train on these sources only (the folds and the
    # validation stay over every source), the first stage of a two-stage recipe
    negatives: bool = False  # add the made-up non-colposcopy pictures (negatives.py, train part), empty masks
    recolour_negatives: float = 0.0  # share of the negatives' draws recoloured (data.recolour: colour maps, hues)
    balance_sources: bool = False  # draw each source (AnnoCerv, IARC, phone) equally often per epoch
    source_weights: str = ""  # with balance_sources, sources drawn this many times as often ("iarc_atlas=2")
    average_from: int = -1  # >= 0: also save the mean of the weights of every epoch from this one on
    zoom_out: float = 0.0  # share of training images shrunk into a dark, vignetted surround (data.zoom_out)
    colour_cast: float = 0.0  # share given a white-balance shift or the green filter's look (data.colour_cast)
    zoom_in: float = 0.0  # share of photos replaced by the second look's view of them (data.load_zoomed)
    dice_per_image: bool = False  # Dice loss per image, then averaged (the metric's weighting), not over the batch
    lovasz: float = 0.0  # weight of smp's Lovasz hinge loss (per image: a surrogate of each photo's IoU, whose
    # gradient sits on the outline's pixels) added to Dice + BCE
    pseudo_labels: str = ""  # teacher model folder ("{fold}": the fold's number): its trusted masks of the
    # unlabelled phone photos join training as a source of their own (pseudo.py); look-alikes of held-out photos left out

    def for_fold(self, option: str) -> str:
        """A model-folder option with "{fold}" (a fold's model of an earlier step) made this fold's."""
        return option.replace("{fold}", str(self.fold))

    def learning_rate(self, epoch: float) -> float:
        """Linear warm-up, then cosine decay to 1% of the peak."""
        if epoch < self.warmup_epochs:
            return self.lr * (epoch + 1) / self.warmup_epochs
        progress = (epoch - self.warmup_epochs) / max(1, self.epochs - self.warmup_epochs)
        return self.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def dice_input(logits: torch.Tensor, mask: torch.Tensor, per_image: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The (prediction, target) pair for smp's Dice loss.

    smp sums a binary batch's pixels into one Dice, so a small cervix spread over the vaginal
    walls costs little beside the large ones in its batch. Per image, each photo is a "class" of
    one multilabel sample (N, 1, H, W -> 1, N, H, W): one Dice per photo, averaged, as the
    evaluation averages them; photos with an empty mask add 0 (smp masks absent classes), BCE
    covers them.
    """
    return (logits.transpose(0, 1), mask.transpose(0, 1)) if per_image else (logits, mask)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@torch.inference_mode()
def validate(model: CervixUNet, loader: DataLoader, bf16: bool) -> tuple[float, float]:
    """Mean per-image Dice and IoU (threshold 0.5, both-empty counts 1) on the loader."""
    model.eval()
    dice, ious = DiceScore(), []
    for image, mask in loader:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(image.contiguous(memory_format=torch.channels_last))
        pred, truth = logits.float() > 0, mask > 0.5
        dice.add(pred, truth)
        inter, union = (pred & truth).sum((1, 2, 3)).float(), (pred | truth).sum((1, 2, 3)).float()
        ious += torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(inter)).tolist()
    return dice.mean(), float(np.mean(ious))


def plot_curves(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    validated = any(np.isfinite(h["val_dice"]) for h in history)  # a refit has no validation photos
    fig, axes = plt.subplots(1, 2 if validated else 1, figsize=(11 if validated else 6, 4), squeeze=False)
    ax1 = axes[0, 0]
    ax1.plot(epochs, [h["train_loss"] for h in history], label="training loss")
    ax1.set_xlabel("epoch")
    ax1.set_yscale("log")
    if validated:
        ax2 = axes[0, 1]
        ax2.plot(epochs, [h["val_dice"] for h in history], label="validation Dice")
        ax2.plot(epochs, [h["val_iou"] for h in history], label="validation IoU")
        ax2.set_xlabel("epoch")
        ax2.set_ylim(0.5, 1.0)
    for ax in axes[0]:
        ax.legend()
        ax.grid(alpha=0.3)
    title = "" if validated else ", no validation photos: a refit"
    fig.suptitle(f"CervixUNet training ({path.parent.name}{title})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def source_sampler(
    sources: list[str | None], total: int, generator: torch.Generator, relative: dict[str, float] | None = None
) -> WeightedRandomSampler:
    """Draws each source (one name per image of the set) equally often, or ``relative`` times as
    often as a source it does not name, within the share of the sourced images; images without a
    source (the made-up negatives) keep their natural share. ``total`` draws an epoch, with
    replacement."""
    sourced = [s for s in sources if s is not None]
    counts = {s: sourced.count(s) for s in set(sourced)}
    relative = {s: (relative or {}).get(s, 1.0) for s in counts}
    unit = (total - (len(sources) - len(sourced))) / sum(relative.values())  # a weight-1 source's draws
    weights = [1.0 if s is None else unit * relative[s] / counts[s] for s in sources]
    return WeightedRandomSampler(weights, total, replacement=True, generator=generator)


def source_names(option: str) -> set[str]:
    """The sources a comma-separated option names ("annocerv,iarc_atlas"); empty: none named."""
    return set(filter(None, option.split(",")))


def source_weights(option: str, known: set[str]) -> dict[str, float]:
    """The relative draws a ``--source-weights`` option names ("iarc_atlas=2,mobileodt=0.5")."""
    weights = {}
    for item in source_names(option):
        name, _, value = item.partition("=")
        try:
            weights[name] = float(value)
        except ValueError:
            raise ValueError(f"--source-weights: {item!r} is not source=number") from None
        if name not in known or weights[name] <= 0:
            raise ValueError(f"--source-weights: {item!r}: the sources are {', '.join(sorted(known))}, weights > 0")
    return weights


def held_out_keys(config: TrainConfig, labels: dict, fold: int) -> list[str]:
    """The photos cross-validation fold ``fold`` holds out. With ``fold_sources``, only those
    sources are folded, and the validation part of the other sources is held out in every fold."""
    sources = source_names(config.fold_sources)
    folded = {k: v for k, v in labels.items() if not sources or source_of(k) in sources}
    held_out = make_folds(folded, config.folds, config.fold_seed)[fold]
    if sources:
        others = [k for k in labels if k not in folded]
        held_out += select_keys({k: labels[k] for k in others}, config.labels, "val")
    return sorted(held_out)


def train_and_val_keys(config: TrainConfig, labels: dict) -> tuple[list[str], list[str]]:
    """The images to train on and to validate on, as the config says."""
    if config.refit:
        train_keys, val_keys = sorted(labels), []
    elif config.fold >= 0:
        held_out = set(held_out_keys(config, labels, config.fold))
        train_keys, val_keys = sorted(set(labels) - held_out), sorted(held_out)
    else:
        train_keys, val_keys = select_keys(labels, config.labels, "train"), select_keys(labels, config.labels, "val")
    sources = source_names(config.train_sources)
    return [k for k in train_keys if not sources or source_of(k) in sources], val_keys


def train(config: TrainConfig) -> Path:
    """Run the training; returns the folder of the best model."""
    if config.pseudo_labels and not config.balance_sources:
        raise ValueError("--pseudo-labels draws the teacher's masks as a source of their own: use --balance-sources")
    if config.source_weights and not config.balance_sources:
        raise ValueError("--source-weights weighs the sources' draws: use --balance-sources")
    if config.threads:
        torch.set_num_threads(config.threads)
    seed_everything(config.seed)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint_path = out / "checkpoint.pt"
    state = torch.load(checkpoint_path, weights_only=False) if config.resume and checkpoint_path.exists() else None
    if state is not None and state["epoch"] + 1 >= config.epochs and (out / "best").exists():
        print(f"{out}: all {config.epochs} epochs trained", flush=True)  # skip loading photos and teacher masks
        return out / "best"
    for option in (config.init, config.pseudo_labels):  # a fold's model of an earlier step: a folder, not a Hub id
        folder = config.for_fold(option)
        if folder != option and not Path(folder).is_dir():
            raise ValueError(f"{folder}: no model folder; train the earlier step's fold {config.fold} first")
    labels = load_labels(config.labels)
    train_keys, val_keys = train_and_val_keys(config, labels)
    if config.max_images:  # a quick smoke run
        train_keys = train_keys[:: len(train_keys) // config.max_images + 1]
        val_keys = val_keys[:: max(1, len(val_keys) // config.max_images)][: config.max_images]
    store = 2 * config.size  # stored larger than the working size, room for crops and zoom
    train_images, train_masks = load_pairs(train_keys, labels, config.data, store)
    if config.negatives:
        pictures = [resize_rgb(p, store) for p in library_pictures("train").values()]
        train_images = np.concatenate([train_images, np.stack(pictures)])
        train_masks = np.concatenate([train_masks, np.zeros((len(pictures), store, store), bool)])
        print(f"+ {len(pictures)} non-colposcopy pictures with empty masks")
    negatives = range(len(train_keys), len(train_images))
    sources: list[str | None] = [source_of(key) for key in train_keys] + [None] * len(negatives)
    draws = len(train_images)  # an epoch's length: the labelled photos and negatives, with or without teacher masks
    if config.pseudo_labels:
        teacher = config.for_fold(config.pseudo_labels)
        candidates = without_lookalikes(unlabelled_keys(config.data, labels), val_keys, config.data)
        kept, images, masks = pseudo_labels(teacher, candidates, config.data, store, out / "pseudo_labels.npz")
        print(f"+ {len(kept)} of {len(candidates)} unlabelled phone photos with the teacher's masks ({teacher})")
        teacher_sheet(kept, images, masks).save(out / "pseudo_labels.jpg", quality=85)
        train_images, train_masks = np.concatenate([train_images, images]), np.concatenate([train_masks, masks])
        sources += ["pseudo"] * len(kept)
    zoomed = load_zoomed(train_keys, labels, config.data, store, ZOOM_MARGINS, config.seed) if config.zoom_in else None
    train_set = CervixDataset(
        train_images,
        train_masks,
        config.size,
        True,
        config.zoom_out,
        config.colour_cast,
        zoomed,
        config.zoom_in,
        negatives,
        config.recolour_negatives,
    )
    val_set = CervixDataset(*load_pairs(val_keys, labels, config.data, config.size), config.size, augment=False)
    generator = torch.Generator().manual_seed(config.seed)
    relative = source_weights(config.source_weights, {s for s in sources if s is not None})
    sampler = source_sampler(sources, draws, generator, relative) if config.balance_sources else None
    train_loader = DataLoader(
        train_set,
        batch_size=config.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        drop_last=True,
        generator=generator,
    )
    val_loader = DataLoader(val_set, batch_size=16)
    print(f"train {len(train_keys)} images, val {len(val_keys)} images, size {config.size}")

    init = config.for_fold(config.init)
    model = CervixUNet.from_pretrained(init) if init else CervixUNet(input_size=config.size)
    if model.input_size != config.size:
        raise ValueError(f"{init} works at {model.input_size} px, not --size {config.size}")
    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    mode = smp.losses.MULTILABEL_MODE if config.dice_per_image else smp.losses.BINARY_MODE
    dice_loss = smp.losses.DiceLoss(mode, from_logits=True)
    bce_loss = torch.nn.BCEWithLogitsLoss()
    lovasz_loss = smp.losses.LovaszLoss(smp.losses.BINARY_MODE, per_image=True, from_logits=True)
    history: list[dict] = []
    start, best = 0, -1.0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history, start, best = state["history"], state["epoch"] + 1, state["best"]
        torch.set_rng_state(state["rng"])
        generator.set_state(state["generator"])
        print(f"resumed at epoch {start}, best val Dice {best:.4f}")

    averaged, averaged_count = None, 0
    if state is not None and state.get("averaged") is not None:
        averaged, averaged_count = state["averaged"], state["averaged_count"]
    stale = 0 if not history or not val_keys else start - 1 - max(h["epoch"] for h in history if h["val_dice"] == best)
    for epoch in range(start, config.epochs):
        model.train()
        for group in optimizer.param_groups:
            group["lr"] = config.learning_rate(epoch)
        losses, t0 = [], time.time()
        for image, mask in tqdm(train_loader, desc=f"epoch {epoch}", leave=False):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16):
                logits = model(image.contiguous(memory_format=torch.channels_last))
            logits = logits.float()
            loss = dice_loss(*dice_input(logits, mask, config.dice_per_image)) + bce_loss(logits, mask)
            if config.lovasz:
                loss = loss + config.lovasz * lovasz_loss(logits, mask)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            losses.append(loss.item())
        if 0 <= config.average_from <= epoch:  # running mean of the weights (no normalisation layers to refit)
            averaged_count += 1
            weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if averaged is None:
                averaged = weights
            else:
                for k, v in averaged.items():
                    v += (weights[k] - v) / averaged_count
        val_dice, val_iou = validate(model, val_loader, config.bf16) if val_keys else (float("nan"), float("nan"))
        history.append(
            {
                "epoch": epoch,
                "lr": optimizer.param_groups[0]["lr"],
                "train_loss": float(np.mean(losses)),
                "val_dice": val_dice,
                "val_iou": val_iou,
                "seconds": time.time() - t0,
            }
        )
        improved = val_dice > best or not val_keys or config.keep_last  # a refit keeps its last epoch
        if improved:
            best, stale = (val_dice if val_keys else best), 0
            model.save_pretrained(out / "best")
        else:
            stale += 1
        print(json.dumps(history[-1]) + (" *" if improved else ""), flush=True)
        torch.save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "epoch": epoch,
                "history": history,
                "best": best,
                "rng": torch.get_rng_state(),
                "generator": generator.get_state(),
                "config": asdict(config),
                "averaged": averaged,
                "averaged_count": averaged_count,
            },
            checkpoint_path,
        )
        (out / "history.json").write_text(json.dumps(history, indent=1))
        plot_curves(history, out / "curves.png")
        if stale >= config.patience:
            print(f"no improvement for {stale} epochs: stopping")
            break
    if averaged is not None:
        model.load_state_dict(averaged)
        model.save_pretrained(out / "averaged")
        if val_keys:
            print(
                f"mean of the weights of epochs {config.average_from}+ ({averaged_count}): "
                f"val Dice {validate(model, val_loader, config.bf16)[0]:.4f}",
                flush=True,
            )
    return out / "best"
