"""maskformer2's ``MaskFormer`` meta-architecture, adapted to our semantic-segmentation inputs.

One dataset mapper serves SegViT, MaskFormer and Mask2Former: it gives ``{"image", "sem_seg",
"height", "width"}``. maskformer2's model instead wants per-image ``"instances"`` made by its own
``MaskFormerSemanticDatasetMapper`` and silently trains on ``targets=None`` without them.
:class:`SemSegMaskFormer` derives the same targets from ``sem_seg`` on the fly (one binary mask per
class present, ignore pixels in no mask), and fails loudly on a loss it has no weight for, where
maskformer2 silently drops it. Evaluation is maskformer2's own semantic inference.
"""

import logging
from typing import Dict, List, Optional, Sequence

import torch
from detectron2.modeling.backbone import Backbone
from detectron2.structures import ImageList
from mask2former.maskformer_model import MaskFormer
from torch import Tensor, nn

__all__ = ["SemSegMaskFormer", "sem_seg_to_targets"]

logger = logging.getLogger(__name__)


def sem_seg_to_targets(
    sem_seg: Tensor, ignore_value: int, padded_size: Optional[Sequence[int]] = None
) -> Dict[str, Tensor]:
    """Per-class binary masks of one label map, as ``MaskFormerSemanticDatasetMapper`` makes them.

    Args:
        sem_seg: (H, W) integer labels; ``ignore_value`` marks pixels without a label.
        ignore_value: label of ignored pixels; they are background in every mask.
        padded_size: (H_pad, W_pad) >= (H, W): masks are zero-padded at the bottom and right to it.

    Returns:
        dict: ``labels`` (M,) int64, the M classes present in ascending order; ``masks``
        (M, H_pad, W_pad) bool, ``masks[m] = (sem_seg == labels[m])``.
    """
    labels = torch.unique(sem_seg)
    labels = labels[labels != ignore_value].to(torch.int64)
    h, w = sem_seg.shape[-2:]
    h_pad, w_pad = padded_size if padded_size is not None else (h, w)
    masks = torch.zeros((len(labels), h_pad, w_pad), dtype=torch.bool, device=sem_seg.device)
    masks[:, :h, :w] = sem_seg[None] == labels[:, None, None]
    return {"labels": labels, "masks": masks}


class SemSegMaskFormer(MaskFormer):
    """MaskFormer / Mask2Former (maskformer2's ``MaskFormer``) for semantic segmentation.

    Training returns maskformer2's weighted loss dict (``loss_ce``, ``loss_mask``, ``loss_dice``
    and their ``_i`` auxiliary copies); inference returns ``[{"sem_seg": (K, height, width)}]``,
    the per-class scores ``sum_q softmax(class)[q, k] * sigmoid(mask)[q]`` at each input's
    original size, as Detectron2's ``SemSegEvaluator`` expects.
    """

    def __init__(
        self,
        *,
        backbone: Backbone,
        sem_seg_head: nn.Module,
        criterion: nn.Module,
        num_queries: int,
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
        size_divisibility: int = 32,
        ignore_value: int = 255,
        sem_seg_postprocess_before_inference: bool = False,
    ):
        """
        Args:
            backbone (Backbone): returns the feature maps named in the head's ``input_shape``.
            sem_seg_head (nn.Module): maskformer2's ``MaskFormerHead`` (pixel decoder + transformer
                decoder); returns ``pred_logits`` (B, Q, K+1), ``pred_masks`` (B, Q, H/4, W/4)
                and ``aux_outputs``.
            criterion (nn.Module): a maskformer2 ``SetCriterion`` (see ``baselines.criterion``).
            num_queries (int): number of queries Q of the transformer decoder.
            pixel_mean, pixel_std (sequence[float]): per-channel normalisation, input channel order.
            size_divisibility (int): pad images to a multiple of this (32, the stride of res5).
            ignore_value (int): label of ignored pixels in ``sem_seg``.
            sem_seg_postprocess_before_inference (bool): resize masks to the output size before
                combining them with the classes (maskformer2's option; slower, more memory).
        """
        if size_divisibility < 1:
            raise ValueError(
                f"size_divisibility must be >= 1, got {size_divisibility}; use 32 for "
                "Swin / SimpleFeaturePyramid backbones."
            )
        super().__init__(
            backbone=backbone,
            sem_seg_head=sem_seg_head,
            criterion=criterion,
            num_queries=num_queries,
            object_mask_threshold=0.0,  # panoptic / instance inference only
            overlap_threshold=0.0,  # panoptic / instance inference only
            metadata=None,  # panoptic / instance inference only: the model reads no catalog
            size_divisibility=size_divisibility,
            sem_seg_postprocess_before_inference=sem_seg_postprocess_before_inference,
            pixel_mean=tuple(pixel_mean),
            pixel_std=tuple(pixel_std),
            semantic_on=True,
            panoptic_on=False,
            instance_on=False,
            test_topk_per_image=100,  # instance inference only
        )
        self.ignore_value = ignore_value

    def forward(self, batched_inputs: List[Dict]):
        """
        Args:
            batched_inputs: one dict per image with ``image`` (3, H, W) uint8 or float in the
                order of ``pixel_mean``; in training also ``sem_seg`` (H, W) int64 labels
                (``ignore_value`` = no label) or maskformer2-style ``instances`` (``gt_classes``,
                ``gt_masks``); in inference optionally ``height``/``width`` (output size).

        Returns:
            Training: dict[str, Tensor] of weighted losses. Inference: list of dicts with
            ``sem_seg`` (K, height, width) per-class scores.
        """
        if not self.training:
            return super().forward(batched_inputs)

        images = [x["image"].to(self.device) for x in batched_inputs]
        images = [(x - self.pixel_mean) / self.pixel_std for x in images]
        images = ImageList.from_tensors(images, self.size_divisibility)

        features = self.backbone(images.tensor)
        outputs = self.sem_seg_head(features)

        targets = self.prepare_semantic_targets(batched_inputs, images.tensor.shape[-2:])
        losses = self.criterion(outputs, targets)
        unweighted = sorted(set(losses) - set(self.criterion.weight_dict))
        if unweighted:
            raise ValueError(
                f"The criterion returned losses without a weight: {unweighted}. Its number of "
                "auxiliary layers must equal the decoder's (see segvit.baselines.criterion)."
            )
        return {k: v * self.criterion.weight_dict[k] for k, v in losses.items()}

    def prepare_semantic_targets(
        self, batched_inputs: List[Dict], padded_size: Sequence[int]
    ) -> List[Dict[str, Tensor]]:
        """Per-image ``{"labels": (M,), "masks": (M, H_pad, W_pad)}`` for the criterion.

        Uses ``instances`` when the mapper made them (maskformer2's mappers), else ``sem_seg``.
        """
        targets = []
        for x in batched_inputs:
            if "instances" in x:
                gt = x["instances"].to(self.device)
                masks = gt.gt_masks.tensor if hasattr(gt.gt_masks, "tensor") else gt.gt_masks
                h, w = masks.shape[-2:]
                padded = masks.new_zeros((masks.shape[0], *padded_size))
                padded[:, :h, :w] = masks
                targets.append({"labels": gt.gt_classes, "masks": padded})
            elif "sem_seg" in x:
                sem_seg = x["sem_seg"].to(self.device)
                targets.append(sem_seg_to_targets(sem_seg, self.ignore_value, padded_size))
            else:
                raise ValueError(
                    "Training inputs need 'sem_seg' (H, W) labels or maskformer2 'instances'; "
                    f"got keys {sorted(x)}."
                )
        return targets
