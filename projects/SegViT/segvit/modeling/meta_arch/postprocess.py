"""Bringing per-class maps to an output size without full-size temporaries.

Bilinear resizing (``align_corners=False``) is separable: each output row is a blend of two source
rows, and each output column of two source columns. :func:`upsample_rows` computes any band of rows
of ``F.interpolate(x, size, mode="bilinear", align_corners=False)`` from the two source rows of each
output row (weights as ATen computes them) followed by a width-only ``F.interpolate``; the numbers
equal the 2-D resize up to float rounding (about 1e-7 relative: the two 1-D blends are summed in
another order). Working band by band lets a caller consume each band (a matmul, an argmax) while it
is in cache, and never hold the whole (C, H, W) result.

- :func:`crop_and_resize`: the meta-architectures' last step (Detectron2's ``sem_seg_postprocess``,
  skipped when the scores already have the output size, which is the usual case).
- :func:`upsampled_argmax`: the label map of scores resized to a (huge) output size, computed in
  bands of bounded size: memory does not grow with the number of classes.
- :func:`upsample_and_combine`: SegViT's per-class scores (MaskFormer-style combination of class
  and mask predictions, :func:`combine_masks_and_classes`) at the input size, band by band: no
  (Q, H, W) temporary is materialised, padded rows and columns are never computed, and each
  band's sigmoid masks feed one matmul straight into the output.
"""

from typing import Iterator, Tuple

import torch
import torch.nn.functional as F
from detectron2.modeling.postprocessing import sem_seg_postprocess
from torch import Tensor

__all__ = [
    "combine_masks_and_classes",
    "crop_and_resize",
    "is_traced",
    "row_bands",
    "upsample_and_combine",
    "upsample_rows",
    "upsampled_argmax",
]

# Elements (float32) of one band of resized scores in upsampled_argmax: 4M = 16 MB.
ARGMAX_BAND_ELEMENTS = 1 << 22


def is_traced() -> bool:
    """True while tracing / scripting / compiling (fvcore's FLOP count, ONNX, TorchScript, export).

    Traced graphs keep the straightforward computation: one op per step, easy to export, and
    counted by fvcore as in the official code (so ``benchmarks/flops.md`` matches the paper).
    """
    compiling = getattr(torch, "compiler", None) is not None and torch.compiler.is_compiling()
    return torch.jit.is_tracing() or torch.jit.is_scripting() or compiling


def _row_taps(in_size: int, out_size: int, start: int, stop: int, device) -> Tuple[Tensor, ...]:
    """Source rows and weights of output rows ``start:stop`` of a bilinear resize along one axis.

    ATen's rule for ``align_corners=False`` without ``scale_factor``: scale = in / out,
    src = max(scale * (dst + 0.5) - 0.5, 0), i0 = floor(src), i1 = min(i0 + 1, in - 1),
    w1 = src - i0, w0 = 1 - w1. Returns i0, i1 (int64, (n,)) and w0, w1 (float32, (n, 1)).
    """
    scale = in_size / out_size
    dst = torch.arange(start, stop, dtype=torch.float32, device=device)
    src = ((dst + 0.5) * scale - 0.5).clamp(min=0)
    i0 = src.to(torch.int64).clamp(max=in_size - 1)
    i1 = (i0 + 1).clamp(max=in_size - 1)
    w1 = (src - i0).unsqueeze(-1)
    return i0, i1, 1 - w1, w1


def upsample_rows(x: Tensor, size: Tuple[int, int], start: int, stop: int) -> Tensor:
    """Rows ``start:stop`` of ``F.interpolate(x, size, mode="bilinear", align_corners=False)``.

    Args:
        x: (..., C, h, w) float maps (3-D or 4-D).
        size: the full output size (H, W).
        start, stop: output rows to compute, 0 <= start < stop <= H.
    Returns:
        (..., C, stop - start, W), equal to the slice of the full resize up to float rounding.
    """
    i0, i1, w0, w1 = _row_taps(x.shape[-2], size[0], start, stop, x.device)
    rows = x.index_select(-2, i0) * w0 + x.index_select(-2, i1) * w1  # (..., C, n, w)
    batched = rows if rows.dim() == 4 else rows[None]
    out = F.interpolate(batched, size=(stop - start, size[1]), mode="bilinear", align_corners=False)
    return out if rows.dim() == 4 else out[0]


def row_bands(height: int, rows_per_band: int) -> Iterator[Tuple[int, int]]:
    """(start, stop) of consecutive bands of at most ``rows_per_band`` rows covering ``height``."""
    step = max(1, int(rows_per_band))
    for start in range(0, height, step):
        yield start, min(height, start + step)


def crop_and_resize(scores: Tensor, image_size: Tuple[int, int], height: int, width: int) -> Tensor:
    """Detectron2's ``sem_seg_postprocess``, skipped where it would change nothing.

    Args:
        scores: (K, Hp, Wp) per-class scores of a (possibly padded) input.
        image_size: (H, W) of the input before padding; ``scores`` is cropped to it.
        height, width: the output size (the original image's).
    Returns:
        (K, height, width): ``scores`` itself when no crop and no resize is needed (a bilinear
        resize to the same size is the identity: the usual case, as the meta-architectures return
        scores at the image size), else ``sem_seg_postprocess``'s crop and bilinear resize. When
        traced, always the latter: the official code resizes too, and fvcore counts it (0.25
        GFLOPs at 150 x 640 x 640), which the paper's GFLOPs include.
    """
    if not is_traced() and tuple(scores.shape[-2:]) == tuple(image_size) == (height, width):
        return scores
    return sem_seg_postprocess(scores, image_size, height, width)


