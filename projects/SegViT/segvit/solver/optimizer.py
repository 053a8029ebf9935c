"""Optimizers with global gradient-norm clipping, buildable from LazyConfig.

The paper's recipe clips the global L2 norm of all gradients at 35 (mmseg ``grad_clip``). The
clipping happens inside ``step()``, so it sees unscaled gradients under AMP too
(``GradScaler.step`` unscales before calling it).
"""

from typing import Any, Dict, Iterable, Optional, Type

import torch


def _clipped_class(base: Type[torch.optim.Optimizer], max_norm: float) -> Type:
    def step(self, closure=None):
        params = [p for g in self.param_groups for p in g["params"] if p.grad is not None]
        torch.nn.utils.clip_grad_norm_(params, max_norm)
        return base.step(self, closure)

    return type(f"{base.__name__}ClipGradNorm", (base,), {"step": step})


def build_optimizer(
    params: Iterable[Dict[str, Any]],
    *,
    optimizer_cls: Type[torch.optim.Optimizer] = torch.optim.AdamW,
    clip_grad_norm: Optional[float] = 35.0,
    **optimizer_kwargs,
) -> torch.optim.Optimizer:
    """Build ``optimizer_cls(params, **optimizer_kwargs)``, clipping the global grad norm first.

    Args:
        params: param groups, e.g. from :func:`segvit.solver.param_groups.build_param_groups`.
        optimizer_cls: any torch optimizer class.
        clip_grad_norm: max global L2 norm of the gradients; None or <= 0 disables clipping.
    """
    if clip_grad_norm is not None and clip_grad_norm > 0:
        optimizer_cls = _clipped_class(optimizer_cls, clip_grad_norm)
    return optimizer_cls(params, **optimizer_kwargs)
