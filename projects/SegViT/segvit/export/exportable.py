"""What can be exported, and the module that is: image tensor -> per-class scores (-> labels).

:class:`ExportableSegmentor` wraps a :class:`~segvit.modeling.meta_arch.base.SegmentorBase`
and calls its own whole-image scoring path (``predict_scores``), so a change of the model's
inference code is exported as it is, with no copy here. Normalisation is inside the graph when the
input is raw; slide windows and multi-scale stay outside (docs/deployment.md).

Supported models are listed by decode head and backbone class name in :data:`EXPORTABLE_HEADS` and
:data:`EXPORTABLE_BACKBONES`; a new decoder whose meta-architecture implements ``predict_scores``
with plain tensor ops is one line there.
"""

import copy
from typing import Dict, Tuple

import torch
from torch import nn

from ..modeling.backbone.vit import ViT
from ..modeling.heads.qu_head import QUATMHead
from ..modeling.meta_arch.base import SegmentorBase

__all__ = [
    "EXPORTABLE_HEADS",
    "EXPORTABLE_BACKBONES",
    "DYNAMIC_RESIZE_MODES",
    "ExportError",
    "ExportableSegmentor",
    "check_exportable",
    "check_input_size",
    "fix_input_size",
]

# Decode head class name -> the model it makes (as printed in errors and reports).
EXPORTABLE_HEADS: Dict[str, str] = {
    "ATMHead": "SegViT",
    "QUATMHead": "Shrunk SegViT",
    "ATMSingleStageHead": "naive Shrunk SegViT",
    "SETRNaiveHead": "SETR-naive",
    "SegmenterMaskHead": "Segmenter",
    "DEPICTHead": "DEPICT",
    "RSSegRHead": "RSSeg-R (reconstruction)",
}
# Backbone class names whose forward exports (plain tensor ops; the pos-embed is handled below).
EXPORTABLE_BACKBONES = ("ViT", "ShrunkViT")
# F.interpolate modes a --dynamic graph may use for tables resized to the run-time grid: ONNX
# Resize has nearest, linear and cubic; "area" is adaptive average pooling to a size known only at
# run time, which ONNX cannot express.
DYNAMIC_RESIZE_MODES = ("nearest", "bilinear", "bicubic")


class ExportError(ValueError):
    """A request that cannot be exported; the message says what and how to fix it."""


def check_exportable(model: nn.Module) -> str:
    """Return the model's name in :data:`EXPORTABLE_HEADS`, or raise :class:`ExportError`."""
    if not isinstance(model, SegmentorBase):
        raise ExportError(
            f"{type(model).__name__} cannot be exported: only SegViT-D2 meta-architectures "
            "(SegmentorBase subclasses with a whole-image predict_scores) are supported. "
            "MaskFormer/Mask2Former baselines are not (list-of-dicts inputs, Python post-processing"
            ", pure-PyTorch deformable attention)."
        )
    head, backbone = type(model.head).__name__, type(model.backbone).__name__
    if head not in EXPORTABLE_HEADS:
        raise ExportError(
            f"decode head {head} is not exportable yet; supported heads: "
            f"{sorted(EXPORTABLE_HEADS)} (segvit.export.exportable.EXPORTABLE_HEADS)"
        )
    if backbone not in EXPORTABLE_BACKBONES:
        raise ExportError(
            f"backbone {backbone} is not exportable yet; supported backbones: "
            f"{list(EXPORTABLE_BACKBONES)} (segvit.export.exportable.EXPORTABLE_BACKBONES)"
        )
    return EXPORTABLE_HEADS[head]


def check_input_size(model: SegmentorBase, height: int, width: int) -> None:
    """The exported graph does not pad: H and W must be positive multiples of the patch size."""
    div = max(int(model.size_divisibility), 1)
    if height <= 0 or width <= 0 or height % div or width % div:
        fix_h, fix_w = (max(div, -(-v // div) * div) for v in (height, width))
        raise ExportError(
            f"--height {height} --width {width}: both must be positive multiples of the patch "
            f"size {div} (the exported graph does not pad); e.g. --height {fix_h} --width {fix_w}"
        )


def _grid(size: int, stride: int) -> int:
    return -(-size // stride)  # ceil: an odd Shrunk grid keeps its last row (shrunk_vit.py)


def fix_input_size(model: SegmentorBase, height: int, width: int) -> SegmentorBase:
    """A copy of ``model`` whose size-dependent tables are stored for an ``height x width`` input.

    The ViT position embedding (and the QU head's query table) are resized once here with the
    model's own ``backbone._get_pos_embed`` / ``head.queries``, so the forward at this size skips
    the resize: the graph has no interpolation of them and the scores equal the original model's
    (which resizes the same tables with the same function at every forward).
    """
    model = copy.deepcopy(model)
    backbone, head = model.backbone, model.head
    if isinstance(backbone, ViT):
        grid = (_grid(height, backbone.patch_size), _grid(width, backbone.patch_size))
        with torch.no_grad():
            table = backbone._get_pos_embed(grid)  # the model's own resize (and mode)
        backbone.pos_embed = nn.Parameter(table.clone(), requires_grad=False)
        backbone.pretrain_grid = grid
    if isinstance(head, QUATMHead):
        stride = backbone.output_shape()[head.in_features[0]].stride
        grid = (_grid(height, stride), _grid(width, stride))
        with torch.no_grad():
            table = head.queries(grid)[0]  # (h*w, d)
        head.qu_queries = nn.Embedding.from_pretrained(table.clone(), freeze=True)
        head.query_grid = grid
    return model


def check_dynamic(model: SegmentorBase) -> None:
    """Raise :class:`ExportError` if a table of ``model`` is resized with a mode ONNX lacks."""
    tables = {
        "the ViT position embedding": getattr(model.backbone, "pos_embed_interp", "bicubic"),
        "the QU query table": getattr(model.head, "query_resize_mode", "bicubic"),
    }
    for table, mode in tables.items():
        if mode in DYNAMIC_RESIZE_MODES:
            continue
        raise ExportError(
            f"--dynamic: {table} is resized with mode {mode!r}, which ONNX Resize "
            f"cannot run at a run-time size (supported: {DYNAMIC_RESIZE_MODES}); export a fixed "
            "size instead (drop --dynamic)"
        )


class ExportableSegmentor(nn.Module):
    """``images (B, 3, H, W) float -> scores (B, K, H, W)`` [``, labels (B, H, W) int64``].

    Args:
        model: the segmentor (eval mode is set here); its ``predict_scores`` is what runs.
        raw_input: images are raw pixel values (0..255, the model's channel order) and are
            normalised in the graph with the model's mean/std; False: already normalised.
        argmax: also return the label map ``scores.argmax(1)``.
    """

    def __init__(self, model: SegmentorBase, *, raw_input: bool = True, argmax: bool = False):
        super().__init__()
        self.model = model
        self.raw_input = raw_input
        self.argmax = argmax
        self.eval()  # dropout off, and the mode torch.jit.freeze needs

    @property
    def output_names(self) -> Tuple[str, ...]:
        return ("scores", "labels") if self.argmax else ("scores",)

    def forward(self, images: torch.Tensor):
        if self.raw_input:
            images = (images - self.model.pixel_mean) / self.model.pixel_std
        scores = self.model.predict_scores(images)  # (B, K, H, W)
        if self.argmax:
            return scores, scores.argmax(dim=1)
        return scores
