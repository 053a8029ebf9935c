"""Writing converted weights as a Detectron2 checkpoint (what ``train.init_checkpoint`` loads)."""

import os
import tempfile
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
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    # a new temporary name in the same folder (never a user's file), renamed in one step
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # what a plain open() would give, not mkstemp's 0600
        torch.save(checkpoint, tmp)
        os.replace(tmp, path)
    except BaseException:  # e.g. a full disk: leave nothing behind
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
