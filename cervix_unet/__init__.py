"""cervix-unet: find the cervix in a colposcopy photograph and cut it out.

Public API::

    from cervix_unet import CervixUNet, Segmenter, SegmentOptions, InvalidImageError
"""
from .errors import InvalidImageError
from .image_io import load_image
from .model import CervixUNet
from .pipeline import SegmentationResult, Segmenter, SegmentOptions
from .render import to_png

__all__ = ["CervixUNet", "InvalidImageError", "SegmentOptions", "SegmentationResult", "Segmenter", "load_image", "to_png"]
__version__ = "0.1.0"
