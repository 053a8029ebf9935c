"""Read ImageNet-pretrained Swin weights into the key layout of
:class:`segvit.baselines.swin.SwinBackbone` (Detectron2's ``SwinTransformer``).

Supported files:

- Microsoft's official Swin releases, e.g. ``swin_tiny_patch4_window7_224.pth``: ``{"model": sd}``
  with ``patch_embed.*``, ``layers.{i}.blocks.{j}.*``, ``layers.{i}.downsample.*`` (end of stage
  i), the classifier's final ``norm.*`` and ``head.*``, and the buffers
  ``layers.{i}.blocks.{j}.attn.relative_position_index`` (Wh*Ww, Wh*Ww) and
  ``layers.{i}.blocks.{j}.attn_mask`` (nW, Wh*Ww, Wh*Ww; shifted blocks at 224x224 only).
- timm's Swin (``timm>=0.6`` layout): the same names, except that the patch merging of stage i is
  stored at the start of stage i + 1 (``layers.{i+1}.downsample.*``) and the head is ``head.fc.*``;
  it is moved back. timm does not save the buffers.

Our layout equals the official one minus what Detectron2's module does not register: ``head.*``
and the final ``norm.*`` (classifier side) and ``attn_mask`` (Detectron2 computes the shifted-window
mask for each input size in ``BasicLayer.forward``). ``relative_position_index`` is a persistent
buffer in Detectron2 too, so it is kept (and checked against Detectron2's own, which is the same
function of the window size). ``SwinBackbone``'s per-output norms ``norm{i}`` (i in
``out_indices``) have no counterpart in ImageNet files and stay at their LayerNorm initialisation.
"""

import logging
import math
import os
import re
from typing import Any, Dict, List, NamedTuple, Tuple

import torch

from .readers import read_state_dict

__all__ = [
    "SwinWeights",
    "to_swin_layout",
    "load_swin_state_dict",
    "infer_swin_config",
    "build_reference",
    "check_against_reference",
    "swin_name",
    "describe_dropped",
]

logger = logging.getLogger(__name__)

_DROPPED_PREFIXES = ("head.", "norm.")  # classifier and its final norm; not ``normN.``/``.norm.``
_DROPPED_SUFFIXES = ("attn_mask",)  # not registered by Detectron2's Swin (computed per input)
_REL_INDEX = "relative_position_index"
_OUTPUT_NORM = re.compile(r"^norm\d+\.")  # SwinBackbone's per-output norms, absent from ImageNet
_BLOCK = re.compile(r"^layers\.(\d+)\.blocks\.(\d+)\.")
_DOWNSAMPLE = re.compile(r"^layers\.(\d+)\.downsample\.")

_SWIN_NAMES = {
    (96, (2, 2, 6, 2)): "Swin-T",
    (96, (2, 2, 18, 2)): "Swin-S",
    (128, (2, 2, 18, 2)): "Swin-B",
    (192, (2, 2, 18, 2)): "Swin-L",
}


class SwinWeights(NamedTuple):
    """A Swin checkpoint in ``SwinBackbone``'s key layout.

    Attributes:
        state_dict (dict[str, Tensor]): e.g. ``patch_embed.proj.weight`` (C, 3, 4, 4),
            ``layers.{i}.blocks.{j}.attn.relative_position_bias_table`` ((2W-1)^2, heads_i),
            ``layers.{i}.downsample.reduction.weight`` (2 C_i, 4 C_i) with C_i = C * 2**i.
        dropped (list[str]): source keys dropped on purpose (head, final norm, attention masks).
        source_format (str): "official" or "timm".
    """

    state_dict: Dict[str, torch.Tensor]
    dropped: List[str]
    source_format: str


def to_swin_layout(state_dict: Dict[str, torch.Tensor]) -> SwinWeights:
    """Map an official (or timm) Swin state dict to ``SwinBackbone``'s keys; drop unused entries.

    Args:
        state_dict (dict[str, Tensor]): the file's tensors, unwrapped from ``"model"``.
    """
    if any(k.startswith("stages.") for k in state_dict):
        raise ValueError(
            "this looks like an mmcls/mmseg Swin checkpoint ('stages.N...' keys), which is not "
            "supported; use Microsoft's official file (e.g. swin_tiny_patch4_window7_224.pth)"
        )
    stages_with_merge = {int(m.group(1)) for k in state_dict if (m := _DOWNSAMPLE.match(k))}
    timm_layout = bool(stages_with_merge) and 0 not in stages_with_merge
    kept, dropped = {}, []
    for key, value in state_dict.items():
        if key.startswith(_DROPPED_PREFIXES) or key.endswith(_DROPPED_SUFFIXES):
            dropped.append(key)
            continue
        if timm_layout:  # timm: merge of stage i stored as layers.{i+1}.downsample
            key = _DOWNSAMPLE.sub(lambda m: f"layers.{int(m.group(1)) - 1}.downsample.", key)
        kept[key] = value
    return SwinWeights(kept, dropped, "timm" if timm_layout else "official")


