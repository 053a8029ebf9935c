"""Meta-architectures and test-time inference modes."""
from .inference import InferenceConfig
from .segvit import SegViT
