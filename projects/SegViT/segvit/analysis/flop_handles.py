"""fvcore op handles for the ops of the MaskFormer-family baselines that fvcore may miscount.

Convention (fvcore's): one multiply-add = one flop.

Multi-scale deformable attention (Mask2Former's pixel decoder) runs, without its compiled CUDA op,
as ``ms_deform_attn_core_pytorch``: one ``F.grid_sample`` per level, which traces as
``aten::grid_sampler``, then an attention-weighted sum (``aten::mul`` + ``aten::sum``).

- ``aten::grid_sampler``: an output value of bilinear sampling is a weighted sum of the 4 nearest
  input values (4 multiply-adds per output element, per channel); nearest sampling reads 1 value,
  bicubic 16. fvcore's default handle assumes bilinear for every mode; ours reads the mode.
- The attention-weighted sum costs 1 multiply-add per sampled value per channel (for Mask2Former
  Swin-T at 512x512: 5,376 tokens x 256 channels x 12 samples x 6 layers = 0.1 GFLOPs). It runs as
  elementwise ops, which fvcore and Detectron2 leave uncounted like every other elementwise op,
  and so does this module: the published Mask2Former numbers were counted the same way.

Mask2Former's masked attention passes a float ``attn_mask`` to ``nn.MultiheadAttention``, which in
current PyTorch computes ``q @ k^T + mask`` as one ``aten::baddbmm`` (older versions used
``aten::bmm`` and an add, which fvcore counts). fvcore has no ``baddbmm`` handle, so without
``baddbmm_flop_jit`` the 9 cross-attention score products would go uncounted.
"""

from typing import Any, Callable, Dict, List

import numpy as np
from fvcore.nn.jit_handles import get_shape

__all__ = ["FLOP_HANDLES", "baddbmm_flop_jit", "grid_sampler_flop_jit"]

# Input values read per output value, by ``interpolation_mode`` of aten::grid_sampler.
_SAMPLES_PER_OUTPUT = {0: 4, 1: 1, 2: 16}  # bilinear, nearest, bicubic


def grid_sampler_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """fvcore handle for ``aten::grid_sampler`` / ``aten::grid_sampler_2d``.

    Args (of the traced op): input (N, C, H, W), grid (N, H_out, W_out, 2), interpolation_mode
    (0 bilinear, 1 nearest, 2 bicubic), padding_mode, align_corners.

    Returns:
        int: ``N * C * H_out * W_out`` times the values read per output (4 / 1 / 16).
    """
    out_shape = get_shape(outputs[0])
    mode = inputs[2].toIValue() if len(inputs) > 2 else None
    per_output = _SAMPLES_PER_OUTPUT.get(mode, 4)  # unknown (non-constant) mode: assume bilinear
    return int(np.prod(out_shape)) * per_output


def baddbmm_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """fvcore handle for ``aten::baddbmm(input, batch1 (B, N, M), batch2 (B, M, P), beta, alpha)``.

    Counts the batched product like fvcore's ``bmm`` handle: ``B * N * M * P`` multiply-adds; the
    scaling and the addition of ``input`` are elementwise and not counted.
    """
    b, n, m = get_shape(inputs[1])
    b2, m2, p = get_shape(inputs[2])
    assert b == b2 and m == m2, (get_shape(inputs[1]), get_shape(inputs[2]))
    return b * n * m * p


FLOP_HANDLES: Dict[str, Callable[[List[Any], List[Any]], int]] = {
    "aten::grid_sampler": grid_sampler_flop_jit,
    "aten::grid_sampler_2d": grid_sampler_flop_jit,
    "aten::baddbmm": baddbmm_flop_jit,
}