def load_swin_state_dict(path: str) -> SwinWeights:
    """Read ``path`` (``.pth``/``.safetensors``; plain, ``"model"``- or ``"state_dict"``-wrapped)
    into ``SwinBackbone``'s layout and log what was dropped.

    Raises ``FileNotFoundError`` naming the path, ``ValueError`` for a non-Swin file.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Swin checkpoint not found: {path}")
    # read_state_dict also "maps mmseg ViT names"; its patterns (layers.N.ln1, .attn.attn., ...)
    # match no Swin key, so official/timm Swin files come back unchanged (reported as "mmseg").
    state_dict, _ = read_state_dict(path)
    weights = to_swin_layout(state_dict)
    if weights.dropped:
        logger.info(
            "Dropped from %s (unused by SwinBackbone): %s", path, describe_dropped(weights.dropped)
        )
    return weights


def infer_swin_config(state_dict: Dict[str, torch.Tensor]) -> Dict[str, Any]:
    """Infer ``SwinBackbone`` keyword arguments from a state dict in our layout.

    ``embed_dim``/``patch_size`` come from ``patch_embed.proj.weight`` (C, in_chans, P, P),
    ``depths`` from the block indices, ``num_heads`` from the width of each stage's
    ``relative_position_bias_table`` ((2W-1)^2, heads) and ``window_size`` W from its length.

    Returns:
        dict: ``embed_dim, depths, num_heads, window_size, patch_size, in_chans, mlp_ratio,
        qkv_bias, patch_norm, ape`` (and ``pretrain_img_size`` when ``ape``).
    """
    if "patch_embed.proj.weight" not in state_dict:
        raise ValueError("not a Swin state dict: 'patch_embed.proj.weight' is missing")
    embed_dim, in_chans, patch_size, _ = state_dict["patch_embed.proj.weight"].shape
    blocks: Dict[int, set] = {}
    for key in state_dict:
        if m := _BLOCK.match(key):
            blocks.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
    if not blocks or sorted(blocks) != list(range(len(blocks))):
        raise ValueError(f"not a Swin state dict: stages found {sorted(blocks)} (layers.N.blocks)")
    depths = tuple(max(blocks[i]) + 1 for i in range(len(blocks)))
    tables = [
        state_dict[f"layers.{i}.blocks.0.attn.relative_position_bias_table"]
        for i in range(len(depths))
    ]
    windows = {_window_size(t.shape[0]) for t in tables}
    if len(windows) != 1:
        raise ValueError(f"stages use different window sizes {sorted(windows)}; unsupported")
    fc1 = state_dict.get("layers.0.blocks.0.mlp.fc1.weight")
    cfg: Dict[str, Any] = dict(
        embed_dim=embed_dim,
        depths=depths,
        num_heads=tuple(t.shape[1] for t in tables),
        window_size=windows.pop(),
        patch_size=patch_size,
        in_chans=in_chans,
        mlp_ratio=4.0 if fc1 is None else fc1.shape[0] / embed_dim,
        qkv_bias="layers.0.blocks.0.attn.qkv.bias" in state_dict,
        patch_norm="patch_embed.norm.weight" in state_dict,
        ape="absolute_pos_embed" in state_dict,
    )
    if cfg["ape"]:  # (1, C, H/P, W/P)
        cfg["pretrain_img_size"] = state_dict["absolute_pos_embed"].shape[-1] * patch_size
    return cfg


def build_reference(arch: Dict[str, Any]):
    """A ``SwinBackbone`` with the dimensions of :func:`infer_swin_config`'s ``arch``, all four
    outputs (``norm0..norm3``), no drop path."""
    from segvit.baselines.swin import SwinBackbone  # imports maskformer2; keep it lazy

    if arch["in_chans"] != 3:
        raise ValueError(f"SwinBackbone takes 3 input channels, the file has {arch['in_chans']}")
    keys = ("embed_dim", "depths", "num_heads", "window_size", "patch_size", "mlp_ratio")
    kwargs = {k: arch[k] for k in keys + ("qkv_bias", "patch_norm", "ape")}
    if arch["ape"]:
        kwargs["pretrain_img_size"] = arch["pretrain_img_size"]
    return SwinBackbone(**kwargs, drop_path_rate=0.0, out_indices=tuple(range(len(arch["depths"]))))


def check_against_reference(
    state_dict: Dict[str, torch.Tensor], reference: torch.nn.Module, source: str = "checkpoint"
) -> Tuple[Dict[str, torch.Tensor], List[str], List[str]]:
    """Strict key/shape check of a state dict in our layout against ``reference``.

    Shapes are compared first, then the key sets; the only keys the file may lack are the
    per-output norms ``norm{i}.*`` and (timm files) ``relative_position_index``, which is filled in
    from ``reference``. Stored ``relative_position_index`` buffers must equal the reference's.

    Args:
        state_dict (dict[str, Tensor]): output of :func:`to_swin_layout`.
        reference (SwinBackbone): e.g. ``build_reference(infer_swin_config(state_dict))``.
        source (str): the file name, for the error messages.

    Returns:
        tuple[dict, list[str], list[str]]: the state dict completed with the added buffers; the
        keys of ``reference`` it leaves at their initialisation (``norm{i}.*``); the keys added
        from ``reference`` (``relative_position_index``, timm files only).

    Raises:
        ValueError: naming ``source``, the tensor and both shapes (or the missing/extra keys).
    """
    own = reference.state_dict()
    desc = _describe(reference)
    for key, value in state_dict.items():
        if key in own and value.shape != own[key].shape:
            raise ValueError(
                f"{source}: tensor '{key}' has shape {tuple(value.shape)} but {desc}, built with "
                f"the file's own dimensions, expects {tuple(own[key].shape)}; the file is "
                "inconsistent or not an official Swin checkpoint."
            )
        if key.endswith(_REL_INDEX) and key in own and not torch.equal(value, own[key]):
            raise ValueError(
                f"{source}: buffer '{key}' differs from Detectron2's relative_position_index for "
                f"{desc}; the file was not made with the official Swin indexing."
            )
    out = dict(state_dict)
    added = [k for k in own if k.endswith(_REL_INDEX) and k not in out]
    out.update({k: own[k].clone() for k in added})
    left = [k for k in own if k not in out]
    missing = [k for k in left if not _OUTPUT_NORM.match(k)]
    unexpected = [k for k in out if k not in own]
    if missing or unexpected:
        raise ValueError(
            f"{source}: keys do not match {desc}: missing {_summarise(missing) or 'none'}; "
            f"unexpected {_summarise(unexpected) or 'none'}"
        )
    return out, left, added


def swin_name(arch: Dict[str, Any]) -> str:
    """Swin-T/S/B/L for the released sizes (e.g. "Swin-T"), else "Swin (custom size)"."""
    return _SWIN_NAMES.get((arch["embed_dim"], tuple(arch["depths"])), "Swin (custom size)")


def describe_dropped(dropped: List[str]) -> str:
    """The dropped keys, with the many ``attn_mask`` buffers counted rather than listed."""
    masks = [k for k in dropped if k.endswith("attn_mask")]
    parts = [k for k in dropped if k not in masks]
    if masks:
        parts.append(f"{len(masks)} attn_mask buffer{'s' * (len(masks) > 1)}")
    return ", ".join(parts) or "nothing"


# ---------------------------------------------------------------------------------------------
# helpers


def _window_size(table_len: int) -> int:
    """(2W-1)^2 table rows -> W."""
    side = math.isqrt(table_len)
    if side * side != table_len or side % 2 == 0:
        raise ValueError(f"relative_position_bias_table with {table_len} rows is not (2W-1)^2")
    return (side + 1) // 2


def _describe(model: torch.nn.Module) -> str:
    depths = tuple(len(layer.blocks) for layer in model.layers)
    heads = tuple(layer.blocks[0].attn.num_heads for layer in model.layers)
    window = model.layers[0].window_size
    return (
        f"SwinBackbone(embed_dim={model.embed_dim}, depths={depths}, num_heads={heads}, "
        f"window_size={window})"
    )


def _summarise(keys: List[str], limit: int = 8) -> str:
    """Comma-separated keys, at most ``limit`` of them."""
    more = f", ... ({len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more
