"""Read pretrained ViT checkpoints into the key layout of :class:`segvit.modeling.backbone.vit.ViT`.

Supported files (the official SegViT configs, zbwxp/SegVit ``configs/``, start from the mmseg
ViT-L below; the authors' ViT-B recipe from the Google/timm ViT-B/16 in21k -> in1k at 384):

- timm ``.pth``/``.pt``/``.bin`` (plain state dict, or wrapped in ``"model"``/``"state_dict"``)
  and ``.safetensors``; e.g. ``vit_base_patch16_384.orig_in21k_ft_in1k`` (or ``.augreg_...``).
- mmseg ``.pth`` converted by mmseg's ``vit2mmseg.py`` (``layers.N.ln1``,
  ``attn.attn.in_proj_weight``, ...), e.g. the official ViT-L
  ``vit_large_p16_384_20220308-d4efb41d.pth``; mapped back to timm names.
- Google ``.npz`` (original ViT, AugReg, big_vision layouts); read with timm's own npz loader.

Our layout is timm's minus what the backbone does not use: the class/distillation/register tokens,
their pos-embed positions, the final norm and the classifier head are dropped (and reported).
A backbone built with ``cls_token=True`` / ``final_norm=True`` (Segmenter, DEPICT) keeps the class
token (its position becomes ``cls_pos_embed``) and the final ``norm``: pass ``class_token`` /
``final_norm`` to :func:`to_backbone_layout`.
"""

import logging
import re
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import torch
import torch.nn as nn
from fvcore.common.checkpoint import (
    get_missing_parameters_message,
    get_unexpected_parameters_message,
)

from segvit.modeling.backbone.utils import resize_pos_embed, square_grid

from .readers import read_state_dict

__all__ = [
    "ViTWeights",
    "read_state_dict",
    "to_backbone_layout",
    "load_vit_state_dict",
    "infer_vit_config",
    "load_into_backbone",
    "fit_pos_embed",
]

logger = logging.getLogger(__name__)

# Keys the backbone does not use on purpose (no class token, no final norm, no classifier).
_DROPPED_KEYS = ("cls_token", "dist_token", "reg_token", "mask_token")
_DROPPED_PREFIXES = ("head.", "head_dist.", "norm.", "fc_norm.", "pre_logits.", "attn_pool.")

_VIT_NAMES = {192: "ViT-Ti", 384: "ViT-S", 768: "ViT-B", 1024: "ViT-L", 1280: "ViT-H"}


class ViTWeights(NamedTuple):
    """A checkpoint in the backbone's key layout.

    Attributes:
        state_dict (dict[str, Tensor]): timm-named tensors; ``pos_embed`` is (1, h*w, C) without
            prefix-token positions.
        dropped (list[str]): source keys dropped on purpose (class token, final norm, head, ...).
        source_format (str): "timm", "mmseg" or "npz".
        source_grid (tuple[int, int] or None): pos-embed grid stored in the file.
        num_prefix_tokens (int): pos-embed positions removed in front of the grid.
    """

    state_dict: Dict[str, torch.Tensor]
    dropped: List[str]
    source_format: str
    source_grid: Optional[Tuple[int, int]]
    num_prefix_tokens: int


