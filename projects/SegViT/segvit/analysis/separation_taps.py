"""Reading per-pixel features out of any model for the separation statistics (separation.py).

A tap is ``"<module path>[/<key>][:input|:patches]"``: a forward hook on that submodule of the
model records its output (``:input``: its first input) during one whole-image inference pass. A
4-D (B, C, h, w) tensor is used as it is; a 3-D (B, N, C) token tensor is reshaped to the token
grid after dropping leading prefix tokens (class token); ``:patches`` first drops the trailing
class tokens (``num_classes`` of the closest enclosing module that has it: Segmenter's and
DEPICT-SA's class embeddings follow the patches). A dict output gives one feature per key
(``"<path>/<key>"``, e.g. RSSeg-R's ``head.sasm`` gives ``fused`` and ``separated``);
``"<path>/<key>"`` as a tap keeps that key only.

``vit_block_taps`` lists every ViT block, wherever the backbone nests the ViT (``backbone.blocks``
for SegViT and the per-pixel decoders, ``backbone.net.blocks`` under ViTDet's
``SimpleFeaturePyramid`` in the MaskFormer/Mask2Former configs). Shrunk SegViT's query
down-sampling block runs on the block's weights without calling the block module, so no hook on it
fires: its output is read as the input of the next block (the same tensor, ``ViT.forward`` passes
it on unchanged). ``block_index`` maps a tap to its block, to line up models whose block taps are
named differently.

``decoder_feature_tap`` names each decoder's **decoder feature**: the last per-pixel feature from
which its masks / logits are computed, i.e. what enters the final linear map and per-class product
(classifier, class-embedding or mask-embedding product), so that decoders that separate classes
after the ViT are compared where they separate:

::

    decoder        tap                                       why
    SETR-naive     head.classifier:input                     the input of the final 1x1 classifier
                                                             conv (1/16)
    Segmenter      head.decoder_norm:patches                 the patch tokens after the mask
                                                             transformer and decoder_norm: times
                                                             proj_patch, L2-normalised, they meet
                                                             the class embeddings
    DEPICT-SA      head.decoder_norm:patches                 the same, without a projection
    DEPICT-CA      head.patch_norm                           the patch tokens after the
                                                             self-attention layers: keys of the
                                                             class embeddings' cross-attention,
                                                             patches of the mask product
    SegViT         head.proj_norm.<last stage>               the last ATM stage's memory (input
    (ATMHead)                                                projection + LayerNorm): its keys give
                                                             that stage's masks; the final masks add
                                                             the earlier stages'
    Shrunk SegViT  head.atm.proj_norm                        the query-upsampled 1/16 map, the
    (QUATMHead)                                              memory of the one ATM stage (whose
                                                             projection is an Identity)
    Naive Shrunk   head.proj_norm                            the memory of its one ATM stage
    (ATMSingle-
    StageHead)
    RSSeg-R        head.sasm/separated                       SASM's S, the input of DCA (logits:
                                                             class embeddings times a 1x1 conv of S)
                                                             or of the 1x1 classifier
    MaskFormer,    sem_seg_head.pixel_decoder.mask_features  the pixel decoder's mask features
    Mask2Former                                              (1/4), times the queries' mask
                                                             embeddings (maskformer2
                                                             forward_prediction_heads)
"""

import dataclasses
import math
import re
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from ..modeling.heads import (
    ATMHead,
    ATMSingleStageHead,
    DEPICTHead,
    QUATMHead,
    RSSegRHead,
    SegmenterMaskHead,
    SETRNaiveHead,
)
from .separation import SeparationAccumulator

__all__ = [
    "vit_backbone",
    "vit_block_taps",
    "block_index",
    "decoder_feature_tap",
    "default_taps",
    "FeatureTaps",
    "run_separation",
]


_BLOCK_TAP = re.compile(r"^backbone(?:\.\w+)*?\.blocks\.(\d+)(:input)?$")


