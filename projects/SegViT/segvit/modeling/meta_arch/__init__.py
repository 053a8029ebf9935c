"""Meta-architectures (SegViT, SETR-naive baseline, RSSeg-R) and test-time inference modes."""

from .inference import InferenceConfig
from .rsseg_r import RSSegR
from .segvit import SegViT
from .setr import SETR
