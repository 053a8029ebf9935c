"""segvit.data.build: the training stream is a function of (seed, position) and can be resumed."""

import itertools
import random

import numpy as np
import torch
from detectron2.data.samplers import TrainingSampler

from segvit.data.build import (
    PositionSeededMapDataset,
    ResumableTrainingSampler,
    build_semseg_train_loader,
)


def random_mapper(record):
    """A stand-in for an augmenting mapper: draws from python, numpy and torch RNGs."""
    return (record["id"], random.random(), float(np.random.rand()), float(torch.rand(())))


def test_sampler_starts_at_a_position_of_detectron2s_stream():
    reference = list(itertools.islice(TrainingSampler(5, seed=3), 23))
    stream = list(itertools.islice(ResumableTrainingSampler(5, seed=3, start=7), 16))
    assert [position for position, _ in stream] == list(range(7, 23))
    assert [index for _, index in stream] == reference[7:]


def test_mapping_depends_on_seed_and_position_and_leaves_global_rngs_alone():
    dataset = PositionSeededMapDataset([{"id": i} for i in range(3)], random_mapper, seed=0)
    before = random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state()
    first = dataset[(4, 1)]
    assert random.getstate() == before[0]
    assert np.array_equal(np.random.get_state()[1], before[1])
    assert torch.equal(torch.get_rng_state(), before[2])
    assert dataset[(4, 1)] == first  # same position: same draws
    assert dataset[(5, 1)] != first  # next position: new draws
    assert PositionSeededMapDataset(dataset.dataset, random_mapper, seed=1)[(4, 1)] != first


def _batches(loader, n):
    return list(itertools.islice(iter(loader), n))


def test_loader_resumes_the_stream_with_or_without_worker_processes():
    dicts = [{"id": i} for i in range(5)]
    kwargs = dict(mapper=random_mapper, total_batch_size=2, seed=7)
    straight = _batches(build_semseg_train_loader(dicts, **kwargs), 6)
    resumed = _batches(build_semseg_train_loader(dicts, skip_batches=4, **kwargs), 2)
    assert resumed == straight[4:]
    with_worker = _batches(build_semseg_train_loader(dicts, num_workers=1, **kwargs), 6)
    assert with_worker == straight
