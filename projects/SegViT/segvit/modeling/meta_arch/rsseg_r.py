"""RSSeg-R meta-architecture: the per-pixel one (:class:`PerPixelSegmentor`) with RSSeg-R's
auxiliary losses.

Inference is the per-pixel one's: the head's logits (B, K, h', w') are upsampled bilinearly to the
padded image and soft-maxed after any window merge; only :meth:`RSSegRHead.forward` runs, so no
training-only module is in the graph (and exported models hold none of their outputs). Training
runs :meth:`RSSegRHead.forward_train` and :class:`RSSegRCriterion`. With ``stem="conv"`` the head
also reads the normalised padded image.
"""

from typing import Dict

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY
from torch import nn

from ..losses.rsseg_r_losses import RSSegRCriterion
from .setr import PerPixelSegmentor

__all__ = ["RSSegR"]


@META_ARCH_REGISTRY.register()
class RSSegR(PerPixelSegmentor):
    """Backbone + :class:`RSSegRHead` + :class:`RSSegRCriterion` (a reconstruction of RSSeg)."""

    @configurable
    def __init__(self, *, criterion: nn.Module, **kwargs):
        """
        Args:
            criterion: ``criterion(head.forward_train(...), targets) -> dict of losses``.
            kwargs: see :class:`PerPixelSegmentor` (``loss_weight`` is unused: the criterion
                weighs).
        """
        super().__init__(**kwargs)
        self.criterion = criterion

    @classmethod
    def from_config(cls, cfg):
        args = cls.base_args_from_cfg(cfg)
        loss = cfg.MODEL.RSSEG_R.LOSS
        args["criterion"] = RSSegRCriterion(
            num_classes=cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
            ignore_value=cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE,
            main_weight=loss.MAIN_WEIGHT,
            assign_weight=loss.ASSIGN_WEIGHT,
            region_weight=loss.REGION_WEIGHT,
            aux_weight=loss.AUX_WEIGHT,
            region_min_pixels=loss.REGION_MIN_PIXELS,
            assign_stride=loss.ASSIGN_STRIDE,
        )
        return args

    def _head_inputs(self, images: torch.Tensor):
        image = images if getattr(self.head, "needs_image", False) else None
        return self.backbone(images), image

    def forward_logits(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits (B, K, Hp, Wp) for normalised images (B, 3, H, W), padded here."""
        padded = self.pad(images)
        logits = self.head(*self._head_inputs(padded))  # (B, K, h', w')
        return F.interpolate(logits, size=padded.shape[-2:], mode="bilinear", align_corners=False)

    def losses(self, images: torch.Tensor, targets: torch.Tensor) -> Dict[str, torch.Tensor]:
        """RSSeg-R's weighted losses for a padded batch (B, 3, Hp, Wp), (B, Hp, Wp)."""
        outputs = self.head.forward_train(*self._head_inputs(images))
        return self.criterion(outputs, targets)
