"""Where a run writes: never over another run's checkpoints, evaluation in its own subfolder.

- Training into a folder that holds checkpoints (``model_*.pth``, ``last_checkpoint``) of another
  run is refused unless ``--resume`` (continue that run) or ``--overwrite-output`` (replace it: its
  checkpoints, ``last_checkpoint``, ``metrics.json`` and TensorBoard events are removed first,
  with a log line).
- ``--eval-only`` writes its ``config.yaml`` and log into ``<output_dir>/eval_<N>``, a new folder
  each time, so the training folder's ``config.yaml`` and ``metrics.json`` are never touched.
"""

import logging
import os
import re
from typing import List

from detectron2.utils import comm

__all__ = ["check_training_output_dir", "find_checkpoints", "new_eval_output_dir"]

logger = logging.getLogger(__name__)

# Files of a previous run that --overwrite-output removes besides its checkpoints (they would
# mix with the new run's); log.txt is appended to and eval_<N> folders are kept.
_RUN_FILES = re.compile(r"metrics\.json|events\.out\.tfevents\..*")


def find_checkpoints(folder: str) -> List[str]:
    """The names of a run's checkpoint files in ``folder`` (``model_*.pth``,
    ``last_checkpoint``), sorted; empty when there are none or no folder."""
    if not os.path.isdir(folder):
        return []
    names = os.listdir(folder)
    return sorted(n for n in names if n == "last_checkpoint" or re.fullmatch(r"model_.*\.pth", n))


def check_training_output_dir(output_dir: str, *, resume: bool, overwrite: bool) -> List[str]:
    """Refuse, or (``overwrite``) clear, a training folder that holds another run's checkpoints.

    Returns the names of the files removed (empty unless ``overwrite``).
    Raises ``FileExistsError`` naming the folder, the files and the three ways out.
    """
    found = find_checkpoints(output_dir)
    if not found or resume:
        return []
    if not overwrite:
        shown = ", ".join(found[:5]) + (f" (and {len(found) - 5} more)" if len(found) > 5 else "")
        raise FileExistsError(
            f"train.output_dir={output_dir!r} holds the checkpoints of another run ({shown}). "
            "Pass --resume to continue that run, --overwrite-output to replace it, or choose "
            "another train.output_dir."
        )
    removed = []
    if comm.is_main_process():
        for name in found + sorted(n for n in os.listdir(output_dir) if _RUN_FILES.fullmatch(n)):
            os.remove(os.path.join(output_dir, name))
            removed.append(name)
        logger.warning("--overwrite-output: removed %s from %s", ", ".join(removed), output_dir)
    comm.synchronize()
    return removed


def new_eval_output_dir(output_dir: str) -> str:
    """Create ``<output_dir>/eval_<N>`` with the next free N (process 0) and return it in every
    process."""
    path = None
    if comm.is_main_process():
        n = 0
        while True:
            path = os.path.join(output_dir, f"eval_{n}")
            try:
                os.makedirs(path)
                break
            except FileExistsError:
                n += 1
    return comm.all_gather(path)[0] if comm.get_world_size() > 1 else path
