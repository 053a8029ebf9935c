"""SegViT on Detectron2: plain-ViT semantic segmentation with the Attention-to-Mask decoder.

Importing the package registers the backbones, heads and meta-architectures in Detectron2's
registries and the built-in synthetic dataset in ``DatasetCatalog``.
"""

from .warning_filters import install_warning_filters

install_warning_filters()  # first: Detectron2 and fvcore warn while they are imported

from . import data, modeling  # noqa: F401,E402  (registration side effects)
from .config import add_segvit_config  # noqa: F401,E402

__version__ = "0.1.0"