def vit_backbone(model: nn.Module) -> Tuple[str, Optional[nn.Module]]:
    """The module path and module of the ViT in ``model.backbone``: the shallowest module at or
    under ``backbone`` with a ``blocks`` ModuleList (``("", None)`` when there is none)."""
    found = [
        (name, module)
        for name, module in model.named_modules()
        if (name == "backbone" or name.startswith("backbone."))
        and isinstance(getattr(module, "blocks", None), nn.ModuleList)
    ]
    return min(found, key=lambda item: item[0].count("."), default=("", None))


def vit_block_taps(model: nn.Module) -> List[str]:
    """A tap per ViT block, in block order: ``<vit path>.blocks.<i>``; Shrunk SegViT's
    query down-sampling block ``i`` (``shrink_idx``, mode ``"q"``) as ``<vit
    path>.blocks.<i+1>:input`` (left out when it is the last block: nothing reads its output
    unchanged). Empty when the backbone has no ViT blocks."""
    path, vit = vit_backbone(model)
    if vit is None:
        return []
    depth = len(vit.blocks)
    shrink = getattr(vit, "shrink_idx", depth) if getattr(vit, "qd_mode", "q") == "q" else depth
    taps = []
    for i in range(depth):
        if i != shrink:
            taps.append(f"{path}.blocks.{i}")
        elif i + 1 < depth:
            taps.append(f"{path}.blocks.{i + 1}:input")
    return taps


def block_index(tap: str) -> Optional[int]:
    """The ViT block whose output the feature ``tap`` is: ``backbone[.net].blocks.<i>`` -> i,
    ``backbone[.net].blocks.<i>:input`` -> i - 1 (None for block 0's input, the embedded
    patches), None for any other feature (a head's modules, a dict key of a tap)."""
    match = _BLOCK_TAP.match(tap)
    if match is None:
        return None
    index = int(match.group(1)) - (1 if match.group(2) else 0)
    return index if index >= 0 else None


def decoder_feature_tap(model: nn.Module) -> Optional[str]:
    """The tap of the model's decoder feature (module doc's table), None for an unknown head."""
    head = getattr(model, "head", None)
    if isinstance(head, SETRNaiveHead):
        return "head.classifier:input"
    if isinstance(head, SegmenterMaskHead) or (isinstance(head, DEPICTHead) and head.mode == "sa"):
        return "head.decoder_norm:patches"
    if isinstance(head, DEPICTHead):
        return "head.patch_norm"
    if isinstance(head, ATMHead):
        return f"head.proj_norm.{len(head.proj_norm) - 1}"
    if isinstance(head, QUATMHead):
        return "head.atm.proj_norm"
    if isinstance(head, ATMSingleStageHead):
        return "head.proj_norm"
    if isinstance(head, RSSegRHead):
        return "head.sasm/separated"
    pixel_decoder = getattr(getattr(model, "sem_seg_head", None), "pixel_decoder", None)
    if isinstance(getattr(pixel_decoder, "mask_features", None), nn.Module):
        return "sem_seg_head.pixel_decoder.mask_features"
    return None


def default_taps(model: nn.Module) -> List[str]:
    """Every ViT block; RSSeg-R's local pathway and SASM when the head has them; then the
    decoder feature (``decoder_feature_tap``) unless a tap before already gives it."""
    taps = vit_block_taps(model)
    head = getattr(model, "head", None)
    for name in ("local_path", "sasm"):
        if head is not None and hasattr(head, name):
            taps.append(f"head.{name}")
    decoder = decoder_feature_tap(model)
    if decoder is not None and not any(decoder == t or decoder.startswith(t + "/") for t in taps):
        taps.append(decoder)
    return taps


def _parse_tap(tap: str) -> Tuple[str, str, str]:
    """``"<module path>[/<key>][:<kind>]"`` -> (module path, dict key or "", kind or "")."""
    where, _, kind = tap.partition(":")
    path, _, key = where.partition("/")
    if kind not in ("", "input", "output", "patches"):
        raise ValueError(
            f"separation tap {tap!r}: the suffix must be ':input', ':patches' or none."
        )
    return path, key, kind


