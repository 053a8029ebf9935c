"""Set-prediction criteria of MaskFormer and Mask2Former, built from maskformer2's classes.

maskformer2 ships only Mask2Former's loss: its ``HungarianMatcher`` and ``SetCriterion`` compute
binary cross-entropy + dice on ``num_points`` sampled points (uniform points for matching,
importance-sampled points for the loss). The original MaskFormer (Cheng et al., NeurIPS 2021)
instead uses a sigmoid focal loss (alpha 0.25, gamma 2) + dice on full masks: matching at the
prediction's resolution (targets nearest-downsampled), losses at the target's resolution
(predictions bilinearly upsampled). ``MaskFormerHungarianMatcher`` and ``MaskFormerSetCriterion``
are subclasses that restore that, so the MaskFormer baseline trains with its own recipe
(class 1, focal 20, dice 1) and not with BCE weighted 20.

``SetCriterion.weight_dict`` holds the weight of every loss it returns, including the auxiliary
ones (``loss_ce_0``, ...). ``num_layers`` of maskformer2's ``SetCriterion`` is the number of
*auxiliary* predictions, which the builders derive from the decoder depth.
"""

from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from mask2former.modeling.criterion import SetCriterion
from mask2former.modeling.matcher import HungarianMatcher, batch_dice_loss
from mask2former.utils.misc import nested_tensor_from_tensor_list
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from segvit.modeling.losses.mask_losses import dice_loss, sigmoid_focal_loss

__all__ = [
    "MaskFormerHungarianMatcher",
    "MaskFormerSetCriterion",
    "build_maskformer_criterion",
    "build_mask2former_criterion",
]


def batch_sigmoid_focal_cost(
    logits: Tensor, targets: Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> Tensor:
    """Pairwise mean sigmoid focal loss between N predicted and M target masks.

    Args:
        logits: (N, P) mask logits.
        targets: (M, P) binary targets.

    Returns:
        Tensor: (N, M), cost[n, m] = mean over the P pixels of FL(logits[n], targets[m]).
    """
    prob = logits.sigmoid()
    # FL for target 1 and for target 0 at every pixel; the pair cost mixes them by the target.
    focal_pos = alpha * (1 - prob) ** gamma * F.softplus(-logits)  # -log(p) = softplus(-x)
    focal_neg = (1 - alpha) * prob**gamma * F.softplus(logits)  # -log(1 - p) = softplus(x)
    cost = focal_pos @ targets.T + focal_neg @ (1 - targets).T
    return cost / logits.shape[1]


class MaskFormerHungarianMatcher(HungarianMatcher):
    """Hungarian matching with MaskFormer's cost: class prob + focal + dice on full masks.

    Targets are nearest-downsampled to the prediction's resolution (as in MaskFormer); there is
    no point sampling, so ``num_points`` is unused.
    """

    def __init__(self, cost_class: float = 1.0, cost_mask: float = 20.0, cost_dice: float = 1.0):
        """
        Args:
            cost_class (float): weight of ``-p(target class)``.
            cost_mask (float): weight of the mean focal loss between the masks.
            cost_dice (float): weight of the dice loss between the masks.
        """
        super().__init__(cost_class=cost_class, cost_mask=cost_mask, cost_dice=cost_dice)

    @torch.no_grad()
    def memory_efficient_forward(
        self, outputs: Dict[str, Tensor], targets: List[Dict[str, Tensor]]
    ) -> List[Tuple[Tensor, Tensor]]:
        """Match queries to targets image by image.

        Args:
            outputs: ``pred_logits`` (B, Q, K+1) and ``pred_masks`` (B, Q, h, w).
            targets: per image, ``labels`` (M,) and ``masks`` (M, H, W) (padded to one size).

        Returns:
            list[(Tensor, Tensor)]: per image, matched query indices and target indices.
        """
        indices = []
        for b, target in enumerate(targets):
            out_prob = outputs["pred_logits"][b].float().softmax(-1)  # (Q, K+1)
            out_mask = outputs["pred_masks"][b].float()  # (Q, h, w)
            tgt_mask = target["masks"].to(out_mask)  # (M, H, W)
            tgt_mask = F.interpolate(tgt_mask[:, None], size=out_mask.shape[-2:], mode="nearest")
            out_mask = out_mask.flatten(1)  # (Q, h*w)
            tgt_mask = tgt_mask[:, 0].flatten(1)  # (M, h*w)
            cost = (
                self.cost_class * -out_prob[:, target["labels"]]
                + self.cost_mask * batch_sigmoid_focal_cost(out_mask, tgt_mask)
                + self.cost_dice * batch_dice_loss(out_mask, tgt_mask)
            )
            rows, cols = linear_sum_assignment(cost.cpu())
            indices.append(
                (torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64))
            )
        return indices


