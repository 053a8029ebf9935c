"""Models: backbones, decode heads, losses and meta-architectures (registered on import)."""

from .backbone import ConvStem, ShrunkViT, ViT
from .heads import ATMHead, ATMSingleHead, QUATMHead, SETRNaiveHead
from .losses import ATMCriterion
from .meta_arch import SETR, SegViT
