"""Optimizer construction for the paper's recipe."""

from .optimizer import build_optimizer
from .param_groups import build_param_groups
from .schedule import PolyWithWarmup, poly_with_warmup