def _num_class_tokens(modules: Dict[str, nn.Module], path: str, tap: str) -> int:
    """``num_classes`` of the closest module enclosing ``path`` (``:patches`` taps)."""
    parts = path.split(".")
    for end in range(len(parts) - 1, -1, -1):
        count = getattr(modules[".".join(parts[:end])], "num_classes", None)
        if isinstance(count, int):
            return count
    raise ValueError(
        f"separation tap {tap!r}: ':patches' drops the class tokens, but no module enclosing "
        f"{path!r} has an int num_classes; tap the patch tokens without ':patches'."
    )


def _as_maps(value, padded_hw: Sequence[int]) -> Optional[Dict[str, Tensor]]:
    """Hook value -> {suffix: (C, h, w)} for the batch's first image (None if not a feature)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            maps = _as_maps(item, padded_hw)
            if maps:
                out.update({f"/{key}{k}": v for k, v in maps.items()})
        return out
    if isinstance(value, (tuple, list)):
        return _as_maps(value[0], padded_hw) if value else None
    if not isinstance(value, Tensor):
        return None
    if value.dim() == 4:
        return {"": value[0]}
    if value.dim() == 3:  # (B, N, C) tokens: find the grid with the image's aspect
        n = value.shape[1]
        for scale in (1, 2, 4, 8, 16, 32, 64):
            h, w = math.ceil(padded_hw[0] / scale), math.ceil(padded_hw[1] / scale)
            if 0 < h * w <= n and n - h * w <= 8:
                tokens = value[0, n - h * w :]
                return {"": tokens.transpose(0, 1).reshape(-1, h, w)}
    return None


class FeatureTaps:
    """Forward hooks that record the tapped features of the next forward pass (then ``clear``)."""

    def __init__(self, model: nn.Module, taps: Sequence[str]):
        modules = dict(model.named_modules())
        self.features: Dict[str, object] = {}
        self._handles = []
        for tap in taps:
            path, key, kind = _parse_tap(tap)
            if path not in modules:
                raise ValueError(
                    f"separation tap {tap!r}: no submodule {path!r} in the model; e.g. "
                    f"{vit_block_taps(model)[:2] or sorted(modules)[:5]}"
                )
            drop = _num_class_tokens(modules, path, tap) if kind == "patches" else 0

            def hook(_module, inputs, output, tap=tap, key=key, kind=kind, drop=drop):
                value = inputs[0] if kind == "input" else output
                value = value[key] if key else value
                if drop:  # (B, N + K, C) with the K class tokens last -> (B, N, C)
                    value = value[:, :-drop]
                self.features[tap] = value

            self._handles.append(modules[path].register_forward_hook(hook))

    def clear(self) -> None:
        self.features = {}

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


def run_separation(
    model: nn.Module,
    batches: Iterable[List[dict]],
    taps: Sequence[str],
    num_classes: int,
    ignore: int = 255,
    min_cells: int = 16,
    max_images: Optional[int] = None,
) -> SeparationAccumulator:
    """Stream images through ``model`` (eval, whole-image pass) and accumulate the statistics of
    every tapped feature; dicts need "image" and "sem_seg" (Detectron2 test-loader format)."""
    model.eval()
    if hasattr(model, "inference"):
        model.inference = dataclasses.replace(model.inference, mode="whole")
    div = max(int(getattr(model, "size_divisibility", 1)), 1)
    acc = SeparationAccumulator(num_classes, ignore, min_cells)
    hooks = FeatureTaps(model, taps)
    seen = 0
    try:
        for batch in batches:
            for item in batch:
                if max_images is not None and seen >= max_images:
                    return acc
                if "sem_seg" not in item:
                    raise ValueError("run_separation: the dataset gives no 'sem_seg' labels.")
                hooks.clear()
                with torch.no_grad():
                    model([{k: v for k, v in item.items() if k != "sem_seg"}])
                height, width = item["image"].shape[-2:]
                padded = (-(-height // div) * div, -(-width // div) * div)
                for tap, value in hooks.features.items():
                    for suffix, fmap in (_as_maps(value, padded) or {}).items():
                        stride = (padded[0] // fmap.shape[-2], padded[1] // fmap.shape[-1])
                        acc.update(tap + suffix, fmap.float().cpu(), item["sem_seg"], stride)
                seen += 1
    finally:
        hooks.remove()
    return acc
