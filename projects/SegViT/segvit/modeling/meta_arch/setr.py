"""Per-pixel classification meta-architecture for the SETR-naive baseline (SegViT Tables 4, 8).

Backbone -> decode head returning class logits (B, K, h, w) -> bilinear upsampling to the padded
image -> pixel cross-entropy (training) or softmax scores (inference). Normalisation, padding,
the inference modes (whole / slide / ms_flip) and the output format are those of
:class:`~segvit.modeling.meta_arch.segvit.SegViT` (shared base class), so the same trainer,
evaluator and tools apply.
"""

from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY
from detectron2.modeling.backbone import Backbone
from torch import nn

from .base import SemanticSegmentor
from .inference import InferenceConfig

__all__ = ["SETR"]


@META_ARCH_REGISTRY.register()
class SETR(SemanticSegmentor):
    """Backbone + per-pixel classifier head trained with cross-entropy (SETR, CVPR 2021).

    Training returns ``{"loss_sem_seg": weighted CE}`` (ignored and padded pixels excluded);
    inference returns ``[{"sem_seg": (K, height, width)}]`` class probabilities (softmax of the
    logits upsampled to the padded image; slide windows average probabilities).
    """

    predicts_probabilities = True  # ms_flip averages these as they are (no second softmax)

    @configurable
    def __init__(
        self,
        *,
        backbone: Backbone,
        head: nn.Module,
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
        size_divisibility: Optional[int] = None,
        ignore_value: int = 255,
        loss_weight: float = 1.0,
        inference: Optional[InferenceConfig] = None,
    ):
        """
        Args:
            head: ``head(features) -> (B, K, h, w)`` class logits at any resolution.
            loss_weight: weight of the cross-entropy loss.
            others: see :class:`~segvit.modeling.meta_arch.base.SemanticSegmentor`.
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
        self.loss_weight = loss_weight

    @classmethod
    def from_config(cls, cfg):
        return {**cls.base_args_from_cfg(cfg), "loss_weight": cfg.MODEL.SEM_SEG_HEAD.LOSS_WEIGHT}

    def forward_logits(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits (B, K, Hp, Wp) for normalised images (B, 3, H, W), padded here to the
        divisibility and upsampled (bilinear) to the padded size."""
        padded = self.pad(images)
        logits = self.head(self.backbone(padded))  # (B, K, h, w)
        return F.interpolate(logits, size=padded.shape[-2:], mode="bilinear", align_corners=False)

    def losses(self, images: torch.Tensor, targets: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Pixel cross-entropy at the padded label size (as mmseg's loss), ignore excluded."""
        logits = self.head(self.backbone(images))  # (B, K, h, w)
        logits = F.interpolate(
            logits, size=targets.shape[-2:], mode="bilinear", align_corners=False
        )  # (B, K, Hp, Wp)
        if (targets != self.ignore_value).any():
            loss = F.cross_entropy(logits.float(), targets.long(), ignore_index=self.ignore_value)
        else:  # every pixel ignored: a zero loss that keeps the graph (mean over none is NaN)
            loss = logits.sum() * 0.0
        return {"loss_sem_seg": loss * self.loss_weight}

    def predict_scores(self, images: torch.Tensor) -> torch.Tensor:
        """Class probabilities (B, K, H, W) for normalised images (B, 3, H, W), any H and W."""
        scores = self.forward_logits(images).softmax(dim=1)
        return scores[..., : images.shape[-2], : images.shape[-1]]