class MaskFormerSetCriterion(SetCriterion):
    """maskformer2's ``SetCriterion`` with MaskFormer's mask loss: focal + dice on full masks.

    Matched predictions are bilinearly upsampled to the (padded) target size; ``loss_mask`` is the
    sigmoid focal loss (alpha 0.25, gamma 2) averaged over pixels and ``loss_dice`` the dice loss,
    both summed over masks and divided by the number of target masks in the batch.
    """

    def loss_masks(self, outputs, targets, indices, num_masks) -> Dict[str, Tensor]:
        src_idx = self._get_src_permutation_idx(indices)
        tgt_idx = self._get_tgt_permutation_idx(indices)
        src_masks = outputs["pred_masks"][src_idx]  # (N, h, w) matched predictions
        target_masks, _ = nested_tensor_from_tensor_list([t["masks"] for t in targets]).decompose()
        target_masks = target_masks.to(src_masks)[tgt_idx]  # (N, H, W)
        src_masks = F.interpolate(
            src_masks[:, None], size=target_masks.shape[-2:], mode="bilinear", align_corners=False
        )[:, 0]
        src_masks, target_masks = src_masks.flatten(1), target_masks.flatten(1)  # (N, H*W)
        return {
            "loss_mask": sigmoid_focal_loss(src_masks, target_masks).sum() / num_masks,
            "loss_dice": dice_loss(src_masks, target_masks).sum() / num_masks,
        }


def build_maskformer_criterion(
    num_classes: int,
    *,
    class_weight: float = 1.0,
    mask_weight: float = 20.0,
    dice_weight: float = 1.0,
    no_object_weight: float = 0.1,
    dec_layers: int = 6,
    deep_supervision: bool = True,
) -> MaskFormerSetCriterion:
    """MaskFormer's criterion (ADE20K recipe: class 1, focal 20, dice 1, no-object 0.1).

    Args:
        num_classes (int): number of classes K (without "no object").
        class_weight (float): weight of the cross-entropy classification loss (and match cost).
        mask_weight (float): weight of the focal mask loss (and match cost).
        dice_weight (float): weight of the dice loss (and match cost).
        no_object_weight (float): cross-entropy weight of the "no object" class.
        dec_layers (int): decoder layers of ``StandardTransformerDecoder``; each one predicts, so
            deep supervision adds ``dec_layers - 1`` auxiliary losses of each kind.
        deep_supervision (bool): must match the decoder's ``deep_supervision``.
    """
    if dec_layers < 1:
        raise ValueError(f"dec_layers must be >= 1, got {dec_layers}.")
    matcher = MaskFormerHungarianMatcher(
        cost_class=class_weight, cost_mask=mask_weight, cost_dice=dice_weight
    )
    return MaskFormerSetCriterion(
        num_classes,
        matcher=matcher,
        class_weight=class_weight,
        mask_weight=mask_weight,
        dice_weight=dice_weight,
        num_layers=dec_layers - 1 if deep_supervision else 0,
        eos_coef=no_object_weight,
        losses=["labels", "masks"],
        num_points=0,  # unused: MaskFormer's losses use full masks
        oversample_ratio=0.0,
        importance_sample_ratio=0.0,
    )


def build_mask2former_criterion(
    num_classes: int,
    *,
    class_weight: float = 2.0,
    mask_weight: float = 5.0,
    dice_weight: float = 5.0,
    no_object_weight: float = 0.1,
    dec_layers: int = 9,
    num_points: int = 112 * 112,
    oversample_ratio: float = 3.0,
    importance_sample_ratio: float = 0.75,
) -> SetCriterion:
    """Mask2Former's criterion, maskformer2's classes as they are (paper Sec. 3.3 / 4).

    Args:
        num_classes (int): number of classes K (without "no object").
        class_weight (float): weight of the cross-entropy classification loss (and match cost).
        mask_weight (float): weight of the point-sampled binary cross-entropy (and match cost).
        dice_weight (float): weight of the point-sampled dice loss (and match cost).
        no_object_weight (float): cross-entropy weight of the "no object" class.
        dec_layers (int): layers of ``MultiScaleMaskedTransformerDecoder`` (9; maskformer2's yacs
            key ``DEC_LAYERS`` is 10 because it counts the prediction from the learnable queries).
            The decoder predicts ``dec_layers + 1`` times, so there are ``dec_layers`` auxiliary
            losses of each kind (Mask2Former always supervises every layer).
        num_points (int): points sampled per mask, for matching and for the loss (112 x 112).
        oversample_ratio (float): candidate points per kept point in importance sampling.
        importance_sample_ratio (float): fraction of points taken where the logits are uncertain.
    """
    if dec_layers < 1:
        raise ValueError(f"dec_layers must be >= 1, got {dec_layers}.")
    if num_points < 1:
        raise ValueError(
            f"num_points must be >= 1, got {num_points}: maskformer2's matcher divides by it. "
            "For a loss on full masks use build_maskformer_criterion."
        )
    matcher = HungarianMatcher(
        cost_class=class_weight, cost_mask=mask_weight, cost_dice=dice_weight, num_points=num_points
    )
    return SetCriterion(
        num_classes,
        matcher=matcher,
        class_weight=class_weight,
        mask_weight=mask_weight,
        dice_weight=dice_weight,
        num_layers=dec_layers,
        eos_coef=no_object_weight,
        losses=["labels", "masks"],
        num_points=num_points,
        oversample_ratio=oversample_ratio,
        importance_sample_ratio=importance_sample_ratio,
    )
