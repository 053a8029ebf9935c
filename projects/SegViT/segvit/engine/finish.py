"""``--resume`` of a run that has no iteration left: finish what its end did not, append nothing
twice.

A run ends with three writes: the last periodic checkpoint, ``model_final.pth`` (then
``last_checkpoint`` names it) and the final evaluation record, at iteration ``max_iter``, in
``metrics.json`` and the TensorBoard events. A kill between them leaves ``last_checkpoint`` at
iteration ``max_iter - 1``, so ``--resume`` has nothing to train; Detectron2's loop would then skip
the final save and append a second evaluation at iteration ``max_iter + 1``.
:func:`finish_resumed_run` instead

- writes ``model_final.pth`` when ``last_checkpoint`` does not name it (the final save did not
  complete; the loaded weights are those of the last iteration);
- evaluates, and appends the record at iteration ``max_iter`` only when ``metrics.json`` has none
  (the final evaluation did not complete); a finished run is evaluated and logged, not appended.
"""

import json
import logging
import os
from typing import Any, Callable, Dict

from detectron2.evaluation.testing import flatten_results_dict
from detectron2.utils import comm
from detectron2.utils.events import EventStorage, JSONWriter, TensorboardXWriter

__all__ = ["finish_resumed_run", "has_record_at"]

logger = logging.getLogger(__name__)


def has_record_at(metrics_file: str, iteration: int) -> bool:
    """Whether ``metrics.json`` (one JSON object per line) holds a record at ``iteration``."""
    if not os.path.isfile(metrics_file):
        return False
    with open(metrics_file) as f:
        for line in f:
            try:
                if json.loads(line).get("iteration") == iteration:
                    return True
            except (ValueError, AttributeError):
                continue  # a line cut by a kill
    return False


def finish_resumed_run(
    checkpointer, *, max_iter: int, output_dir: str, evaluate: Callable[[], Dict[str, Any]]
) -> Dict[str, Any]:
    """Finish a resumed run whose checkpoint is at its last iteration (see the module docstring).

    Args:
        checkpointer: the run's checkpointer, after ``resume_or_load`` (its trainer holds the
            loaded iteration).
        max_iter: ``train.max_iter``.
        output_dir: ``train.output_dir`` (``metrics.json`` and the TensorBoard events).
        evaluate: evaluates the model, in every process; returns the results (possibly empty).
    Returns:
        the evaluation results.
    """
    last = os.path.basename(checkpointer.get_checkpoint_file())
    if last != "model_final.pth":
        logger.warning(
            "last_checkpoint names %s at the last iteration: the final save of this run did not "
            "complete. Writing model_final.pth now.",
            last,
        )
        checkpointer.save("model_final")  # process 0 only (save_to_disk)
    metrics_file = os.path.join(output_dir, "metrics.json")
    recorded = comm.all_gather(has_record_at(metrics_file, max_iter))[0]
    logger.info(
        "This run has no iteration left (train.max_iter=%d): evaluating it%s.",
        max_iter,
        (
            "; metrics.json already holds its final evaluation, so the results are only logged"
            if recorded
            else " and recording the final evaluation, which did not complete"
        ),
    )
    results = evaluate()
    if results and not recorded and comm.is_main_process():
        flat = {k: float(v) for k, v in flatten_results_dict(results).items()}
        with EventStorage(max_iter) as storage:
            storage.put_scalars(**flat, smoothing_hint=False)
            for writer in (JSONWriter(metrics_file), TensorboardXWriter(output_dir)):
                writer.write()
                writer.close()
    return results
