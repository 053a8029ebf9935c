"""Random-number-generator state in checkpoints, for exact resumption of a killed run.

:class:`RNGState` is a checkpointable (``DetectionCheckpointer(..., rng=RNGState())``) holding the
python ``random``, numpy, torch CPU and (when available) current CUDA device RNG states of every
training process. :class:`CaptureRNGState` takes the snapshot, collectively in distributed runs,
right before a checkpoint is written; :func:`preserve_rng` keeps evaluation during training from
shifting the training streams.
"""

import contextlib
import logging
import random
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from detectron2.engine import HookBase
from detectron2.utils import comm

__all__ = ["get_rng_state", "set_rng_state", "preserve_rng", "RNGState", "CaptureRNGState"]

logger = logging.getLogger(__name__)


def get_rng_state() -> Dict[str, Any]:
    """The global RNG states of this process (CUDA: the current device only).

    Only tensors, numbers and tuples, so that ``torch.load(..., weights_only=True)`` (the default
    of Detectron2's checkpointer under recent PyTorch) reads them back.
    """
    _, key, pos, has_gauss, cached_gaussian = np.random.get_state()
    state = {
        "python": random.getstate(),  # (version, tuple of 625 ints, gauss_next)
        "numpy": (torch.from_numpy(key.astype(np.int64)), pos, has_gauss, cached_gaussian),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restore states from :func:`get_rng_state`."""
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    key, pos, has_gauss, cached_gaussian = state["numpy"]
    np.random.set_state(("MT19937", key.numpy().astype(np.uint32), pos, has_gauss, cached_gaussian))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


@contextlib.contextmanager
def preserve_rng():
    """Run the body, then put every global RNG of this process back where it was."""
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


class RNGState:
    """Checkpointable RNG states of all processes of a run.

    ``state_dict()`` returns the last snapshot taken by :meth:`capture` (or this process's current
    state if none was taken). ``load_state_dict`` restores, in each process, the entry of its
    rank; with another number of processes than when saved it warns and leaves the RNGs alone.
    """

    def __init__(self):
        self._per_rank: Optional[List[Dict[str, Any]]] = None

    def capture(self) -> None:
        """Snapshot the RNG states of every process; a collective call when distributed."""
        state = get_rng_state()
        self._per_rank = comm.all_gather(state) if comm.get_world_size() > 1 else [state]

    def state_dict(self) -> Dict[str, Any]:
        per_rank = self._per_rank if self._per_rank is not None else [get_rng_state()]
        return {"per_rank": per_rank}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        per_rank = state_dict["per_rank"]
        world_size = comm.get_world_size()
        if len(per_rank) != world_size:
            logger.warning(
                "The checkpoint holds the RNG states of %d processes, this run has %d: RNG "
                "streams are not restored (an exact resumption needs the same process count).",
                len(per_rank),
                world_size,
            )
            return
        set_rng_state(per_rank[comm.get_rank()])
        self._per_rank = per_rank


class CaptureRNGState(HookBase):
    """Snapshot ``rng`` after each step that a ``PeriodicCheckpointer`` with ``period`` saves.

    Register it on every process, before the checkpointer and after anything else in
    ``after_step`` that draws random numbers. Checkpoints are written after iterations ``i`` with
    ``(i + 1) % period == 0`` and after the last one (Detectron2's ``PeriodicCheckpointer``).
    """

    def __init__(self, rng: RNGState, period: int):
        self.rng = rng
        self.period = period

    def after_step(self) -> None:
        i = self.trainer.iter
        if (self.period > 0 and (i + 1) % self.period == 0) or i >= self.trainer.max_iter - 1:
            self.rng.capture()
