"""cervix-unet: find the cervix in a colposcopy photograph and cut it out.

Public API::

    from cervix_unet import CervixUNet, Segmenter, SegmentOptions, InvalidImageError

``CervixUNet`` (the network) needs PyTorch and is imported on first use; ``Segmenter`` runs
on the ONNX export without it.
"""

from .errors import InvalidImageError
from .image_io import load_image
from .pipeline import SegmentationResult, Segmenter, SegmentOptions
from .render import to_png

__all__ = [
    "CervixUNet",
    "InvalidImageError",
    "SegmentOptions",
    "SegmentationResult",
    "Segmenter",
    "load_image",
    "to_png",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> type:
    """``CervixUNet`` on first use, so that an install without PyTorch still imports the package."""
    if name == "CervixUNet":
        from .model import CervixUNet

        return CervixUNet
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
