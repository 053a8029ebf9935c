"""Writing converted weights as a Detectron2 checkpoint (what ``train.init_checkpoint`` loads)."""

import os
from typing import Dict

import torch
from torch import Tensor

__all__ = ["save_detectron2_checkpoint"]


def save_detectron2_checkpoint(
    state_dict: Dict[str, Tensor], path: str, *, prefix: str, author: str
) -> None:
    """Write ``{"model": {prefix + key: tensor}}`` to ``path`` in one step.

    The file is written next to ``path`` and renamed, so a failed run never leaves a half-written
    checkpoint. ``matching_heuristics`` is off: keys must match the model's names exactly.
    """
    checkpoint = {
        "model": {prefix + k: v for k, v in state_dict.items()},
        "__author__": author,
        "matching_heuristics": False,
    }
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    torch.save(checkpoint, tmp)
    os.replace(tmp, path)
