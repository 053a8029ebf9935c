"""Where a run writes: never over another run's checkpoints, evaluation in its own subfolder.

- Training writes only into a new or empty folder, or one of ours (``run_folder.py``), and locks
  it for the whole run (:func:`training_output_dir`): a second training into it is refused.
- Training into a folder that holds checkpoints (``model_*.pth``, ``last_checkpoint``) of another
  run is refused unless ``--resume`` (continue that run) or ``--overwrite-output`` (replace it: its
  checkpoints, ``last_checkpoint``, ``metrics.json`` and TensorBoard events are removed first,
  with a log line). Only names our runs write are removed (``model_0001999.pth``,
  ``model_final.pth``, not ``model_best_2019.pth``); other files are kept and named in the log.
- ``--eval-only`` writes its ``config.yaml`` and log into ``<output_dir>/eval_<N>``, a new folder
  each time, so the training folder's ``config.yaml`` and ``metrics.json`` are never touched.
"""

import contextlib
import glob
import logging
import os
import re
from typing import Iterator, List

from detectron2.utils import comm

from .run_folder import claim_output_folder, lock_output_folder

__all__ = [
    "check_training_output_dir",
    "find_checkpoints",
    "new_eval_output_dir",
    "remove_stale_temp_files",
    "training_output_dir",
]

logger = logging.getLogger(__name__)

# Files of a previous run that --overwrite-output removes besides its checkpoints (they would
# mix with the new run's); log.txt is appended to and eval_<N> folders are kept.
_RUN_FILES = re.compile(r"metrics\.json|events\.out\.tfevents\..*")
# The checkpoint names our checkpointer writes: the only ones --overwrite-output removes.
_OUR_CHECKPOINTS = re.compile(r"model_\d{7}\.pth|model_final\.pth|last_checkpoint")
# Temporary files of an interrupted atomic save (segvit.checkpoint: ".<name>.<random>.tmp").
_TEMP_FILES = (".model_*.pth.*.tmp", ".last_checkpoint.*.tmp")


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
        ours = [n for n in found if _OUR_CHECKPOINTS.fullmatch(n)]
        for name in ours + sorted(n for n in os.listdir(output_dir) if _RUN_FILES.fullmatch(n)):
            os.remove(os.path.join(output_dir, name))
            removed.append(name)
        logger.warning("--overwrite-output: removed %s from %s", ", ".join(removed), output_dir)
        kept = sorted(set(found) - set(ours))
        if kept:
            logger.warning("--overwrite-output: kept %s (not a name our runs write)", kept)
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


def remove_stale_temp_files(output_dir: str) -> List[str]:
    """Remove the temporary files of checkpoint saves that a kill interrupted (``.model_final.pth.
    <random>.tmp``); call it only while holding the folder's lock. Returns their names."""
    removed = []
    for pattern in _TEMP_FILES:
        for path in sorted(glob.glob(os.path.join(glob.escape(output_dir), pattern))):
            os.remove(path)
            removed.append(os.path.basename(path))
    if removed:
        logger.info("Removed the temporary files of an interrupted save: %s", ", ".join(removed))
    return removed


@contextlib.contextmanager
def training_output_dir(output_dir: str, *, resume: bool, overwrite: bool) -> Iterator[None]:
    """The checks and the lock of a training's ``train.output_dir``, held inside the ``with``.

    The main process claims the folder (new, empty or ours: ``run_folder.py``), locks it for the
    run (a second training into it gets :class:`~segvit.engine.run_folder.OutputDirInUseError`),
    then applies :func:`check_training_output_dir` and removes the temporary files of an
    interrupted save. The other processes wait for the claim (a refusal ends them with it).
    """
    what = "train.output_dir"
    main = comm.is_main_process()
    if main:
        claim_output_folder(output_dir, what=what)
    with lock_output_folder(output_dir, what=what) if main else contextlib.nullcontext():
        comm.synchronize()  # the other processes write (log.txt.rank<N>) only after the claim
        check_training_output_dir(output_dir, resume=resume, overwrite=overwrite)
        if main:
            remove_stale_temp_files(output_dir)
        yield
