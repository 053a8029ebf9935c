"""Models: backbones, decode heads, losses and meta-architectures (registered on import)."""
from .backbone.vit import ViT
from .heads.atm_head import ATMHead
from .losses.atm_criterion import ATMCriterion
from .meta_arch.segvit import SegViT
