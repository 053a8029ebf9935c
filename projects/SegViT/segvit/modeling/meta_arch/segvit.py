"""The SegViT meta-architecture (paper section 3, Fig. 2): backbone -> ATM head -> masks.

The model normalises and pads the images, runs a backbone and a decode head that returns
per-query class logits and mask logits, and either computes the ATM losses (training) or turns
the outputs into per-class scores (inference; MaskFormer-style combination).

At inference the combination is the official one (upsample the mask logits to the input, sigmoid,
class probabilities without no-object, sum over queries; ``zbwxp/SegVit:
decode_heads/atm_head.py:ATMHead.semantic_inference``) computed in bands of rows
(:func:`~.postprocess.upsample_and_combine`).
"""

from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY
from detectron2.modeling.backbone import Backbone
from torch import nn

from ..losses.atm_criterion import ATMCriterion
from .base import SegmentorBase
from .inference import InferenceConfig
from .postprocess import upsample_and_combine

__all__ = ["SegViT"]


@META_ARCH_REGISTRY.register()
class SegViT(SegmentorBase):
    """SegViT: a plain (or Shrunk) ViT backbone with an Attention-to-Mask decode head.

    Training returns the criterion's loss dict; inference returns ``[{"sem_seg": (K, H, W)}]`` at
    each input's original size (``height``/``width`` of the input dict, as Detectron2 expects).
    """

    @configurable
    def __init__(
        self,
        *,
        backbone: Backbone,
        head: nn.Module,
        criterion: nn.Module,
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
        size_divisibility: Optional[int] = None,
        ignore_value: int = 255,
        inference: Optional[InferenceConfig] = None,
    ):
        """
        Args:
            head: decode head; ``head(features)`` returns ``{"pred_logits": (B, Q, K+1),
                "pred_masks": (B, Q, h, w), "aux_outputs": [...]}``.
            criterion: ``criterion(outputs, targets (B, H, W)) -> {name: weighted loss}``.
            others: see :class:`~segvit.modeling.meta_arch.base.SegmentorBase`.
        """
        super().__init__(
            backbone=backbone,
            head=head,
            pixel_mean=pixel_mean,
            pixel_std=pixel_std,
            size_divisibility=size_divisibility,
            ignore_value=ignore_value,
            inference=inference,
        )
        self.criterion = criterion

    @classmethod
    def from_config(cls, cfg):
        loss = cfg.MODEL.SEGVIT.LOSS
        criterion = ATMCriterion(
            num_classes=cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
            no_object_weight=loss.NO_OBJECT_WEIGHT,
            ce_weight=loss.CE_WEIGHT,
            focal_weight=loss.FOCAL_WEIGHT,
            dice_weight=loss.DICE_WEIGHT,
            ignore_value=cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE,
            ignore_mode=loss.IGNORE_MODE,
            mask_classes=loss.MASK_CLASSES,
            pixel_ce_weight=loss.PIXEL_CE_WEIGHT,
            loss_stride=loss.LOSS_STRIDE,
            num_points=loss.NUM_POINTS,
            oversample_ratio=loss.OVERSAMPLE_RATIO,
            importance_sample_ratio=loss.IMPORTANCE_SAMPLE_RATIO,
        )
        return {**cls.base_args_from_cfg(cfg), "criterion": criterion}

    def losses(self, images: torch.Tensor, targets: torch.Tensor) -> Dict[str, torch.Tensor]:
        """ATM losses of a padded batch: images (B, 3, Hp, Wp), targets (B, Hp, Wp)."""
        return self.criterion(self.head(self.backbone(images)), targets)

    def head_outputs(self, images: torch.Tensor) -> Dict:
        """Final head outputs for normalised images (B, 3, H, W), padded here to the divisibility.

        Returns ``{"pred_logits": (B, Q, K+1), "pred_masks": (B, Q, h, w) at feature resolution,
        "padded_size": (Hp, Wp)}``.
        """
        padded = self.pad(images)
        outputs = self.head(self.backbone(padded))
        return {
            "pred_logits": outputs["pred_logits"],
            "pred_masks": outputs["pred_masks"],
            "padded_size": tuple(padded.shape[-2:]),
        }

    def forward_outputs(self, images: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Head outputs with ``pred_masks`` upsampled to the padded input size (B, Q, Hp, Wp)."""
        outputs = self.head_outputs(images)
        masks = F.interpolate(
            outputs["pred_masks"], size=outputs["padded_size"], mode="bilinear", align_corners=False
        )
        return {"pred_logits": outputs["pred_logits"], "pred_masks": masks}

    def predict_scores(self, images: torch.Tensor) -> torch.Tensor:
        """Per-class scores (B, K, H, W) for normalised images (B, 3, H, W), any H and W."""
        outputs = self.head_outputs(images)
        return upsample_and_combine(
            outputs["pred_logits"], outputs["pred_masks"], outputs["padded_size"], images.shape[-2:]
        )
