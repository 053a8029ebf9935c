"""SegViT on Detectron2: plain-ViT semantic segmentation with the Attention-to-Mask decoder.

Importing the package registers the backbones, heads and meta-architectures in Detectron2's
registries and the built-in synthetic dataset in ``DatasetCatalog``.
"""

from .utils.compat import install_fast_eval_api_fallback

install_fast_eval_api_fallback()  # lets maskformer2 import without Detectron2's compiled ops

from . import data, modeling  # noqa: F401,E402  (registration side effects)
from .config import add_segvit_config  # noqa: F401,E402

__version__ = "0.1.0"
