"""Writing converted weights as a Detectron2 checkpoint (what ``train.init_checkpoint`` loads)."""

from typing import Dict

import torch
from torch import Tensor

from .safe_io import atomic_write

__all__ = ["save_detectron2_checkpoint"]


def save_detectron2_checkpoint(
    state_dict: Dict[str, Tensor], path: str, *, prefix: str, author: str
) -> None:
    """Write ``{"model": {prefix + key: tensor}}`` to ``path`` in one step.

    Written with :func:`~segvit.checkpoint.safe_io.atomic_write` (a temporary file renamed, the
    umask's permissions), so a failed run never leaves a half-written checkpoint.
    ``matching_heuristics`` is off: keys must match the model's names exactly.
    """
    checkpoint = {
        "model": {prefix + k: v for k, v in state_dict.items()},
        "__author__": author,
        "matching_heuristics": False,
    }
    atomic_write(path, lambda f: torch.save(checkpoint, f), what="checkpoint")
