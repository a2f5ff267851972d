"""Labelled images for training: loaded once into memory, augmented on the fly."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2
from tqdm import tqdm

from ..crop import expand_box, mask_box
from ..image_io import decode_image
from ..preprocess import resize_rgb
from .labels import Label, label_mask


def load_pairs(
    keys: list[str], labels: dict[str, Label], data_root: str | Path, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, size, size, 3) uint8 and masks (N, size, size) bool, whole frame squashed.
    Photos are decoded as the pipeline decodes them (EXIF orientation, colour modes)."""
    images = np.empty((len(keys), size, size, 3), np.uint8)
    masks = np.empty((len(keys), size, size), bool)
    for i, key in enumerate(tqdm(keys, desc=f"loading {size}px", leave=False)):
        image, _ = decode_image(Path(data_root) / key, max_side=None)
        images[i] = resize_rgb(image, size)
        masks[i] = label_mask(labels[key], out_size=(size, size))
    return images, masks


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """A bool mask squashed to ``size`` x ``size`` with the photo's resampling (``resize_rgb``),
    then cut at half, so that mask and photo stay aligned."""
    return resize_rgb(mask.astype(np.uint8) * 255, size) > 127


def load_zoomed(
    keys: list[str], labels: dict[str, Label], data_root: str | Path, size: int, margins: tuple[float, float], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """What the pipeline's second look (``SegmentOptions.zoom_margin``) sees of each photo: the region
    around the labelled cervix, its box grown by a margin drawn from ``margins`` (the first look's box
    is never exact), cut from the full-size photo and squashed to ``size``; with its mask. A photo
    without a cervix keeps its whole frame."""
    rng = np.random.default_rng(seed)
    images = np.empty((len(keys), size, size, 3), np.uint8)
    masks = np.empty((len(keys), size, size), bool)
    for i, key in enumerate(tqdm(keys, desc=f"loading second looks {size}px", leave=False)):
        image, _ = decode_image(Path(data_root) / key, max_side=None)
        mask = label_mask(labels[key])
        margin = rng.uniform(*margins)
        box = mask_box(mask)
        x0, y0, x1, y1 = expand_box(box, margin, mask.shape[::-1]) if box else (0, 0, mask.shape[1], mask.shape[0])
        images[i] = resize_rgb(image[y0:y1, x0:x1], size)
        masks[i] = resize_mask(mask[y0:y1, x0:x1], size)
    return images, masks


def train_transform(size: int) -> v2.Compose:
    """Colposcopy augmentation: geometry on image and mask together, photometry on the image."""
    return v2.Compose(
        [
            v2.RandomHorizontalFlip(0.5),
            v2.RandomVerticalFlip(0.2),
            v2.RandomApply([v2.RandomAffine(degrees=25, translate=(0.1, 0.1), scale=(0.8, 1.25))], p=0.7),
            v2.RandomChoice(
                [
                    v2.Resize((size, size), antialias=True),
                    v2.RandomResizedCrop((size, size), scale=(0.55, 1.0), ratio=(0.75, 1.33), antialias=True),
                ],
                p=[0.5, 0.5],
            ),
            v2.RandomApply([v2.ColorJitter(brightness=0.35, contrast=0.35, saturation=0.35, hue=0.06)], p=0.8),
            v2.RandomApply([v2.GaussianBlur(kernel_size=5, sigma=(0.1, 1.5))], p=0.2),
        ]
    )


def zoom_out(image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole frame shrunk (0.45-0.85) into a dark surround at a random place, in half of the
    cases inside a round black vignette that also cuts the mask: the cervix small in a wide view
    with speculum and walls around it, as a phone on a colposcope adapter sees it."""
    _, h, w = image.shape
    scale = 0.45 + 0.4 * float(torch.rand(()))
    sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
    y, x = int(torch.randint(0, h - sh + 1, ())), int(torch.randint(0, w - sw + 1, ()))
    surround = torch.randint(0, 60, (3, 1, 1), dtype=torch.uint8)
    canvas = surround.expand(3, h, w).clone()
    canvas[:, y : y + sh, x : x + sw] = v2.functional.resize(image, [sh, sw], antialias=True)
    placed = torch.zeros_like(mask)
    placed[:, y : y + sh, x : x + sw] = v2.functional.resize(mask, [sh, sw], interpolation=v2.InterpolationMode.NEAREST)
    if torch.rand(()) < 0.5:
        yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        radius = (0.45 + 0.2 * float(torch.rand(()))) * min(h, w)
        outside = (yy - (y + sh / 2)) ** 2 + (xx - (x + sw / 2)) ** 2 > radius**2
        canvas[:, outside] = 0
        placed[:, outside] = 0
    return canvas, placed


def colour_cast(image: torch.Tensor) -> torch.Tensor:
    """A white-balance shift (each channel's gain 0.75-1.25), or in one case of five the green
    filter's look (the green channel as a green-tinted grey picture)."""
    if torch.rand(()) < 0.2:
        green = image[1:2].float()
        return (green * torch.tensor([0.55, 1.0, 0.65]).view(3, 1, 1)).clamp_(0, 255).to(torch.uint8)
    gains = 0.75 + 0.5 * torch.rand(3, 1, 1)
    return (image.float() * gains).clamp_(0, 255).to(torch.uint8)


# colour maps a recoloured negative's lightness may be drawn through: dark-to-light, pink, red,
# skin-like and many-hued ones (matplotlib's names)
COLOUR_MAPS = (
    "viridis magma plasma cividis pink copper autumn spring summer winter cool hot bone Reds RdPu Oranges PuRd "
    "twilight hsv terrain cubehelix"
).split()


@cache
def colour_map_tables() -> torch.Tensor:
    """COLOUR_MAPS as lookup tables, (maps, 256, 3) uint8, each also reversed."""
    from matplotlib import colormaps

    ramp = np.linspace(0, 1, 256)
    tables = [colormaps[name](ramp)[:, :3] for name in COLOUR_MAPS]
    tables += [table[::-1] for table in tables]
    return torch.from_numpy((255 * np.stack(tables)).round().astype(np.uint8))


def recolour(image: torch.Tensor) -> torch.Tensor:
    """A non-colposcopy picture in other colours: in half the cases its lightness drawn through a
    random colour map, otherwise its hues turned by a random angle and its saturation scaled by
    0.5-2. The library pictures are few and mostly grey or skin-tinted; a colour portrait, a pink
    flower or a blue product photo must come back "no cervix" too."""
    if torch.rand(()) < 0.5:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
        lightness = (image.float() * weights).sum(0).round().clamp_(0, 255).long()
        tables = colour_map_tables()
        return tables[int(torch.randint(len(tables), ()))][lightness].permute(2, 0, 1).contiguous()
    turned = v2.functional.adjust_hue(image, float(torch.rand(())) - 0.5)
    return v2.functional.adjust_saturation(turned, 0.5 + 1.5 * float(torch.rand(())))


class CervixDataset(Dataset):
    """(image float [0,1] 3xSxS, mask float 1xSxS) pairs from preloaded arrays.

    ``images``/``masks`` may be stored larger than ``size`` (room for crops); without
    ``augment`` they are only resized to ``size``. ``zoom_out`` and ``colour_cast``: how often
    (0-1) those augmentations (above) are applied, before the others. ``zoomed`` (``load_zoomed``,
    the first images' second-look views, same order) replaces an image ``zoom_in`` (0-1) of the time.
    The images whose indices are in ``negatives`` (the made-up non-colposcopy pictures) are
    ``recolour``-ed (above) ``recolour`` (0-1) of the time.
    """

    def __init__(
        self,
        images: np.ndarray,
        masks: np.ndarray,
        size: int,
        augment: bool,
        zoom_out: float = 0.0,
        colour_cast: float = 0.0,
        zoomed: tuple[np.ndarray, np.ndarray] | None = None,
        zoom_in: float = 0.0,
        negatives: range = range(0),
        recolour: float = 0.0,
    ) -> None:
        self.images = torch.from_numpy(images).permute(0, 3, 1, 2)  # N,3,H,W uint8
        self.masks = torch.from_numpy(masks)[:, None].to(torch.uint8)
        self.transform = train_transform(size) if augment else v2.Resize((size, size), antialias=True)
        self.zoom_out, self.colour_cast = (zoom_out, colour_cast) if augment else (0.0, 0.0)
        self.zoom_in = zoom_in if augment and zoomed is not None else 0.0
        if self.zoom_in:
            self.zoomed_images = torch.from_numpy(zoomed[0]).permute(0, 3, 1, 2)
            self.zoomed_masks = torch.from_numpy(zoomed[1])[:, None].to(torch.uint8)
        self.negatives = negatives
        self.recolour = recolour if augment else 0.0

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = self.images[i], self.masks[i]
        if self.zoom_in and i < len(self.zoomed_images) and torch.rand(()) < self.zoom_in:
            image, mask = self.zoomed_images[i], self.zoomed_masks[i]
        if self.zoom_out and torch.rand(()) < self.zoom_out:
            image, mask = zoom_out(image, mask)
        if self.colour_cast and torch.rand(()) < self.colour_cast:
            image = colour_cast(image)
        if self.recolour and i in self.negatives and torch.rand(()) < self.recolour:
            image = recolour(image)
        image, mask = self.transform(tv_tensors.Image(image), tv_tensors.Mask(mask))
        return image.float().div_(255.0), mask.float()
