"""Per-mask binary losses on mask logits: sigmoid focal loss and dice loss (SegViT Sec. 3.2, Eq. 4).

Both take N flattened masks of P pixels and return one loss per mask, shape (N,); the caller sums
and normalises by the number of masks (as DETR / MaskFormer do). An optional ``valid`` mask drops
pixels (e.g. ignore labels) from both losses.
"""

from typing import Optional

import torch.nn.functional as F
from torch import Tensor

__all__ = ["sigmoid_focal_loss", "dice_loss"]


def sigmoid_focal_loss(
    logits: Tensor,
    targets: Tensor,
    *,
    alpha: float = 0.25,
    gamma: float = 2.0,
    valid: Optional[Tensor] = None,
) -> Tensor:
    """Sigmoid focal loss (Lin et al., RetinaNet) averaged over the pixels of each mask.

    With p = sigmoid(x), p_t = p t + (1 - p)(1 - t) and alpha_t = alpha t + (1 - alpha)(1 - t):
        FL = alpha_t (1 - p_t)^gamma BCE(x, t),   BCE(x, t) = -t log p - (1 - t) log(1 - p)
    (alpha < 0 disables alpha_t). Per mask: mean of FL over all P pixels, or over the valid pixels
    when ``valid`` is given (a mask with no valid pixel gives 0).

    Args:
        logits (Tensor): (N, P) mask logits.
        targets (Tensor): (N, P) binary targets (float).
        alpha (float): weight of the positive pixels.
        gamma (float): focusing exponent.
        valid (Tensor or None): (N, P) bool, pixels that count.

    Returns:
        Tensor: (N,) loss per mask.
    """
    prob = logits.sigmoid()
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = prob * targets + (1 - prob) * (1 - targets)
    loss = bce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    if valid is None:
        return loss.mean(dim=1)
    valid = valid.to(loss.dtype)
    return (loss * valid).sum(dim=1) / valid.sum(dim=1).clamp(min=1)


def dice_loss(logits: Tensor, targets: Tensor, valid: Optional[Tensor] = None) -> Tensor:
    """Dice loss on sigmoid probabilities with +1 smoothing, per mask.

    With p = sigmoid(x) summed over the (valid) pixels of each mask:
        DL = 1 - (2 sum(p t) + 1) / (sum(p) + sum(t) + 1)

    Args:
        logits (Tensor): (N, P) mask logits.
        targets (Tensor): (N, P) binary targets (float).
        valid (Tensor or None): (N, P) bool, pixels that count.

    Returns:
        Tensor: (N,) loss per mask.
    """
    prob = logits.sigmoid()
    if valid is not None:
        valid = valid.to(prob.dtype)
        prob = prob * valid
        targets = targets * valid
    numerator = 2 * (prob * targets).sum(dim=1)
    denominator = prob.sum(dim=1) + targets.sum(dim=1)
    return 1 - (numerator + 1) / (denominator + 1)
