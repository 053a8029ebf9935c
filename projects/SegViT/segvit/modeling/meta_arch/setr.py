"""Per-pixel classification meta-architecture: SETR-naive (SegViT Tables 4, 8), Segmenter and
DEPICT.

Backbone -> decode head returning class logits (B, K, h, w) -> bilinear upsampling to the padded
image -> pixel cross-entropy (training) or class probabilities (inference). Normalisation, padding,
the inference modes (whole / slide / ms_flip) and the output format are those of
:class:`~segvit.modeling.meta_arch.segvit.SegViT` (shared base class), so the same trainer,
evaluator and tools apply.

Test time as the official code: slide windows average the window *logits* and one softmax follows
(mmseg ``EncoderDecoder.slide_inference`` + ``inference`` for SETR; ``rstrudel/segmenter:
segm/model/utils.py:merge_windows`` for Segmenter, which DEPICT reuses); multi-scale + flip
averages each pass's probabilities (mmseg ``aug_test``; Segmenter ``inference``).

Registered as ``PerPixelSegmentor`` and, for existing yacs configs, ``SETR``.
"""

from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY
from detectron2.modeling.backbone import Backbone
from torch import nn

from .base import SegmentorBase
from .inference import InferenceConfig

__all__ = ["PerPixelSegmentor", "SETR"]


@META_ARCH_REGISTRY.register()
class PerPixelSegmentor(SegmentorBase):
    """Backbone + per-pixel classifier head trained with cross-entropy (SETR, Segmenter, DEPICT).

    Training returns ``{"loss_sem_seg": weighted CE}`` (ignored and padded pixels excluded);
    inference returns ``[{"sem_seg": (K, height, width)}]`` class probabilities: the softmax of
    the logits (upsampled to the padded image, averaged over slide windows, resized to the output
    size), or in ms_flip the mean of each pass's probabilities.
    """

    softmax_output = True

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
        """Class logits (B, K, H, W) for normalised images (B, 3, H, W), any H and W: the scores
        that slide windows average (the softmax comes after the merge, see the module doc)."""
        return self.forward_logits(images)[..., : images.shape[-2], : images.shape[-1]]


# The old name, for yacs (MODEL.META_ARCHITECTURE: SETR) and LazyConfig files. fvcore's Registry
# registers under ``__name__`` only; ``_do_register`` adds a second name for one class.
META_ARCH_REGISTRY._do_register("SETR", PerPixelSegmentor)
SETR = PerPixelSegmentor
