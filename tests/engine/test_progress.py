"""CPU runs choose threads from the load and print progress early (engine/progress.py)."""

import logging

import torch
from detectron2.utils.events import EventStorage

from segvit.engine.progress import EarlyProgress, choose_cpu_threads


def test_busy_cores_get_fewer_threads_and_the_message_says_what_to_do():
    threads, message = choose_cpu_threads(cores=2, load=3.1, env={})
    assert threads == 1
    assert "busy" in message and "OMP_NUM_THREADS=N" in message and "3.1" in message


def test_idle_cores_get_one_thread_each():
    assert choose_cpu_threads(cores=2, load=0.1, env={})[0] == 2
    assert choose_cpu_threads(cores=16, load=3.0, env={})[0] == 13
    assert choose_cpu_threads(cores=4, load=None, env={})[0] == 4


def test_omp_num_threads_from_the_user_is_kept():
    threads, message = choose_cpu_threads(cores=2, load=5.0, env={"OMP_NUM_THREADS": "2"})
    assert threads is None and "OMP_NUM_THREADS=2" in message


class _Trainer:
    def __init__(self, storage):
        self.storage = storage
        self.iter = 0


def test_early_progress_prints_at_the_first_iterations_only(caplog):
    hook = EarlyProgress(max_iter=2000, log_period=50)
    printed = []
    with EventStorage(0) as storage, caplog.at_level(logging.INFO, logger="detectron2"):
        hook.trainer = _Trainer(storage)
        for it in range(60):
            storage.iter = hook.trainer.iter = it
            storage.put_scalar("total_loss", torch.tensor(1.0).item())
            before = len(caplog.records)
            hook.after_step()
            if len(caplog.records) > before:
                printed.append(it + 1)
    assert printed == [1, 2, 5, 10, 20]
    assert "total_loss" in caplog.records[0].getMessage()
