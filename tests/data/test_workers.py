"""Loader worker processes follow the CPU cores (segvit/data/workers.py)."""

import logging

import pytest

from segvit.data import workers
from segvit.data.build import build_semseg_test_loader, build_semseg_train_loader
from segvit.data.workers import loader_workers


@pytest.mark.parametrize(
    "requested, cores, expected",
    [
        (4, 2, 1),  # the paper configs on a 2-core machine: one worker, one core for the model
        (4, 16, 4),  # a server keeps the configured count
        (4, 4, 3),
        (2, 1, 0),  # one core: load in the training process
        (0, 8, 0),
        (1, 2, 1),  # the demo's setting is kept
    ],
)
def test_loader_workers_leave_a_core_to_the_model(requested, cores, expected):
    assert loader_workers(requested, cores=cores) == expected


def test_reduced_worker_count_is_logged_with_the_reason(caplog):
    with caplog.at_level(logging.INFO, logger="segvit.data.workers"):
        loader_workers(4, cores=2, what="test data loader")
    assert "test data loader: 1 worker process(es) instead of the configured 4" in caplog.text
    assert "2 CPU core(s)" in caplog.text


def test_negative_worker_count_is_refused():
    with pytest.raises(ValueError, match="num_workers"):
        loader_workers(-1, cores=2)


def test_built_loaders_use_the_capped_count(monkeypatch):
    monkeypatch.setattr(workers, "available_cores", lambda: 2)
    dicts = [{"file_name": f"{i}.jpg"} for i in range(4)]
    test_loader = build_semseg_test_loader(dicts, mapper=lambda d: d, num_workers=4)
    assert test_loader.num_workers == 1
    train_loader = build_semseg_train_loader(
        dicts, mapper=lambda d: d, total_batch_size=2, num_workers=4, seed=0
    )
    assert _workers_of(train_loader) == 1


def _workers_of(loader) -> int:
    """num_workers of a Detectron2 train loader (a DataLoader, or one wrapped for batching)."""
    while not hasattr(loader, "num_workers"):
        loader = getattr(loader, "data_loader", None) or getattr(loader, "dataset")
    return loader.num_workers
