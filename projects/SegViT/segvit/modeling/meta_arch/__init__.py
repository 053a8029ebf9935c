"""Meta-architectures (SegViT, SETR-naive baseline) and test-time inference modes."""

from .inference import InferenceConfig
from .segvit import SegViT
from .setr import SETR
