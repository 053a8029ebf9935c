"""FLOP counting with fvcore, extended so that nothing costly is skipped silently.

Convention (fvcore's, and the paper's `get_flops_fvcore.py`): one multiply-add = one flop.

fvcore has no handle for ``aten::scaled_dot_product_attention`` (our ViT blocks use it), so the
attention matmuls (about 20 of ViT-B's 107 GFLOPs at 512x512) would go missing. We add that handle,
and :func:`count_flops` refuses to report a total when an op that fvcore does not count could cost
more than a given fraction of it (see :func:`_skipped_cost_upper_bound`).
"""

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List

import numpy as np
import torch
from detectron2.utils.analysis import FlopCountAnalysis
from fvcore.nn.jit_handles import get_shape

from .flop_handles import FLOP_HANDLES as _SAMPLING_AND_BADDBMM_HANDLES

logger = logging.getLogger(__name__)

# Op names that do matrix-like work: never acceptable as "unsupported".
_COSTLY_OP_MARKERS = (
    "matmul",
    "mm",
    "attention",
    "conv",
    "linear",
    "einsum",
    "grid_sampler",
    "deform",
)


def sdpa_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """fvcore handle for ``aten::scaled_dot_product_attention``.

    q (..., Nq, D), k (..., Nk, D), v (..., Nk, Dv): q @ k^T costs Nq*Nk*D multiply-adds and
    attn @ v costs Nq*Nk*Dv, per leading (batch x heads) index. The softmax is elementwise and,
    like fvcore's other elementwise ops, not counted.
    """
    q_shape, k_shape, v_shape = (get_shape(x) for x in inputs[:3])
    *lead, nq, d = q_shape
    nk, dv = k_shape[-2], v_shape[-1]
    return int(np.prod(lead)) * nq * nk * (d + dv)


def native_mha_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """fvcore handle for ``aten::_native_multi_head_attention``.

    ``nn.MultiheadAttention`` takes this fused path in eval mode (batch-first). Inputs are query
    (B, Nq, E), key (B, Nk, E), value (B, Nk, E), ...: the q/k/v and output projections cost
    (2 Nq + 2 Nk) E^2 and the two attention matmuls 2 Nq Nk E multiply-adds per batch element.
    """
    batch, nq, embed = get_shape(inputs[0])
    nk = get_shape(inputs[1])[1]
    return batch * ((2 * nq + 2 * nk) * embed * embed + 2 * nq * nk * embed)


def _output_numel(inputs: List[Any], outputs: List[Any]) -> int:
    """Upper-bound stand-in for an elementwise op: one flop per output element."""
    total = 0
    for out in outputs:
        shape = get_shape(out)
        if shape is not None:
            total += int(np.prod(shape)) if len(shape) else 1
    return total


EXTRA_FLOP_HANDLES: Dict[str, Callable] = {
    "aten::scaled_dot_product_attention": sdpa_flop_jit,
    "aten::_native_multi_head_attention": native_mha_flop_jit,
    **_SAMPLING_AND_BADDBMM_HANDLES,  # deformable attention (grid_sample), masked attention
}


def register_flop_handles(handles: Dict[str, Callable]) -> None:
    """Add op handles (e.g. for deformable attention) used by every later :func:`count_flops`."""
    EXTRA_FLOP_HANDLES.update(handles)


@dataclass
class FlopReport:
    """Result of :func:`count_flops`. ``total`` is in flops (multiply-adds)."""

    total: int
    by_module: Dict[str, int]
    by_operator: Dict[str, int]
    skipped_ops: Dict[str, int] = field(default_factory=dict)  # op -> upper-bound flops
    skipped_upper_bound: int = 0


def _analysis(model: torch.nn.Module, inputs: Any, extra: Dict[str, Callable]) -> FlopCountAnalysis:
    analysis = FlopCountAnalysis(model, inputs)
    analysis.set_op_handle(**{**EXTRA_FLOP_HANDLES, **extra})
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    analysis.tracer_warnings("none")
    return analysis


def count_flops(
    model: torch.nn.Module, inputs: Any, max_skipped_fraction: float = 0.01
) -> FlopReport:
    """Count the flops of ``model(inputs)`` (Detectron2-style list-of-dicts inputs are fine).

    Raises:
        RuntimeError: if an op fvcore cannot count does matrix-like work (by name), or if the
            ops it cannot count could together cost more than ``max_skipped_fraction`` of the
            total, where each is bounded by one flop per output element (right for elementwise
            ops, which is all that fvcore leaves uncounted in our models).
    """
    analysis = _analysis(model, inputs, {})
    total = analysis.total()
    skipped = Counter(analysis.unsupported_ops())
    costly = sorted(
        op for op in skipped if any(m in op.split("::")[-1] for m in _COSTLY_OP_MARKERS)
    )
    if costly:
        raise RuntimeError(
            f"fvcore has no flop handle for {costly}: the count would silently miss them. "
            "Register one with segvit.analysis.flops.register_flop_handles({...})."
        )
    skipped_cost: Dict[str, int] = {}
    if skipped:
        bound = _analysis(model, inputs, {op: _output_numel for op in skipped})
        by_op = bound.by_operator()
        skipped_cost = {op: int(by_op.get(op.split("::")[-1], by_op.get(op, 0))) for op in skipped}
    bound_total = sum(skipped_cost.values())
    if total and bound_total > max_skipped_fraction * total:
        raise RuntimeError(
            f"uncounted ops may cost {bound_total / 1e9:.3f} GFLOPs, more than "
            f"{max_skipped_fraction:.0%} of the counted {total / 1e9:.3f}: {skipped_cost}"
        )
    return FlopReport(
        total=int(total),
        by_module={k: int(v) for k, v in analysis.by_module().items()},
        by_operator={k: int(v) for k, v in analysis.by_operator().items()},
        skipped_ops=skipped_cost,
        skipped_upper_bound=bound_total,
    )
