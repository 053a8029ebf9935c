"""The released SegViT checkpoints (official mmseg 0.24 code, zbwxp/SegVit) in our model layout.

An official checkpoint is an mmcv file ``{"meta": {...}, "state_dict": {...}, ...}`` whose state
dict holds ``backbone.*`` (mmseg ``VisionTransformer`` / ``vit_shrink``) and ``decode_head.*``
(``ATMHead`` or ``TPNATMHead``) tensors; ``tests/checkpoint/official_segvit_keys/*.txt`` lists
every name and shape of the five released files (read from the files the official README links).

- :func:`read_official_checkpoint` reads such a file with
  :func:`~segvit.checkpoint.safe_io.read_weights`, allowing only the few extra types an mmcv
  ``meta`` dict needs (numpy scalars, arrays, dtypes); any other Python global is refused, with
  its name, before anything is unpickled.
- :func:`convert_official_state_dict` maps every tensor to our name (``backbone.blocks.N...``,
  ``head.decoders.S.L...``), drops what has no counterpart on purpose (the unused class token and
  its position in ``pos_embed``, the loss's constant class weights), and refuses with the tensor
  and both shapes when anything does not fit the model built from the config.

The mapping is one table of name templates, read in both directions by :func:`translate_name`.
Stage numbers are 1-based in the official names (``decoder_1``, ``input_proj_1``) and 0-based in
ours (``decoders.0``).
"""

import functools
import importlib
import math
import re
import warnings
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from torch import Tensor, nn

from segvit.modeling.backbone.vit import ViT
from segvit.modeling.heads.atm_head import ATMHead
from segvit.modeling.heads.qu_head import QUATMHead

from .safe_io import CheckpointError, read_weights

__all__ = [
    "OfficialCheckpointError",
    "Conversion",
    "ALLOWED_META_GLOBALS",
    "read_official_checkpoint",
    "official_state_dict",
    "convert_official_state_dict",
    "official_head_kind",
    "translate_name",
]


class OfficialCheckpointError(CheckpointError):
    """A file that cannot be read or converted safely; the message says what and how to fix it."""


class Conversion(NamedTuple):
    """The result of :func:`convert_official_state_dict`.

    Attributes:
        state_dict (dict[str, Tensor]): tensors named as the model's ``state_dict()``.
        mapped (list[tuple[str, str]]): (official name, our name) for every converted tensor.
        dropped (list[tuple[str, str]]): (official name or part of it, why it has no counterpart).
    """

    state_dict: Dict[str, Tensor]
    mapped: List[Tuple[str, str]]
    dropped: List[Tuple[str, str]]


# ----------------------------------------------------------------------------- safe reading


def _numpy_globals() -> List[Any]:
    """The numpy types an mmcv ``meta`` dict can pickle (seeds, palettes), for numpy 1.x and 2.x:
    scalars (``multiarray.scalar`` + ``dtype``), arrays (``_reconstruct`` + ``ndarray``) and the
    dtype classes of numeric, bool and string dtypes (pickled by numpy >= 1.25 in some cases)."""
    import numpy as np

    allowed: List[Any] = [np.ndarray, np.dtype]
    for module_name in ("numpy.core.multiarray", "numpy._core.multiarray"):
        try:
            with warnings.catch_warnings():  # numpy 2 warns that numpy.core is deprecated
                warnings.simplefilter("ignore")
                module = importlib.import_module(module_name)
        except ImportError:  # the other numpy major version
            continue
        for name in ("scalar", "_reconstruct"):
            # (object, "module.name") pairs: the name as the pickle spells it
            allowed.append((getattr(module, name), f"{module_name}.{name}"))
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        for code in "? i1 i2 i4 i8 u1 u2 u4 u8 f2 f4 f8 U S".split():  # no object dtype
            dtype_class = type(np.dtype(code))
            allowed.append((dtype_class, f"numpy.dtypes.{dtype_class.__name__}"))
    return allowed


def _allowed_meta_globals() -> List[Any]:
    try:
        return _numpy_globals()
    except ImportError:  # no numpy: nothing extra to allow
        return []


# Python globals allowed on top of torch's weights-only defaults (tensors, dicts, lists, tuples,
# OrderedDict, str, int, float, bool, None): exactly what an mmcv checkpoint's ``meta`` needs.
ALLOWED_META_GLOBALS = _allowed_meta_globals()


