"""The SegViT meta-architecture (paper section 3, Fig. 2): backbone -> ATM head -> masks.

The model normalises and pads the images, runs a backbone and a decode head that returns
per-query class logits and mask logits, and either computes the ATM losses (training) or turns
the outputs into per-class scores (inference; MaskFormer-style combination).

At inference the combination is the official one (upsample the mask logits to the input, sigmoid,
class probabilities without no-object, sum over queries) computed in bands of rows
(:func:`upsample_and_combine`): no (Q, H, W) temporary is materialised, padded rows and columns are
never computed, and each band's sigmoid masks feed one matmul straight into the output.
"""

from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY
from detectron2.modeling.backbone import Backbone
from torch import nn

from ..losses.atm_criterion import ATMCriterion
from .base import SemanticSegmentor
from .inference import InferenceConfig
from .postprocess import is_traced, row_bands, upsample_rows

__all__ = ["SegViT", "combine_masks_and_classes", "upsample_and_combine"]

# Float elements of one band of upsampled masks in upsample_and_combine (Q x rows x W): 4M = 16 MB,
# within the last-level cache, and few bands (10 at 512x512), so few thread-pool synchronisations
# (3 ops per band), which cost much on shared cores.
COMBINE_BAND_ELEMENTS = 1 << 22


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


def upsample_and_combine(
    pred_logits: torch.Tensor,
    pred_masks: torch.Tensor,
    padded_size: Tuple[int, int],
    image_size: Tuple[int, int],
    band_elements: int = COMBINE_BAND_ELEMENTS,
) -> torch.Tensor:
    """Per-class scores of the unpadded image from low-resolution ATM outputs.

    The same numbers (up to float rounding, about 1e-7) as the straightforward computation::

        masks = F.interpolate(pred_masks, padded_size, mode="bilinear", align_corners=False)
        combine_masks_and_classes(pred_logits, masks)[..., :H, :W]

    but band by band over output rows: upsample the band's mask logits (:func:`upsample_rows`),
    sigmoid in place, and one (K x Q) @ (Q x rows*W) matmul written into the output's rows. The
    combination is linear in the sigmoid masks, so rows are independent; rows and columns of the
    padding, cropped away afterwards, are never computed. When traced (fvcore's FLOP count, ONNX,
    TorchScript) the straightforward graph is used: the same matmul FLOPs in one einsum.

    Args:
        pred_logits: (B, Q, K+1) class logits; the last column is "no object".
        pred_masks: (B, Q, h, w) mask logits at feature resolution.
        padded_size: (Hp, Wp) the size the masks are upsampled to (the padded input).
        image_size: (H, W) <= (Hp, Wp), the unpadded input: the output size.
        band_elements: float elements of one band of upsampled masks.
    Returns:
        (B, K, H, W) scores.
    """
    if is_traced():  # no int(): a traced size may be symbolic (ONNX --dynamic)
        masks = F.interpolate(pred_masks, size=padded_size, mode="bilinear", align_corners=False)
        return combine_masks_and_classes(pred_logits, masks)[..., : image_size[0], : image_size[1]]
    height, width = int(image_size[0]), int(image_size[1])
    batch, queries = pred_masks.shape[:2]
    scores = pred_masks.new_empty((batch, pred_logits.shape[-1] - 1, height, width))
    # (B, K, Q), in the output's dtype: under autocast softmax returns float32 while the masks
    # may be bfloat16, and ``bmm(out=...)`` needs one dtype (autocast is off for that call)
    class_probs = pred_logits.softmax(-1)[..., :-1].transpose(1, 2).to(scores.dtype)
    flat = scores.view(batch, -1, height * width)  # (B, K, H*W)
    padded = (int(padded_size[0]), int(padded_size[1]))
    with torch.autocast(device_type=pred_masks.device.type, enabled=False):
        for start, stop in row_bands(height, band_elements // max(1, queries * padded[1])):
            masks = upsample_rows(pred_masks, padded, start, stop)[..., :width]  # (B, Q, rows, W)
            masks = masks.reshape(batch, queries, -1).sigmoid_().to(scores.dtype)  # (B, Q, rows*W)
            torch.bmm(class_probs, masks, out=flat[:, :, start * width : stop * width])
    return scores


@META_ARCH_REGISTRY.register()
class SegViT(SemanticSegmentor):
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