def to_backbone_layout(
    state_dict: Dict[str, torch.Tensor],
    *,
    target_grid: Optional[Tuple[int, int]] = None,
    num_prefix_tokens: Optional[int] = None,
    source_format: str = "timm",
    class_token: bool = False,
    final_norm: bool = False,
    pos_embed_interp: str = "bicubic",
) -> ViTWeights:
    """Drop what the backbone does not use and strip prefix-token positions from ``pos_embed``.

    Args:
        state_dict (dict[str, Tensor]): timm-named tensors (from :func:`read_state_dict`).
        target_grid (tuple[int, int], optional): resize ``pos_embed`` (bicubic) to this grid when
            the stored grid differs, e.g. the backbone's ``pretrain_grid``. ``None`` keeps the
            stored grid.
        num_prefix_tokens (int, optional): pos-embed positions in front of the grid (1 for a class
            token). ``None`` tries 0, 1 and the number of class/distillation/register tokens in
            the file, and takes the first that leaves a square grid (timm files with a class token
            store 1 + h*w positions; DeiT-3-style files store h*w).
        source_format (str): recorded in the result.
        class_token (bool): keep ``cls_token`` and the class position of ``pos_embed`` (as
            ``cls_pos_embed``, (1, 1, C)) for a backbone built with ``cls_token=True``.
        final_norm (bool): keep the final ``norm.*`` for a backbone built with ``final_norm=True``.
        pos_embed_interp (str): interpolation mode of the pos-embed resize.
    """
    kept, dropped = {}, []
    for key, value in state_dict.items():
        if (class_token and key == "cls_token") or (final_norm and key.startswith("norm.")):
            kept[key] = value
        elif key in _DROPPED_KEYS or key.startswith(_DROPPED_PREFIXES):
            dropped.append(key)
        else:
            kept[key] = value

    grid, num_prefix = None, 0
    pos = kept.get("pos_embed")
    if pos is not None:
        if pos.dim() == 4:  # (1, h, w, C) layout
            grid = (pos.shape[1], pos.shape[2])
            pos = pos.reshape(1, -1, pos.shape[-1])
        else:
            if num_prefix_tokens is None:
                candidates = [0, 1, _count_prefix_tokens(state_dict)]
            else:
                candidates = [num_prefix_tokens]
            num_prefix, grid = _split_grid(pos.shape[1], candidates)
            if class_token:
                if num_prefix < 1 or "cls_token" not in state_dict:
                    raise ValueError(
                        "class_token=True needs a checkpoint with 'cls_token' and its pos-embed "
                        f"position; this one has {num_prefix} prefix positions and keys "
                        f"{sorted(k for k in state_dict if 'token' in k) or 'without tokens'}"
                    )
                kept["cls_pos_embed"] = pos[:, :1].contiguous()  # class token comes first
            if num_prefix:
                dropped.append(f"pos_embed[:, :{num_prefix}] (prefix-token positions)")
            pos = pos[:, num_prefix:]
        if target_grid is not None and tuple(target_grid) != grid:
            logger.info(
                "Resizing pos_embed from grid %s to %s (%s)", grid, target_grid, pos_embed_interp
            )
            pos = resize_pos_embed(pos, grid, tuple(target_grid), pos_embed_interp)
        kept["pos_embed"] = pos.contiguous()
    return ViTWeights(kept, dropped, source_format, grid, num_prefix)


def load_vit_state_dict(
    path: str,
    *,
    target_grid: Optional[Tuple[int, int]] = None,
    num_prefix_tokens: Optional[int] = None,
    class_token: bool = False,
    final_norm: bool = False,
    pos_embed_interp: str = "bicubic",
) -> ViTWeights:
    """Read ``path`` (timm/mmseg ``.pth``, ``.safetensors``, Google ``.npz``) into our layout.

    See :func:`to_backbone_layout` for the arguments; raises ``FileNotFoundError`` naming the path.
    """
    state_dict, fmt = read_state_dict(path)
    weights = to_backbone_layout(
        state_dict,
        target_grid=target_grid,
        num_prefix_tokens=num_prefix_tokens,
        source_format=fmt,
        class_token=class_token,
        final_norm=final_norm,
        pos_embed_interp=pos_embed_interp,
    )
    if weights.dropped:
        logger.info(
            "Dropped from %s (unused by the backbone): %s", path, ", ".join(weights.dropped)
        )
    return weights


def infer_vit_config(state_dict: Dict[str, torch.Tensor]) -> Dict[str, Any]:
    """Infer ViT keyword arguments from a state dict in our layout.

    Returns ``patch_size, in_chans, embed_dim, depth, mlp_ratio, qkv_bias`` and, for a square
    pos-embed grid, ``pretrain_img_size``. ``num_heads`` does not change any tensor shape and
    cannot be inferred.
    """
    if "patch_embed.proj.weight" not in state_dict:
        raise ValueError("not a ViT state dict: 'patch_embed.proj.weight' is missing")
    embed_dim, in_chans, patch_size, _ = state_dict["patch_embed.proj.weight"].shape
    block_ids = [int(m.group(1)) for k in state_dict if (m := re.match(r"blocks\.(\d+)\.", k))]
    cfg: Dict[str, Any] = dict(
        patch_size=patch_size,
        in_chans=in_chans,
        embed_dim=embed_dim,
        depth=max(block_ids) + 1 if block_ids else 0,
        qkv_bias="blocks.0.attn.qkv.bias" in state_dict,
    )
    if "blocks.0.mlp.fc1.weight" in state_dict:
        cfg["mlp_ratio"] = state_dict["blocks.0.mlp.fc1.weight"].shape[0] / embed_dim
    if "pos_embed" in state_dict:
        g = square_grid(state_dict["pos_embed"].shape[1])
        if g is not None:
            cfg["pretrain_img_size"] = g * patch_size
    return cfg


