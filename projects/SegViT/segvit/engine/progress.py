"""What a CPU run says before its first regular log line: threads chosen from the load, and
progress lines from the first iterations.

On a 2-core machine shared with other jobs, the demo with two intra-op threads printed nothing for
5.5 minutes (Detectron2's first log line comes at iteration ``log_period - 1``) and then ran about
9x slower than with one thread (docs/results.md, "Demo speed"): threads that wait for busy cores
stall each other at every operator. :func:`choose_cpu_threads` picks the intra-op thread count from
the cores and the load average unless ``OMP_NUM_THREADS`` is set, and says which and why;
:class:`EarlyProgress` prints Detectron2's usual metrics line (losses, time per iteration, ETA) at
iterations 1, 2, 5, 10 and 20, before the periodic lines start.
"""

import math
import os
from typing import Mapping, Optional, Sequence, Tuple

import torch
from detectron2.engine import HookBase
from detectron2.utils import comm
from detectron2.utils.events import CommonMetricPrinter

from ..data.workers import available_cores

__all__ = ["EarlyProgress", "apply_cpu_threads", "choose_cpu_threads"]


def choose_cpu_threads(
    cores: int, load: Optional[float], env: Mapping[str, str]
) -> Tuple[Optional[int], str]:
    """
    The intra-op thread count for a CPU run, and the sentence that explains it.

    Args:
        cores (int): CPU cores of this process's share.
        load (float | None): the 1-minute load average of the machine (None if unknown).
        env (Mapping): the environment; ``OMP_NUM_THREADS`` set there is kept.

    Returns:
        (threads, message): ``threads`` is None when the environment chose (nothing to set);
        otherwise about the cores left free by the load, rounded, at least 1 and at most
        ``cores``.
    """
    if env.get("OMP_NUM_THREADS"):
        return None, (
            f"CPU run: {torch.get_num_threads()} intra-op thread(s), as OMP_NUM_THREADS="
            f"{env['OMP_NUM_THREADS']} sets; {cores} core(s) available"
        )
    if load is None:
        return cores, f"CPU run: {cores} intra-op thread(s), one per core (load unknown)"
    threads = max(1, min(cores, math.floor(cores - load + 0.5)))
    busy = "busy: other jobs use the cores" if threads < cores else "idle"
    return threads, (
        f"CPU run: {threads} intra-op thread(s) for {cores} core(s) with a load average of "
        f"{load:.1f} ({busy}). Set OMP_NUM_THREADS=N to choose: on busy cores more threads than "
        "free cores make every step several times slower"
    )


def apply_cpu_threads(env: Optional[Mapping[str, str]] = None) -> str:
    """Choose (:func:`choose_cpu_threads`) and set the intra-op threads of this process; returns
    the sentence that says which and why, for the tool to print before its set-up log."""
    env = os.environ if env is None else env
    cores = max(available_cores() // max(comm.get_local_size(), 1), 1)
    try:
        load: Optional[float] = os.getloadavg()[0]
    except (AttributeError, OSError):  # not available on this platform
        load = None
    threads, message = choose_cpu_threads(cores, load, env)
    if threads is not None:
        torch.set_num_threads(threads)
    return message


class EarlyProgress(HookBase):
    """Print Detectron2's metrics line after the first iterations (1, 2, 5, 10, 20 by default),
    before the periodic writer's first line at iteration ``log_period``. Only the printed line:
    ``metrics.json`` and TensorBoard keep their period."""

    def __init__(self, max_iter: int, log_period: int, first: Sequence[int] = (1, 2, 5, 10, 20)):
        self._iters = {n - 1 for n in first if n < log_period}  # trainer.iter counts from 0
        self._printer = CommonMetricPrinter(max_iter)

    def after_step(self):
        if self.trainer.iter in self._iters:
            self._printer.write()
