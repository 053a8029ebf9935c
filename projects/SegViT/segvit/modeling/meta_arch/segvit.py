"""The SegViT meta-architecture (paper section 3, Fig. 2): backbone -> ATM head -> masks.

The model normalises and pads the images, runs a backbone and a decode head that returns
per-query class logits and mask logits, and either computes the ATM losses (training) or turns
the outputs into per-class scores (inference; MaskFormer-style combination).
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

from ..losses.atm_criterion import ATMCriterion
from .inference import InferenceConfig, run_inference

__all__ = ["SegViT", "combine_masks_and_classes"]


def combine_masks_and_classes(pred_logits: torch.Tensor, pred_masks: torch.Tensor) -> torch.Tensor:
    """Per-class scores from ATM outputs, summed over all queries (MaskFormer-style).

    Args:
        pred_logits: (B, Q, K+1) class logits; the last column is "no object".
        pred_masks: (B, Q, H, W) mask logits.
    Returns:
        (B, K, H, W): sum_q softmax(logits)[q, k] * sigmoid(mask)[q].
    """
    class_probs = pred_logits.softmax(-1)[..., :-1]  # (B, Q, K)
    mask_probs = pred_masks.sigmoid()  # (B, Q, H, W)
    return torch.einsum("bqk,bqhw->bkhw", class_probs, mask_probs)


@META_ARCH_REGISTRY.register()
class SegViT(nn.Module):
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
            backbone: a Detectron2 backbone returning the feature maps the head reads.
            head: decode head; ``head(features)`` returns ``{"pred_logits": (B, Q, K+1),
                "pred_masks": (B, Q, h, w), "aux_outputs": [...]}``.
            criterion: ``criterion(outputs, targets (B, H, W)) -> {name: weighted loss}``.
            pixel_mean, pixel_std: per-channel normalisation in the input's channel order.
            size_divisibility: pad images to a multiple of this (default: the backbone's).
            ignore_value: label value of ignored pixels (and of the padding of targets).
            inference: how test images are processed (whole / slide / ms_flip).
        """
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.criterion = criterion
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)
        if size_divisibility is None:
            size_divisibility = max(backbone.size_divisibility, 1)
        self.size_divisibility = size_divisibility
        self.ignore_value = ignore_value
        self.inference = inference if inference is not None else InferenceConfig()

    @classmethod
    def from_config(cls, cfg):
        backbone = build_backbone(cfg)
        head = build_sem_seg_head(cfg, backbone.output_shape())
        loss, inf = cfg.MODEL.SEGVIT.LOSS, cfg.MODEL.SEGVIT.INFERENCE
        criterion = ATMCriterion(
            num_classes=cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
            no_object_weight=loss.NO_OBJECT_WEIGHT,
            ce_weight=loss.CE_WEIGHT,
            focal_weight=loss.FOCAL_WEIGHT,
            dice_weight=loss.DICE_WEIGHT,
            ignore_value=cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE,
            ignore_mode=loss.IGNORE_MODE,
        )
        return {
            "backbone": backbone,
            "head": head,
            "criterion": criterion,
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
            "ignore_value": cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE,
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
            training: dict of weighted losses; inference: list of {"sem_seg": (K, height, width)}.
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

    def _losses(self, images: List[torch.Tensor], batched_inputs) -> Dict[str, torch.Tensor]:
        if "sem_seg" not in batched_inputs[0]:
            raise ValueError("training inputs need a 'sem_seg' target; use a semantic-seg mapper")
        padded = ImageList.from_tensors(images, self.size_divisibility)
        targets = ImageList.from_tensors(
            [x["sem_seg"].to(self.device) for x in batched_inputs],
            self.size_divisibility,
            pad_value=self.ignore_value,
        ).tensor  # (B, Hp, Wp), padding = ignore
        outputs = self.head(self.backbone(padded.tensor))
        return self.criterion(outputs, targets)

    def forward_outputs(self, images: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Raw head outputs for normalised images (B, 3, H, W), padded here to the divisibility.

        Returns the head's dict with ``pred_masks`` upsampled to the padded input size.
        """
        padded = ImageList.from_tensors(list(images), self.size_divisibility).tensor
        outputs = self.head(self.backbone(padded))
        masks = F.interpolate(
            outputs["pred_masks"], size=padded.shape[-2:], mode="bilinear", align_corners=False
        )
        return {"pred_logits": outputs["pred_logits"], "pred_masks": masks}

    def predict_scores(self, images: torch.Tensor) -> torch.Tensor:
        """Per-class scores (B, K, H, W) for normalised images (B, 3, H, W), any H and W."""
        outputs = self.forward_outputs(images)
        scores = combine_masks_and_classes(outputs["pred_logits"], outputs["pred_masks"])
        return scores[..., : images.shape[-2], : images.shape[-1]]