def upsampled_argmax(
    scores: Tensor, size: Tuple[int, int], band_elements: int = ARGMAX_BAND_ELEMENTS
) -> Tensor:
    """``F.interpolate(scores[None], size, bilinear).argmax(1)[0]`` in bands of bounded memory.

    For huge photos (e.g. 6000x4000) the per-class scores at full size would take K x 96 MB. Here
    only one band of ``band_elements`` resized scores (16 MB by default; at least one row, i.e.
    K x W values) exists at a time, besides the (H, W) int64 result: memory is independent of the
    class count as long as K x W <= ``band_elements`` (150 classes up to 27,962 pixels wide).

    Args:
        scores: (K, h, w) per-class scores (any resolution).
        size: the output size (H, W).
        band_elements: float elements of one band of resized scores.
    Returns:
        (H, W) int64 class indices (ties go to the lower class, as ``argmax`` does).
    """
    num_classes, (height, width) = scores.shape[0], size
    labels = torch.empty((height, width), dtype=torch.int64, device=scores.device)
    for start, stop in row_bands(height, band_elements // max(1, num_classes * width)):
        labels[start:stop] = upsample_rows(scores, size, start, stop).argmax(0)
    return labels


# Float elements of one band of upsampled masks in upsample_and_combine (Q x rows x W): 4M = 16 MB,
# within the last-level cache, and few bands (10 at 512x512), so few thread-pool synchronisations
# (3 ops per band), which cost much on shared cores.
COMBINE_BAND_ELEMENTS = 1 << 22


def combine_masks_and_classes(pred_logits: torch.Tensor, pred_masks: torch.Tensor) -> torch.Tensor:
    """Per-class scores from ATM outputs, summed over all queries (MaskFormer-style).

    Args:
        pred_logits: (B, Q, K+1) class logits; the last column is "no object".
        pred_masks: (B, Q, H, W) mask logits.
    Returns:
        (B, K, H, W): sum_q softmax(logits)[q, k] * sigmoid(mask)[q].
    """
    class_probs = pred_logits.softmax(-1)[..., :-1]  # (B, Q, K)
    mask_probs = pred_masks.sigmoid()  # (B, Q, H, W)
    return torch.einsum("bqk,bqhw->bkhw", class_probs, mask_probs)


def upsample_and_combine(
    pred_logits: torch.Tensor,
    pred_masks: torch.Tensor,
    padded_size: Tuple[int, int],
    image_size: Tuple[int, int],
    band_elements: int = COMBINE_BAND_ELEMENTS,
) -> torch.Tensor:
    """Per-class scores of the unpadded image from low-resolution ATM outputs.

    The same numbers (up to float rounding, about 1e-7) as the straightforward computation::

        masks = F.interpolate(pred_masks, padded_size, mode="bilinear", align_corners=False)
        combine_masks_and_classes(pred_logits, masks)[..., :H, :W]

    but band by band over output rows: upsample the band's mask logits (:func:`upsample_rows`),
    sigmoid in place, and one (K x Q) @ (Q x rows*W) matmul written into the output's rows. The
    combination is linear in the sigmoid masks, so rows are independent; rows and columns of the
    padding, cropped away afterwards, are never computed. When traced (fvcore's FLOP count, ONNX,
    TorchScript) the straightforward graph is used: the same matmul FLOPs in one einsum.

    Args:
        pred_logits: (B, Q, K+1) class logits; the last column is "no object".
        pred_masks: (B, Q, h, w) mask logits at feature resolution.
        padded_size: (Hp, Wp) the size the masks are upsampled to (the padded input).
        image_size: (H, W) <= (Hp, Wp), the unpadded input: the output size.
        band_elements: float elements of one band of upsampled masks.
    Returns:
        (B, K, H, W) scores.
    """
    if is_traced():  # no int(): a traced size may be symbolic (ONNX --dynamic)
        masks = F.interpolate(pred_masks, size=padded_size, mode="bilinear", align_corners=False)
        return combine_masks_and_classes(pred_logits, masks)[..., : image_size[0], : image_size[1]]
    height, width = int(image_size[0]), int(image_size[1])
    batch, queries = pred_masks.shape[:2]
    scores = pred_masks.new_empty((batch, pred_logits.shape[-1] - 1, height, width))
    # (B, K, Q), in the output's dtype: under autocast softmax returns float32 while the masks
    # may be bfloat16, and ``bmm(out=...)`` needs one dtype (autocast is off for that call)
    class_probs = pred_logits.softmax(-1)[..., :-1].transpose(1, 2).to(scores.dtype)
    flat = scores.view(batch, -1, height * width)  # (B, K, H*W)
    padded = (int(padded_size[0]), int(padded_size[1]))
    with torch.autocast(device_type=pred_masks.device.type, enabled=False):
        for start, stop in row_bands(height, band_elements // max(1, queries * padded[1])):
            masks = upsample_rows(pred_masks, padded, start, stop)[..., :width]  # (B, Q, rows, W)
            masks = masks.reshape(batch, queries, -1).sigmoid_().to(scores.dtype)  # (B, Q, rows*W)
            torch.bmm(class_probs, masks, out=flat[:, :, start * width : stop * width])
    return scores
