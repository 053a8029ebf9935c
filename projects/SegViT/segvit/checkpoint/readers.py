"""Reading ViT checkpoint files (timm ``.pth``/``.safetensors``, mmseg ``.pth``, Google ``.npz``)
into one dict of timm-named tensors; mapping them to our backbone is ``vit_weights.py``'s job."""

import re
from typing import Any, Dict, Tuple

import torch

from segvit.modeling.backbone.utils import square_grid

from .safe_io import CheckpointError, read_weights

__all__ = ["read_state_dict"]

# mmseg ``VisionTransformer`` names -> timm names (inverse of mmseg's vit2mmseg.py converter).
_MMSEG_TO_TIMM = (
    (r"^patch_embed\.projection\.", "patch_embed.proj."),
    (r"^layers\.(\d+)\.ln([12])\.", r"blocks.\1.norm\2."),
    (r"^layers\.(\d+)\.attn\.attn\.in_proj_(weight|bias)$", r"blocks.\1.attn.qkv.\2"),
    (r"^layers\.(\d+)\.attn\.attn\.out_proj\.", r"blocks.\1.attn.proj."),
    (r"^layers\.(\d+)\.ffn\.layers\.0\.0\.", r"blocks.\1.mlp.fc1."),
    (r"^layers\.(\d+)\.ffn\.layers\.1\.", r"blocks.\1.mlp.fc2."),
    (r"^ln1\.", "norm."),  # mmseg's final norm
)


def read_state_dict(path: str) -> Tuple[Dict[str, torch.Tensor], str]:
    """Read a ViT checkpoint file into timm key names, on CPU, without dropping anything.

    Returns:
        tuple[dict[str, Tensor], str]: the state dict and its source format ("timm", "mmseg" or
        "npz").

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: the file is unsafe, damaged, not a weight file, or holds no tensors.
    """
    loaded = read_weights(path)  # checks the file and refuses anything but weights
    if path.endswith(".npz"):
        return _read_npz(path, loaded), "npz"
    state_dict = _unwrap(loaded, path)
    if any(k.startswith(("layers.", "patch_embed.projection.")) for k in state_dict):
        return _mmseg_to_timm(state_dict), "mmseg"
    return state_dict, "timm"


def _unwrap(obj: Any, path: str) -> Dict[str, torch.Tensor]:
    """Find the state dict inside a checkpoint and strip DDP / detector prefixes."""
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict of tensors, got {type(obj).__name__}")
    for wrapper in ("model", "state_dict"):
        if isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
            break
    state_dict = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    for prefix in ("module.", "backbone."):  # DDP; Detectron2 / mmseg segmentor checkpoints
        if any(k.startswith(prefix) for k in state_dict):
            state_dict = {
                k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)
            }
    if not state_dict:
        raise CheckpointError(f"{path}: no tensors found; not a ViT weights file")
    return state_dict


def _mmseg_to_timm(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    out = {}
    for key, value in state_dict.items():
        for pattern, repl in _MMSEG_TO_TIMM:
            key, n = re.subn(pattern, repl, key)
            if n:
                break
        out[key] = value
    return out


def _read_npz(path: str, w: Dict[str, Any]) -> Dict[str, torch.Tensor]:
    """Google ViT ``.npz`` (its arrays ``w``, already read safely) -> timm state dict: build a
    matching timm ViT and use timm's loader (which reads the file with ``allow_pickle=False``)."""
    from timm.models.vision_transformer import VisionTransformer, _load_weights

    keys = set(w)
    prefix = next(
        (
            p
            for p in ("opt/target/", "params/img/", "params/", "")
            if f"{p}embedding/kernel" in keys
        ),
        None,
    )
    if prefix is None:
        raise ValueError(f"{path}: no 'embedding/kernel' array; not a Google ViT .npz")
    kh, kw, in_chans, embed_dim = w[f"{prefix}embedding/kernel"].shape
    pos_key = f"{prefix}Transformer/posembed_input/pos_embedding"
    pos_key = pos_key if pos_key in keys else f"{prefix}pos_embedding"
    num_pos = w[pos_key].shape[1]
    has_cls = f"{prefix}cls" in keys
    block_re = re.compile(re.escape(prefix) + r"Transformer/encoderblock(?:_(\d+))?/")
    stacked = f"{prefix}Transformer/encoderblock/LayerNorm_0/scale" in keys
    if stacked:  # big_vision "scan" layout: arrays stacked over blocks
        depth = w[f"{prefix}Transformer/encoderblock/LayerNorm_0/scale"].shape[0]
    else:
        depth = 1 + max(int(m.group(1)) for k in keys if (m := block_re.match(k)) and m.group(1))
    first = "encoderblock/" if stacked else "encoderblock_0/"
    block0 = [k for k in keys if k.startswith(f"{prefix}Transformer/{first}")]
    num_heads = next(w[k].shape[-2] for k in block0 if k.endswith("/query/kernel"))
    mlp_dim = next(w[k].shape[-1] for k in block0 if re.search(r"MlpBlock_\d+/Dense_0/kernel$", k))
    num_classes = w[f"{prefix}head/bias"].shape[-1] if f"{prefix}head/bias" in keys else 0
    has_map = any(k.startswith(f"{prefix}MAPHead_0/") for k in keys)

    if kh != kw:
        raise NotImplementedError(f"{path}: non-square patches {kh}x{kw} are not supported")
    g = square_grid(num_pos - int(has_cls))
    if g is None:
        raise ValueError(f"{path}: pos embedding of {num_pos} positions is not a square grid")
    model = VisionTransformer(
        img_size=g * kh,
        patch_size=kh,
        in_chans=in_chans,
        num_classes=num_classes,
        global_pool="token" if has_cls else ("map" if has_map else "avg"),
        embed_dim=embed_dim,
        depth=depth,
        num_heads=num_heads,
        mlp_ratio=mlp_dim / embed_dim,
        qkv_bias=True,
        class_token=has_cls,
        fc_norm=False,  # the npz's encoder_norm is timm's ``norm``
        weight_init="skip",
    )
    _load_weights(model, path)
    return dict(model.state_dict())
