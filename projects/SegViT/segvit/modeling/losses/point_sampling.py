"""Label pixels chosen by Mask2Former's importance sampling, and the mask logits at them.

Mask2Former (Cheng et al., CVPR 2022, Sec. 3.3) computes its mask losses on N points per mask
instead of every pixel: kN random candidates (oversample ratio k), the beta N most uncertain of
them (uncertainty -|logit|), plus (1 - beta) N uniform random points. maskformer2's
``mask2former/modeling/criterion.py`` does it with Detectron2's PointRend functions
``get_uncertain_point_coords_with_randomness`` and ``point_sample``; so does this module.

ATM fixes query k <-> class k, so an image's K class masks are supervised on the same pixels:
one point set per image, whose uncertainty at a point is that of its most uncertain class mask,
max_k -|logit_k| (Mask2Former's -|logit| when K = 1). It serves focal, dice and the demo's pixel
cross-entropy, and costs one sampling per image instead of one per mask (on CPU the candidates'
``topk`` dominates the sampling's cost).

One more difference, for semantic labels: each chosen point is moved to the centre of the label
pixel it falls in. Its target is then that pixel's label (exact, and an ignore pixel is known as
such, where Mask2Former bilinearly samples binary masks), and its mask logits are the values the
official loss's bilinear upsampling gives at that pixel. So the point loss is the dense per-pixel
loss on a subset of the pixels; with ``num_points >= H * W`` the subset is every pixel once, and
the point loss equals the dense one (the deterministic mode the tests use).
"""

from typing import Callable, Tuple

import torch
from detectron2.projects.point_rend.point_features import (
    get_uncertain_point_coords_with_randomness,
    point_sample,
)
from torch import Tensor

__all__ = ["class_mask_uncertainty", "sample_pixels", "logits_at_pixels"]


def class_mask_uncertainty(logits: Tensor) -> Tensor:
    """Uncertainty (N, 1, P) of K binary class-mask logits (N, K, P) at P points: that of the
    most uncertain mask, max_k -|logit_k| (Mask2Former's -|logit| for one mask)."""
    return -logits.abs().amin(dim=1, keepdim=True)


@torch.no_grad()
def sample_pixels(
    logits: Tensor,
    size: Tuple[int, int],
    *,
    num_points: int,
    oversample_ratio: float,
    importance_sample_ratio: float,
    uncertainty_func: Callable[[Tensor], Tensor] = class_mask_uncertainty,
) -> Tensor:
    """Flat indices of ``num_points`` label pixels per map, by importance sampling.

    Args:
        logits (Tensor): (N, C, h, w) logits at any resolution; ``uncertainty_func`` maps their
            values at P points, (N, C, P), to uncertainties (N, 1, P).
        size (tuple): label size (H, W).
        num_points (int): points per map; ``>= H * W`` returns every pixel once, in order.
        oversample_ratio (float): candidates per point (>= 1).
        importance_sample_ratio (float): fraction of the points taken where uncertainty is highest.
        uncertainty_func: :func:`class_mask_uncertainty` (default), or e.g. Detectron2's
            ``point_rend.semantic_seg.calculate_uncertainty`` (top-2 gap across C classes).

    Returns:
        Tensor: (N, P) long indices into the H*W pixels (row-major), P = min(num_points, H*W);
        a pixel can occur more than once.
    """
    height, width = size
    if num_points >= height * width:
        every = torch.arange(height * width, device=logits.device)
        return every.expand(logits.shape[0], -1)
    coords = get_uncertain_point_coords_with_randomness(  # its random points are float32
        logits.float(), uncertainty_func, num_points, oversample_ratio, importance_sample_ratio
    )  # (N, P, 2) in [0, 1]^2, (x, y)
    cols = (coords[..., 0] * width).long().clamp_(0, width - 1)
    rows = (coords[..., 1] * height).long().clamp_(0, height - 1)
    return rows * width + cols


def logits_at_pixels(logits: Tensor, pixels: Tensor, size: Tuple[int, int]) -> Tensor:
    """Logits (N, C, h, w) bilinearly upsampled to ``size`` (H, W), ``align_corners=False``, read
    at the (N, P) flat pixel indices only: (N, C, P), differentiable.

    Equal to ``F.interpolate(logits, size, mode="bilinear")`` at those pixels (up to float
    rounding): ``point_sample`` at the pixel centres with border padding, which clamps at the
    edges as ``F.interpolate`` does. Logits already at label size are gathered exactly.
    """
    height, width = size
    if tuple(logits.shape[-2:]) == (height, width):
        index = pixels[:, None].expand(-1, logits.shape[1], -1)  # (N, C, P)
        return logits.flatten(2).gather(2, index)
    rows = torch.div(pixels, width, rounding_mode="floor")
    cols = (pixels - rows * width).to(logits.dtype)
    rows = rows.to(logits.dtype)
    centres = torch.stack(((cols + 0.5) / width, (rows + 0.5) / height), dim=-1)  # (N, P, 2)
    return point_sample(logits, centres, align_corners=False, padding_mode="border")
