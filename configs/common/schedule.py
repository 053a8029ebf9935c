"""Poly learning-rate schedule with linear warm-up
(docs/official_reference.md#segvit-training-recipe): per iteration, power 1.0
(COCO-Stuff-10K: 2.0), min lr 0, 1,500 warm-up iterations from a factor of 1e-6."""

from detectron2.config import LazyCall as L

from segvit.solver import poly_with_warmup

lr_multiplier = L(poly_with_warmup)(
    max_iter="${train.max_iter}", warmup_iters=1500, power=1.0, warmup_factor=1e-6
)
