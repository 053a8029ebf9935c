"""Learning-rate multiplier of the paper's recipe: linear warm-up, then poly decay to 0."""

from detectron2.solver import WarmupParamScheduler
from fvcore.common.param_scheduler import PolynomialDecayParamScheduler


def poly_with_warmup(
    max_iter: int, warmup_iters: int = 1500, power: float = 1.0, warmup_factor: float = 1e-6
) -> WarmupParamScheduler:
    """A multiplier of the base lr over training progress (Detectron2 ``ParamScheduler``).

    Args:
        max_iter: total training iterations (the schedule reaches 0 there).
        warmup_iters: linear warm-up length in iterations (1,500 in the paper's recipe); it is
            capped at ``max_iter``.
        power: poly exponent (1.0; COCO-Stuff-10K uses 2.0).
        warmup_factor: multiplier at iteration 0 (mmseg ``warmup_ratio`` 1e-6).
    """
    if max_iter <= 0:
        raise ValueError(f"max_iter must be positive, got {max_iter} (train.max_iter)")
    return WarmupParamScheduler(
        PolynomialDecayParamScheduler(base_value=1.0, power=power),
        warmup_factor=warmup_factor,
        warmup_length=min(warmup_iters, max_iter) / max_iter,
        warmup_method="linear",
    )
