"""Data-loader worker processes that follow the CPU cores this process may use.

The paper configs ask for 4 loader workers per process, a GPU-server setting. On a 2-core machine
4 workers and the training process fight over the cores: an ADE20K ViT-B run printed nothing for
22 minutes. :func:`loader_workers` keeps a configured count when the cores allow it and otherwise
uses one core less than the process has (so training keeps one core), saying so in the log.
"""

import logging
import os
from typing import Optional

from detectron2.utils import comm

__all__ = ["available_cores", "loader_workers"]

logger = logging.getLogger(__name__)


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def loader_workers(requested: int, cores: Optional[int] = None, what: str = "data loader") -> int:
    """
    The worker processes to start for a loader configured with ``requested`` workers.

    Args:
        requested (int): the configured ``num_workers`` (0: load in the training process).
        cores (int | None): cores of this process's share; default: :func:`available_cores`
            divided by the processes of this machine (``--num-gpus N`` on a CPU machine).
        what (str): the loader, for the log line.

    Returns:
        int: ``requested`` when it is below the cores; else ``cores - 1`` (0 on one core), logged
        with the key that sets it.
    """
    if requested < 0:
        raise ValueError(f"num_workers must be >= 0, got {requested}")
    if cores is None:
        cores = max(available_cores() // max(comm.get_local_size(), 1), 1)
    if requested < cores:
        return requested
    workers = max(cores - 1, 0)
    logger.info(
        "%s: %d worker process(es) instead of the configured %d, as this process has %d CPU "
        "core(s) (one is left to the model); more workers than cores slow everything down",
        what,
        workers,
        requested,
        cores,
    )
    return workers
