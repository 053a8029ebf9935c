"""Models: backbones, decode heads, losses and meta-architectures (registered on import)."""

from .backbone import ConvStem, ShrunkViT, ViT
from .heads import (
    ATMHead,
    ATMSingleHead,
    ATMSingleStageHead,
    DEPICTHead,
    QUATMHead,
    SegmenterMaskHead,
    SETRNaiveHead,
)
from .losses import ATMCriterion
from .meta_arch import SETR, PerPixelSegmentor, SegmentorBase, SegViT
