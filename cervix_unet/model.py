"""The classic U-Net of the original cervix-unet design, as a Hub-loadable PyTorch module."""

from __future__ import annotations

import os
from pathlib import Path

try:
    import torch
    from safetensors.torch import load_model
    from torch import nn
except ImportError as err:  # the runtime alone runs the ONNX export; the network itself needs PyTorch
    raise ImportError(
        "CervixUNet needs PyTorch, which is not installed: pip install 'cervix-unet[torch]' "
        "(Segmenter runs on the ONNX export without it)"
    ) from err
from huggingface_hub import PyTorchModelHubMixin, hf_hub_download

from .weights import SAFETENSORS_FILE

REPO_URL = "https://github.com/cervix-unet/cervix-unet"
IMAGE_MEAN = (0.485, 0.456, 0.406)  # ImageNet statistics: a standard, fixed input scaling
IMAGE_STD = (0.229, 0.224, 0.225)


def unet_flops(size: int, in_channels: int = 3, base_width: int = 32, depth: int = 4) -> float:
    """Floating-point operations (2 per multiply-add) of one forward pass at ``size`` x ``size``."""
    widths = [base_width * 2**i for i in range(depth + 1)]
    flops, prev = 0.0, in_channels
    for level, w in enumerate(widths):  # encoder: two 3x3 convs per level
        pixels = (size / 2**level) ** 2
        flops += 2 * 9 * pixels * (prev * w + w * w)
        prev = w
    for level in reversed(range(depth)):  # decoder: concat(up, skip) -> w, then w -> w
        pixels = (size / 2**level) ** 2
        w = widths[level]
        flops += 2 * 9 * pixels * ((widths[level + 1] + w) * w + w * w)
    flops += 2 * size * size * widths[0]  # 1x1 head
    return flops


def _double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    """Two 3x3 convolutions (padding 'same'), each followed by ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
    )


class CervixUNet(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="cervix-unet",
    tags=["image-segmentation", "segmentation", "medical-imaging", "colposcopy", "cervix", "u-net"],
    license="mit",
    repo_url=REPO_URL,
    pipeline_tag="image-segmentation",
):
    """U-Net: widths ``base * (1, 2, 4, 8, 16)``, max pooling down, nearest 2x upsampling
    plus skip concatenation up, a 1x1 head. ``forward`` returns logits of shape
    ``(N, out_channels, H, W)``; H and W must be multiples of 16 (the pipeline pads).

    Constructor arguments are plain ints so that ``PyTorchModelHubMixin`` stores them
    in ``config.json``; ``input_size`` is the square working resolution the pipeline resizes
    photos to (it does not change the network's weights).
    """

    depth = 4  # number of poolings; inputs must be multiples of 2**depth

    def __init__(
        self, in_channels: int = 3, out_channels: int = 1, base_width: int = 32, input_size: int = 128
    ) -> None:
        super().__init__()
        if input_size % 2**self.depth:
            raise ValueError(f"input_size must be a multiple of {2**self.depth}, not {input_size}")
        self.input_size = input_size  # the working resolution the weights were trained at
        widths = [base_width * 2**i for i in range(self.depth + 1)]  # 32-64-128-256-512
        self.down = nn.ModuleList()
        prev = in_channels
        for w in widths:
            self.down.append(_double_conv(prev, w))
            prev = w
        self.pool = nn.MaxPool2d(2)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.up = nn.ModuleList(_double_conv(widths[i + 1] + widths[i], widths[i]) for i in reversed(range(self.depth)))
        self.head = nn.Conv2d(widths[0], out_channels, kernel_size=1)
        # Input scaling is part of the model, so any caller feeds plain RGB in [0, 1].
        self.normalise = in_channels == 3
        self.register_buffer("mean", torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGE_STD).view(1, 3, 1, 1), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Glorot-uniform weights and zero biases (PyTorch's default init trains badly here)."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1], shape (N, 3, H, W) -> logits (N, out_channels, H, W)."""
        if self.normalise:
            x = (x - self.mean) / self.std
        skips = []
        for i, block in enumerate(self.down):
            x = block(x)
            if i < self.depth:
                skips.append(x)
                x = self.pool(x)
        for block in self.up:
            x = block(torch.cat([self.upsample(x), skips.pop()], dim=1))
        return self.head(x)

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None,
        cache_dir: str | Path | None,
        force_download: bool,
        local_files_only: bool,
        token: str | bool | None,
        map_location: str = "cpu",
        strict: bool = True,
        **model_kwargs,
    ) -> CervixUNet:
        """Load ``model.safetensors`` from a folder or a Hub repo: never a pickle, every weight
        required (the mixin's own loader would fall back to ``pytorch_model.bin`` and load
        non-strictly)."""
        model = cls(**model_kwargs)
        if os.path.isdir(model_id):
            model_file = os.path.join(model_id, SAFETENSORS_FILE)
            if not os.path.isfile(model_file):
                raise FileNotFoundError(f"{model_file} not found (weights load only from safetensors)")
        else:
            model_file = hf_hub_download(
                repo_id=model_id,
                filename=SAFETENSORS_FILE,
                revision=revision,
                cache_dir=cache_dir,
                force_download=force_download,
                token=token,
                local_files_only=local_files_only,
            )
        load_model(model, model_file, strict=strict, device=map_location)
        return model.eval()
