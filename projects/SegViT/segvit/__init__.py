"""SegViT on Detectron2: plain-ViT semantic segmentation with the Attention-to-Mask decoder.

Importing the package registers the backbones, heads and meta-architectures in Detectron2's
registries and the built-in synthetic dataset in ``DatasetCatalog``.
"""

from . import data, modeling  # noqa: F401  (registration side effects)
from .config import add_segvit_config  # noqa: F401

__version__ = "0.1.0"