def read_official_checkpoint(path: str) -> Dict[str, Any]:
    """Read an mmcv/mmseg checkpoint file without running code from it.

    :func:`~segvit.checkpoint.safe_io.read_weights` with :data:`ALLOWED_META_GLOBALS`: weights
    only, whatever ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` says, and a refusal names every global
    that is not allowed.

    Returns:
        dict: the checkpoint (``"state_dict"``, ``"meta"``, possibly ``"optimizer"``).

    Raises:
        OfficialCheckpointError: missing, damaged or not a torch file, a global outside the
            allowed set, not a dict.
    """
    try:
        # zip files are memory-mapped: an optimizer state in the file costs no memory
        checkpoint = read_weights(path, allowed_globals=ALLOWED_META_GLOBALS, mmap=True)
    except FileNotFoundError:
        raise OfficialCheckpointError(
            f"{path}: no such file (the official .pth checkpoint)"
        ) from None
    except CheckpointError as e:
        raise OfficialCheckpointError(str(e)) from None
    if not isinstance(checkpoint, dict):
        raise OfficialCheckpointError(
            f"{path}: holds a {type(checkpoint).__name__}, not an mmcv checkpoint dict"
        )
    return checkpoint


def official_state_dict(checkpoint: Dict[str, Any], path: str = "checkpoint") -> Dict[str, Tensor]:
    """The tensors of ``checkpoint["state_dict"]`` (or of a bare state dict), names unchanged."""
    state = checkpoint.get("state_dict", checkpoint)
    if not isinstance(state, dict):
        raise OfficialCheckpointError(f"{path}: 'state_dict' is a {type(state).__name__}")
    tensors = {k: v for k, v in state.items() if isinstance(v, Tensor)}
    if not any(k.startswith(("backbone.", "decode_head.")) for k in tensors):
        raise OfficialCheckpointError(
            f"{path}: no 'backbone.*' or 'decode_head.*' tensors in its state dict "
            f"(top-level keys: {list(checkpoint)[:10]}); not an official SegViT checkpoint"
        )
    return tensors


# ----------------------------------------------------------------------------- name mapping

# Placeholders of the name templates and what they match. {s} is a stage number: official = ours
# + 1. {i} and {n} are copied as they are.
_PLACEHOLDERS = {
    "i": r"\d+",
    "n": r"\d+",
    "s": r"\d+",
    "p": r"weight|bias",
    "a": r"q|k|v|proj",
}

# mmseg VisionTransformer (mmcv MultiheadAttention with a fused in_proj = q|k|v rows, the same
# order as timm's qkv) -> our timm-named ViT. pos_embed is handled separately (class position).
_BACKBONE = (
    ("backbone.patch_embed.projection.{p}", "backbone.patch_embed.proj.{p}"),
    ("backbone.layers.{i}.ln1.{p}", "backbone.blocks.{i}.norm1.{p}"),
    ("backbone.layers.{i}.attn.attn.in_proj_{p}", "backbone.blocks.{i}.attn.qkv.{p}"),
    ("backbone.layers.{i}.attn.attn.out_proj.{p}", "backbone.blocks.{i}.attn.proj.{p}"),
    ("backbone.layers.{i}.ln2.{p}", "backbone.blocks.{i}.norm2.{p}"),
    ("backbone.layers.{i}.ffn.layers.0.0.{p}", "backbone.blocks.{i}.mlp.fc1.{p}"),
    ("backbone.layers.{i}.ffn.layers.1.{p}", "backbone.blocks.{i}.mlp.fc2.{p}"),
)


def _decoder_layer(official: str, ours: str, atm: bool) -> Tuple[Tuple[str, str], ...]:
    """One post-norm decoder layer: ATM (custom cross-attention ``multihead_attn.{q,k,v,proj}``
    -> our ``cross_attn``) or standard ``nn.TransformerDecoderLayer`` (same names both sides)."""
    cross = (
        ((".multihead_attn.{a}.{p}", ".cross_attn.{a}.{p}"),)
        if atm
        else (
            (".multihead_attn.in_proj_{p}", ".multihead_attn.in_proj_{p}"),
            (".multihead_attn.out_proj.{p}", ".multihead_attn.out_proj.{p}"),
        )
    )
    inner = (
        (".self_attn.in_proj_{p}", ".self_attn.in_proj_{p}"),
        (".self_attn.out_proj.{p}", ".self_attn.out_proj.{p}"),
        *cross,
        (".linear{n}.{p}", ".linear{n}.{p}"),
        (".norm{n}.{p}", ".norm{n}.{p}"),
    )
    return tuple((official + a, ours + b) for a, b in inner)


_PROJECTIONS = (
    ("decode_head.input_proj_{s}.{p}", "head.input_proj.{s}.{p}"),
    ("decode_head.proj_norm_{s}.{p}", "head.proj_norm.{s}.{p}"),
)

