"""Meta-architectures (SegViT; the per-pixel one of SETR-naive, Segmenter and DEPICT; RSSeg-R, a
reconstruction), their shared base, and test-time inference modes."""

from .base import SegmentorBase
from .inference import InferenceConfig
from .rsseg_r import RSSegR
from .segvit import SegViT
from .setr import SETR, PerPixelSegmentor
