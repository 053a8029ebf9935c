"""Learning-rate multiplier of the paper's recipe: mmseg's poly schedule with linear warm-up."""

from fvcore.common.param_scheduler import ParamScheduler


class PolyWithWarmup(ParamScheduler):
    """mmseg 0.24 ``PolyLrUpdaterHook`` with ``warmup="linear"``, as a multiplier of the base lr.

    At training progress ``where`` in [0, 1) (iteration / max_iter)::

        poly(where)   = (1 - where) ** power                    (min lr 0)
        value(where)  = poly(where) * (1 - (1 - where / w) * (1 - warmup_factor))   if where < w
                      = poly(where)                                                  otherwise

    where ``w`` is the warm-up fraction. Unlike Detectron2's ``WarmupParamScheduler`` it stays
    well defined when the warm-up is as long as training (short test runs).
    """

    WHERE_EPSILON = 1e-6

    def __init__(
        self,
        power: float = 1.0,
        warmup_fraction: float = 0.0,
        warmup_factor: float = 1e-6,
        min_factor: float = 0.0,
    ):
        if not 0.0 <= warmup_fraction <= 1.0:
            raise ValueError(f"warmup_fraction must be in [0, 1], got {warmup_fraction}")
        self.power = power
        self.warmup_fraction = warmup_fraction
        self.warmup_factor = warmup_factor
        self.min_factor = min_factor

    def __call__(self, where: float) -> float:
        value = max(0.0, 1.0 - where) ** self.power
        value = self.min_factor + (1.0 - self.min_factor) * value  # Segmenter's min_lr floor
        if where < self.warmup_fraction:
            value *= 1.0 - (1.0 - where / self.warmup_fraction) * (1.0 - self.warmup_factor)
        return value


def poly_with_warmup(
    max_iter: int,
    warmup_iters: int = 1500,
    power: float = 1.0,
    warmup_factor: float = 1e-6,
    min_factor: float = 0.0,
) -> PolyWithWarmup:
    """A multiplier of the base lr over training progress (Detectron2 ``LRScheduler`` hook input).

    Args:
        max_iter: total training iterations (the schedule reaches 0 there).
        warmup_iters: linear warm-up length in iterations (1,500 in the paper's recipe); it is
            capped at ``max_iter``.
        power: poly exponent (1.0; COCO-Stuff-10K uses 2.0).
        warmup_factor: multiplier at iteration 0 (mmseg ``warmup_ratio`` 1e-6).
        min_factor: the poly part decays to this instead of 0 (Segmenter / DEPICT:
            ``(lr - min_lr) * poly + min_lr`` with min_lr 1e-5 at lr 1e-3, i.e. 0.01).
    """
    if max_iter <= 0:
        raise ValueError(f"max_iter must be positive, got {max_iter} (train.max_iter)")
    return PolyWithWarmup(power, min(warmup_iters, max_iter) / max_iter, warmup_factor, min_factor)