# Official ATMHead (cascade of stages) -> our ATMHead.
_ATM_HEAD = (
    *_PROJECTIONS,
    *_decoder_layer("decode_head.decoder_{s}.layers.{i}", "head.decoders.{s}.{i}", atm=True),
    ("decode_head.q.weight", "head.query_embed.weight"),
    ("decode_head.class_embed.{p}", "head.class_embed.{p}"),
)

# Official TPNATMHead (QU decoders + an ATMSingleHead called ``atm``) -> our QUATMHead.
_QU_ATM_HEAD = (
    *_PROJECTIONS,
    *_decoder_layer("decode_head.decoder_{s}.layers.{i}", "head.qu_decoders.{s}.{i}", atm=False),
    ("decode_head.q.weight", "head.qu_queries.weight"),
    *_decoder_layer("decode_head.atm.decoder_1.layers.{i}", "head.atm.layers.{i}", atm=True),
    ("decode_head.atm.q.weight", "head.atm.query_embed.weight"),
    ("decode_head.atm.class_embed.{p}", "head.atm.class_embed.{p}"),
)

_HEAD_RULES = {"atm": _ATM_HEAD, "qu_atm": _QU_ATM_HEAD}

# Official tensors without a counterpart, on purpose.
_DROPPED = {
    "backbone.cls_token": "class token: the official backbone runs with with_cls_token=False "
    "(the token is dropped before block 0), ours has none",
    "decode_head.loss_decode.criterion.empty_weight": "the loss's constant class weights "
    "(1 per class, eos_coef for no-object); ATMCriterion(no_object_weight=...) makes them",
    "decode_head.atm.loss_decode.criterion.empty_weight": "the loss's constant class weights "
    "(1 per class, eos_coef for no-object); ATMCriterion(no_object_weight=...) makes them",
}
_POS_EMBED = "backbone.pos_embed"
_MAX_PROBLEMS_SHOWN = 12  # per kind of problem


@functools.lru_cache(maxsize=None)
def _compile(template: str) -> "re.Pattern[str]":
    pattern = re.escape(template)
    for key, value in _PLACEHOLDERS.items():
        pattern = pattern.replace(re.escape("{" + key + "}"), f"(?P<{key}>{value})")
    return re.compile(pattern + "$")


def translate_name(name: str, kind: str, *, to_ours: bool = True) -> Optional[str]:
    """Our name for an official tensor name (``to_ours``) or the official name for ours.

    Args:
        name: a tensor name (official ``backbone.layers.0.ln1.weight``, ours
            ``backbone.blocks.0.norm1.weight``).
        kind: the head, from :func:`official_head_kind`: "atm" or "qu_atm".
        to_ours: the direction.

    Returns:
        The other side's name, or None if no template matches (``pos_embed``, the class token and
        the loss weights are handled by the caller: they differ in shape or have no counterpart).
    """
    for official, ours in (*_BACKBONE, *_HEAD_RULES[kind]):
        source, target = (official, ours) if to_ours else (ours, official)
        match = _compile(source).match(name)
        if match is None:
            continue
        values = match.groupdict()
        if "s" in values:
            values["s"] = str(int(values["s"]) + (-1 if to_ours else 1))
        return target.format(**values)
    return None


def official_head_kind(model: nn.Module) -> str:
    """ "atm" (our ATMHead = official ATMHead) or "qu_atm" (QUATMHead = official TPNATMHead)."""
    backbone, head = getattr(model, "backbone", None), getattr(model, "head", None)
    if not isinstance(backbone, ViT):
        raise OfficialCheckpointError(
            f"the config's backbone is {type(backbone).__name__}; the released SegViT "
            "checkpoints need a plain or Shrunk ViT (segvit.modeling.backbone.vit.ViT)"
        )
    if isinstance(head, QUATMHead):
        return "qu_atm"
    if isinstance(head, ATMHead):
        return "atm"
    raise OfficialCheckpointError(
        f"the config's head is {type(head).__name__}; the released SegViT checkpoints have an "
        "ATMHead (configs/*/segvit_vit_*) or a QUATMHead (configs/*/segvit_shrunk_*)"
    )


def _shape(t: Tensor) -> Tuple[int, ...]:
    return tuple(t.shape)


