"""Token-grid helpers for plain-ViT backbones: pos-embed resizing and token <-> map reshapes.

Every helper takes the grid size ``(h, w)`` explicitly; nothing assumes a square grid (the
official SegViT did: its token -> map reshapes take h = w = sqrt(N), ``zbwxp/SegVit`` issue #20).
"""

import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch.fx.experimental.symbolic_shapes import statically_known_true

__all__ = ["resize_pos_embed", "tokens_to_map", "map_to_tokens", "square_grid"]


def _known_equal(a, b) -> bool:
    """``a == b`` for grid sizes, without fixing a symbolic size.

    Plain ints compare as usual; ``torch.jit.trace`` gives sizes as 0-dim tensors (compared, and
    recorded as a constant, as before); a symbolic size of ``torch.export`` with a dynamic
    height/width is "not known equal", so the exported graph keeps the resize instead of a guard
    that pins the size (bicubic resizing to the same grid is exactly the identity).
    """
    equal = a == b
    if isinstance(equal, torch.Tensor):
        return bool(equal)
    return statically_known_true(equal)


def resize_pos_embed(
    pos_embed: torch.Tensor,
    src_hw: Tuple[int, int],
    dst_hw: Tuple[int, int],
    mode: str = "bicubic",
) -> torch.Tensor:
    """Resize an absolute position embedding from one token grid to another.

    Bicubic with ``align_corners=False`` and no antialiasing, like the official SegViT (mmseg
    ``resize_pos_embed``) and Detectron2's ``get_abs_pos``. timm's ``resample_abs_pos_embed``
    defaults to ``antialias=True``, which uses a different cubic kernel, so results differ from
    timm's dynamic-size path by a small amount.

    Args:
        pos_embed (Tensor): (1, src_h * src_w, C), no prefix (class) token positions.
        src_hw (tuple[int, int]): grid ``(src_h, src_w)`` the embedding is stored at.
        dst_hw (tuple[int, int]): wanted grid ``(h, w)``; need not be square.
        mode (str): interpolation mode of ``F.interpolate``.

    Returns:
        Tensor: (1, h * w, C). The input itself when the grids are equal.
    """
    src_h, src_w = src_hw
    dst_h, dst_w = dst_hw
    assert pos_embed.shape[1] == src_h * src_w, (pos_embed.shape, src_hw)
    if _known_equal(src_h, dst_h) and _known_equal(src_w, dst_w):
        return pos_embed
    dim = pos_embed.shape[-1]
    grid = pos_embed.reshape(1, src_h, src_w, dim).permute(0, 3, 1, 2)  # (1, C, src_h, src_w)
    grid = F.interpolate(grid.float(), size=(dst_h, dst_w), mode=mode, align_corners=False).to(
        pos_embed.dtype
    )
    return grid.permute(0, 2, 3, 1).reshape(1, dst_h * dst_w, dim)  # (1, h*w, C)


def tokens_to_map(x: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
    """Reshape row-major tokens to a feature map.

    Args:
        x (Tensor): (B, h * w, C) tokens, row-major over the grid.
        hw (tuple[int, int]): the grid ``(h, w)``.

    Returns:
        Tensor: (B, C, h, w).
    """
    h, w = hw
    b, n, c = x.shape
    if n != h * w:
        raise ValueError(f"{n} tokens do not form a {h}x{w} grid")
    return x.transpose(1, 2).reshape(b, c, h, w)


def map_to_tokens(x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
    """Flatten a feature map into row-major tokens.

    Args:
        x (Tensor): (B, C, h, w).

    Returns:
        tuple[Tensor, tuple[int, int]]: tokens (B, h * w, C) and the grid ``(h, w)``.
    """
    if x.dim() != 4:
        raise ValueError(f"expected a (B, C, h, w) feature map, got shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    return x.flatten(2).transpose(1, 2), (h, w)


def square_grid(num_tokens: int) -> Optional[int]:
    """Return ``g`` if ``num_tokens == g * g`` (g >= 1), else ``None``."""
    if num_tokens < 1:
        return None
    g = math.isqrt(num_tokens)
    return g if g * g == num_tokens else None
