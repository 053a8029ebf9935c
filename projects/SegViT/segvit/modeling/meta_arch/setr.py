"""Per-pixel classification meta-architecture for the SETR-naive baseline (SegViT Tables 4, 8).

Backbone -> decode head returning class logits (B, K, h, w) -> bilinear upsampling to the padded
image -> pixel cross-entropy (training) or softmax scores (inference). Normalisation, padding,
the inference modes (whole / slide / ms_flip) and the output format are those of
:class:`~segvit.modeling.meta_arch.segvit.SegViT`, so the same trainer, evaluator and tools apply.
"""

from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, build_backbone, build_sem_seg_head
from detectron2.modeling.backbone import Backbone
from detectron2.modeling.postprocessing import sem_seg_postprocess
from detectron2.structures import ImageList
from torch import nn

from .inference import InferenceConfig, run_inference

__all__ = ["SETR"]


@META_ARCH_REGISTRY.register()
class SETR(nn.Module):
    """Backbone + per-pixel classifier head trained with cross-entropy (SETR, CVPR 2021).

    Training returns ``{"loss_sem_seg": weighted CE}`` (ignored and padded pixels excluded);
    inference returns ``[{"sem_seg": (K, height, width)}]`` class probabilities (softmax of the
    logits upsampled to the padded image; slide windows average probabilities).
    """

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
            backbone: a Detectron2 backbone returning the feature maps the head reads.
            head: ``head(features) -> (B, K, h, w)`` class logits at any resolution.
            pixel_mean, pixel_std: per-channel normalisation in the input's channel order.
            size_divisibility: pad images to a multiple of this (default: the backbone's).
            ignore_value: label value of ignored pixels (and of the padding of targets).
            loss_weight: weight of the cross-entropy loss.
            inference: how test images are processed (whole / slide / ms_flip).
        """
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)
        if size_divisibility is None:
            size_divisibility = max(backbone.size_divisibility, 1)
        self.size_divisibility = size_divisibility
        self.ignore_value = ignore_value
        self.loss_weight = loss_weight
        self.inference = inference if inference is not None else InferenceConfig()

    @classmethod
    def from_config(cls, cfg):
        backbone = build_backbone(cfg)
        inf = cfg.MODEL.SEGVIT.INFERENCE
        return {
            "backbone": backbone,
            "head": build_sem_seg_head(cfg, backbone.output_shape()),
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
            "ignore_value": cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE,
            "loss_weight": cfg.MODEL.SEM_SEG_HEAD.LOSS_WEIGHT,
            "inference": InferenceConfig(
                mode=inf.MODE,
                crop_size=tuple(inf.CROP_SIZE),
                stride=tuple(inf.STRIDE),
                scales=tuple(inf.SCALES),
                flip=inf.FLIP,
            ),
        }

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def forward(self, batched_inputs: List[Dict[str, torch.Tensor]]):
        """
        Args:
            batched_inputs: Detectron2 dicts with "image" (3, H, W) in the model's channel order,
                "sem_seg" (H, W) long targets (training), "height"/"width" (output size).

        Returns:
            training: ``{"loss_sem_seg": scalar}``; inference: list of
            ``{"sem_seg": (K, height, width)}``.
        """
        images = [self._normalize(x["image"]) for x in batched_inputs]
        if self.training:
            return self._losses(images, batched_inputs)
        results = []
        for image, inputs in zip(images, batched_inputs):
            scores = run_inference(image, self.predict_scores, self.inference)
            height = inputs.get("height", image.shape[-2])
            width = inputs.get("width", image.shape[-1])
            results.append(
                {"sem_seg": sem_seg_postprocess(scores, image.shape[-2:], height, width)}
            )
        return results

    def _normalize(self, image: torch.Tensor) -> torch.Tensor:
        return (image.to(self.device).float() - self.pixel_mean) / self.pixel_std

    def forward_logits(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits (B, K, Hp, Wp) for normalised images (B, 3, H, W), padded here to the
        divisibility and upsampled (bilinear) to the padded size."""
        padded = ImageList.from_tensors(list(images), self.size_divisibility).tensor
        logits = self.head(self.backbone(padded))  # (B, K, h, w)
        return F.interpolate(logits, size=padded.shape[-2:], mode="bilinear", align_corners=False)

    def _losses(self, images: List[torch.Tensor], batched_inputs) -> Dict[str, torch.Tensor]:
        if "sem_seg" not in batched_inputs[0]:
            raise ValueError("training inputs need a 'sem_seg' target; use a semantic-seg mapper")
        padded = ImageList.from_tensors(images, self.size_divisibility).tensor
        targets = ImageList.from_tensors(
            [x["sem_seg"].to(self.device) for x in batched_inputs],
            self.size_divisibility,
            pad_value=self.ignore_value,
        ).tensor  # (B, Hp, Wp), padding = ignore
        logits = self.head(self.backbone(padded))  # (B, K, h, w)
        logits = F.interpolate(
            logits, size=targets.shape[-2:], mode="bilinear", align_corners=False
        )  # (B, K, Hp, Wp), as mmseg's loss at label resolution
        if (targets != self.ignore_value).any():
            loss = F.cross_entropy(logits.float(), targets.long(), ignore_index=self.ignore_value)
        else:  # every pixel ignored: a zero loss that keeps the graph (mean over none is NaN)
            loss = logits.sum() * 0.0
        return {"loss_sem_seg": loss * self.loss_weight}

    def predict_scores(self, images: torch.Tensor) -> torch.Tensor:
        """Class probabilities (B, K, H, W) for normalised images (B, 3, H, W), any H and W."""
        scores = self.forward_logits(images).softmax(dim=1)
        return scores[..., : images.shape[-2], : images.shape[-1]]