def _pos_embed_problem(tensor: Tensor, want: Tuple[int, ...], model: nn.Module) -> str:
    """Why the official pos-embed (1, 1 + h*w, C) does not fit ours ``want`` = (1, H*W, C)."""
    official_want = (1, want[1] + 1, want[2])
    text = (
        f"{_POS_EMBED} {_shape(tensor)} does not fit our {_POS_EMBED} {tuple(want)} (official "
        f"layout {official_want}: 1 class-token position + the grid)"
    )
    if tensor.dim() == 3 and tensor.shape[1] != official_want[1]:
        gh, gw = model.backbone.pretrain_grid
        num = tensor.shape[1] - 1
        side = math.isqrt(max(num, 0))
        grid = f"a {side}x{side} grid" if side * side == num else f"{num} grid positions"
        patch = model.backbone.patch_size
        text += (
            f": the file holds {grid}, the config's model.backbone.pretrain_img_size="
            f"{gh * patch} gives {gh}x{gw}. Use the config of this checkpoint's crop "
            f"(grid = crop / {patch})"
        )
    return text


def convert_official_state_dict(official: Dict[str, Tensor], model: nn.Module) -> Conversion:
    """Map an official SegViT state dict onto ``model`` (a SegViT built from our config).

    ``model`` supplies the expected names and shapes only; it may live on the "meta" device.

    Raises:
        OfficialCheckpointError: listing every problem: an official tensor no rule maps, a
            model tensor the file lacks, and each shape mismatch with the tensor's names and
            both shapes (a wrong config for the file, a pos-embed of another grid).
    """
    kind = official_head_kind(model)
    expected = model.state_dict()
    converted: Dict[str, Tensor] = {}
    mapped: List[Tuple[str, str]] = []
    dropped: List[Tuple[str, str]] = []
    mismatched: List[str] = []  # shape does not fit (named with both shapes)
    unplaced: List[str] = []  # official tensors with no place in the model
    reported = set()  # our names already named in a mismatch

    for name, tensor in official.items():
        if name in _DROPPED:
            dropped.append((name, _DROPPED[name]))
            continue
        if name == _POS_EMBED:
            ours = _POS_EMBED
            want = expected[ours].shape  # (1, h*w, C)
            if tensor.dim() != 3 or _shape(tensor) != (1, want[1] + 1, want[2]):
                mismatched.append(_pos_embed_problem(tensor, _shape(expected[ours]), model))
                reported.add(ours)
                continue
            tensor = tensor[:, 1:].clone()  # (1, h*w, C): drop the class token's position
            dropped.append((f"{name}[:, 0]", "the class token's position (no class token)"))
        else:
            ours = translate_name(name, kind)
            if ours is None or ours not in expected:
                where = f"maps to {ours}, which" if ours else "has no rule and"
                unplaced.append(f"{name} {_shape(tensor)} {where} is not in the config's model")
                continue
            if _shape(tensor) != _shape(expected[ours]):
                mismatched.append(
                    f"{name} {_shape(tensor)} does not fit our {ours} {_shape(expected[ours])}"
                )
                reported.add(ours)
                continue
        converted[ours] = tensor
        mapped.append((name, ours))

    missing = [
        f"our {k} {_shape(expected[k])} has no tensor in the file"
        for k in expected
        if k not in converted and k not in reported
    ]
    if mismatched or unplaced or missing:
        raise OfficialCheckpointError(
            "the file does not fit the config's model (is it the config of this checkpoint?)"
            + _head_hint(official, kind)
            + _problem_list("shape(s) do not fit", mismatched)
            + _problem_list("tensor(s) of the file have no place in the model", unplaced)
            + _problem_list("tensor(s) of the model are missing from the file", missing)
        )
    return Conversion(converted, mapped, dropped)


def _head_hint(official: Dict[str, Tensor], kind: str) -> str:
    """A sentence when the file's head type (TPNATMHead has ``decode_head.atm.*``) is not the
    config's."""
    shrunk_file = any(k.startswith("decode_head.atm.") for k in official)
    if shrunk_file and kind == "atm":
        return (
            ".\n  The file is a Shrunk SegViT (official TPNATMHead: decode_head.atm.*) and the "
            "config builds an ATMHead: use a configs/*/segvit_shrunk_vit_l16_* config"
        )
    if not shrunk_file and kind == "qu_atm":
        return (
            ".\n  The file is a plain SegViT (official ATMHead) and the config builds a "
            "QUATMHead: use a configs/*/segvit_vit_* config"
        )
    return ""


def _problem_list(title: str, problems: List[str]) -> str:
    """``problems`` under a title, at most ``_MAX_PROBLEMS_SHOWN`` of them; "" if none."""
    if not problems:
        return ""
    shown = problems[:_MAX_PROBLEMS_SHOWN]
    more = f"\n    ... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
    return f"\n  {len(problems)} {title}:\n    " + "\n    ".join(shown) + more
