"""RSSeg-R's losses (a reconstruction; RSSeg's own losses and weights are not public).

RSSeg states only that DCA is trained with "novel auxiliary supervisions" (plural). Ours
(docs/rsseg.md):

- main: pixel cross-entropy of the logits upsampled to the label size (weight 1);
- assignment: each DCA layer's head-averaged pre-softmax attention logits A (B, K, H', W'),
  upsampled to 1/``assign_stride`` of the label size and read as class scores per pixel: cross-
  entropy against the labels downsampled (nearest) to that size; mean over layers (weight 0.4);
- region classification: each DCA layer's region representation r_k of every class k with at
  least ``region_min_pixels`` labelled pixels on the pathway grid is classified into k by a
  training-only linear layer; cross-entropy averaged over present classes and layers (weight 0.4);
- auxiliary decoders (the FCN head on the local pathway; DCA when it is training-only): pixel
  cross-entropy like the main loss (weight 0.4, the OCRNet / DDRNet auxiliary weight).

Every loss is computed in fp32 and is a graph-connected zero when no pixel is labelled.
"""

from typing import Dict, List

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["RSSegRCriterion"]


def _resize_labels(targets: Tensor, size) -> Tensor:
    """(B, H, W) long labels -> (B, h, w) by nearest neighbour (labels are not averaged)."""
    if tuple(targets.shape[-2:]) == tuple(size):
        return targets
    return F.interpolate(targets[:, None].float(), size=size, mode="nearest")[:, 0].long()


class RSSegRCriterion(nn.Module):
    """Weighted main + assignment + region + auxiliary-decoder losses (see module doc)."""

    def __init__(
        self,
        *,
        num_classes: int,
        ignore_value: int = 255,
        main_weight: float = 1.0,
        assign_weight: float = 0.4,
        region_weight: float = 0.4,
        aux_weight: float = 0.4,
        region_min_pixels: int = 4,
        assign_stride: int = 4,
    ):
        """
        Args:
            num_classes (int): K.
            ignore_value (int): label of ignored pixels.
            main_weight, assign_weight, region_weight, aux_weight (float): loss weights (0
                switches a loss off; it is then not returned).
            region_min_pixels (int): labelled pathway-grid cells a class needs for its region
                representation to be classified.
            assign_stride (int): the assignment loss is computed at 1/assign_stride of the label
                size (memory: K x H/s x W/s per image).
        """
        super().__init__()
        if assign_stride < 1 or region_min_pixels < 1:
            raise ValueError(
                "rsseg_r_losses: assign_stride and region_min_pixels must be >= 1, got "
                f"{assign_stride} and {region_min_pixels}."
            )
        self.num_classes = num_classes
        self.ignore_value = ignore_value
        self.main_weight, self.assign_weight = main_weight, assign_weight
        self.region_weight, self.aux_weight = region_weight, aux_weight
        self.region_min_pixels, self.assign_stride = region_min_pixels, assign_stride

    def pixel_ce(self, logits: Tensor, targets: Tensor) -> Tensor:
        """Cross-entropy of (B, K, h, w) logits upsampled to the (B, H, W) labels."""
        logits = F.interpolate(
            logits.float(), size=targets.shape[-2:], mode="bilinear", align_corners=False
        )
        if (targets != self.ignore_value).any():
            return F.cross_entropy(logits, targets, ignore_index=self.ignore_value)
        return logits.sum() * 0.0  # every pixel ignored: zero, graph kept (a mean over none is NaN)

    def region_ce(self, region_logits: List[Tensor], targets: Tensor, grid) -> Tensor:
        """Mean CE of the present classes' region classifications over layers."""
        labels = _resize_labels(targets, grid).flatten(1)  # (B, N)
        valid = labels != self.ignore_value
        onehot = F.one_hot(labels.clamp(0, self.num_classes - 1), self.num_classes)
        counts = (onehot * valid[..., None]).sum(dim=1)  # (B, K) labelled cells per class
        present = counts >= self.region_min_pixels
        target = torch.arange(self.num_classes, device=targets.device).expand_as(present)
        losses = []
        for logits in region_logits:  # (B, K, K)
            if present.any():
                losses.append(F.cross_entropy(logits.float()[present], target[present]))
            else:
                losses.append(logits.sum() * 0.0)
        return torch.stack(losses).mean()

    def forward(self, outputs: Dict[str, object], targets: Tensor) -> Dict[str, Tensor]:
        """
        Args:
            outputs: :meth:`RSSegRHead.forward_train`'s dict.
            targets: (B, Hp, Wp) long labels of the padded batch.

        Returns:
            dict of weighted losses: "loss_sem_seg", "loss_assign", "loss_region",
            "loss_aux_<name>" (those with a non-zero weight).
        """
        targets = targets.long()
        losses = {"loss_sem_seg": self.main_weight * self.pixel_ce(outputs["logits"], targets)}
        if self.assign_weight > 0 and outputs["assign"]:
            size = [max(1, s // self.assign_stride) for s in targets.shape[-2:]]
            small = _resize_labels(targets, size)
            assign = [self.pixel_ce(a, small) for a in outputs["assign"]]
            losses["loss_assign"] = self.assign_weight * torch.stack(assign).mean()
        if self.region_weight > 0 and outputs["region_logits"]:
            grid = outputs["logits"].shape[-2:]
            region = self.region_ce(outputs["region_logits"], targets, grid)
            losses["loss_region"] = self.region_weight * region
        if self.aux_weight > 0:
            for name, logits in outputs["aux_logits"].items():
                losses[f"loss_aux_{name}"] = self.aux_weight * self.pixel_ce(logits, targets)
        return losses
