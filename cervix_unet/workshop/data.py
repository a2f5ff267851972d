"""Labelled images for training: loaded once into memory, augmented on the fly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2
from tqdm import tqdm

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


class CervixDataset(Dataset):
    """(image float [0,1] 3xSxS, mask float 1xSxS) pairs from preloaded arrays.

    ``images``/``masks`` may be stored larger than ``size`` (room for crops); without
    ``augment`` they are only resized to ``size``.
    """

    def __init__(self, images: np.ndarray, masks: np.ndarray, size: int, augment: bool) -> None:
        self.images = torch.from_numpy(images).permute(0, 3, 1, 2)  # N,3,H,W uint8
        self.masks = torch.from_numpy(masks)[:, None].to(torch.uint8)
        self.transform = train_transform(size) if augment else v2.Resize((size, size), antialias=True)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = self.transform(tv_tensors.Image(self.images[i]), tv_tensors.Mask(self.masks[i]))
        return image.float().div_(255.0), mask.float()