def load_into_backbone(
    backbone: nn.Module, state_dict: Dict[str, torch.Tensor]
) -> Tuple[List[str], List[str]]:
    """Copy a state dict in our layout into ``backbone``; all-or-nothing on shapes.

    ``pos_embed`` with another square grid is resized (bicubic) to ``backbone.pretrain_grid``.
    Any other shape mismatch raises ``ValueError`` naming the tensor, both shapes and the likely
    cause, before anything is copied. Missing and unexpected keys are logged.

    Returns:
        tuple[list[str], list[str]]: missing keys (in the backbone, not in the file) and unexpected
        keys (in the file, not in the backbone).
    """
    own = backbone.state_dict()
    to_load, unexpected = {}, []
    for key, value in state_dict.items():
        if key not in own:
            unexpected.append(key)
            continue
        want = own[key].shape
        if key == "pos_embed" and value.shape != want and value.shape[-1] == want[-1]:
            value = fit_pos_embed(
                value,
                want,
                getattr(backbone, "pretrain_grid", None),
                getattr(backbone, "pos_embed_interp", "bicubic"),
            )
        if value.shape != want:
            raise ValueError(_mismatch_message(key, value.shape, want, state_dict, backbone))
        to_load[key] = value
    missing = [k for k in own if k not in to_load]
    backbone.load_state_dict(to_load, strict=False)
    if missing:
        logger.warning(get_missing_parameters_message(missing))
    if unexpected:
        logger.warning(get_unexpected_parameters_message(unexpected))
    return missing, unexpected


# ---------------------------------------------------------------------------------------------
# helpers


def _count_prefix_tokens(state_dict: Dict[str, torch.Tensor]) -> int:
    """Class + distillation + register tokens present in a timm state dict."""
    count = sum(1 for k in ("cls_token", "dist_token") if k in state_dict)
    if "reg_token" in state_dict:
        count += state_dict["reg_token"].shape[1]  # (1, R, C)
    return count


def _split_grid(num_pos: int, candidates: List[int]) -> Tuple[int, Tuple[int, int]]:
    """Return (prefix positions, square grid): the first candidate leaving a square grid."""
    for k in candidates:
        g = square_grid(num_pos - k)
        if g is not None:
            return k, (g, g)
    raise ValueError(
        f"pos_embed has {num_pos} positions, not a square grid after removing "
        f"{sorted(set(candidates))} prefix-token positions; pass num_prefix_tokens "
        "(non-square stored grids are unsupported)"
    )


def fit_pos_embed(
    pos: torch.Tensor,
    want: torch.Size,
    grid: Optional[Tuple[int, int]],
    mode: str = "bicubic",
) -> torch.Tensor:
    """Resize a (1, g*g, C) pos-embed table of a square grid to ``want`` = (1, h*w, C).

    ``grid`` is the target (h, w) (a backbone's ``pretrain_grid``); None means square. Returns
    ``pos`` unchanged when either side is not a grid, so that the caller's shape check names the
    mismatch. Used by :func:`load_into_backbone` and by the checkpointer on load.
    """
    src = square_grid(pos.shape[1])
    if grid is None:
        g = square_grid(want[1])
        grid = (g, g) if g is not None else None
    if src is None or grid is None or grid[0] * grid[1] != want[1]:
        return pos  # leave it to the shape check, which explains the mismatch
    logger.info("Resizing pos_embed from grid %s to %s (%s)", (src, src), tuple(grid), mode)
    return resize_pos_embed(pos, (src, src), tuple(grid), mode)


def _vit_name(dim: int) -> str:
    return _VIT_NAMES.get(dim, f"ViT with width {dim}")


def _mismatch_message(
    key: str,
    got: torch.Size,
    want: torch.Size,
    state_dict: Dict[str, torch.Tensor],
    backbone: nn.Module,
) -> str:
    msg = (
        f"Checkpoint tensor '{key}' has shape {tuple(got)} but the backbone expects {tuple(want)}."
    )
    src = state_dict.get("patch_embed.proj.weight", state_dict.get("pos_embed"))
    src_dim = None if src is None else (src.shape[0] if src.dim() == 4 else src.shape[-1])
    dst_dim = getattr(backbone, "embed_dim", None)
    if src_dim is not None and dst_dim is not None and src_dim != dst_dim:
        cause = (
            f"the file is a {_vit_name(src_dim)} (embed dim {src_dim}) but the backbone is built "
            f"as a {_vit_name(dst_dim)} (embed_dim={dst_dim}); set embed_dim, depth and num_heads "
            "to the checkpoint's (e.g. a ViT-L file needs the ViT-L config)"
        )
    elif key == "patch_embed.proj.weight":
        cause = "patch_size or in_chans differ from the checkpoint's"
    elif ".mlp." in key:
        cause = "mlp_ratio differs from the checkpoint's"
    elif key == "pos_embed":
        cause = "the stored pos-embed grid is not square; convert it with an explicit target grid"
    else:
        cause = "the backbone architecture differs from the checkpoint's (see infer_vit_config)"
    return f"{msg} Likely cause: {cause}."
