"""A resumable, reproducible training data stream for semantic segmentation.

Detectron2's :func:`build_detection_train_loader` draws an infinite shuffled index stream from a
seed, but a resumed run starts that stream again from its beginning, and the augmentations draw
from each data-loader worker's global RNGs, whose states are not checkpointed. Here:

- :class:`ResumableTrainingSampler` is Detectron2's :class:`TrainingSampler` started at a
  position of the global stream (``skip_batches x total_batch_size`` items are skipped), and
  yields ``(position, index)`` pairs;
- :class:`PositionSeededMapDataset` runs the mapper of item ``index`` with python ``random``,
  numpy and torch (CPU) seeded by ``(seed, position)``, restoring the previous RNG states after.

Item ``p`` of the stream is therefore the same image with the same augmentation in every run with
the same seed, whatever ``num_workers``, the number of processes, or where the run was resumed.
"""

import contextlib
import itertools
import logging
import random
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.utils.data as torchdata
from detectron2.data import (
    DatasetFromList,
    build_detection_test_loader,
    build_detection_train_loader,
)
from detectron2.data.samplers import TrainingSampler
from detectron2.utils import comm

from .workers import loader_workers

__all__ = [
    "ResumableTrainingSampler",
    "PositionSeededMapDataset",
    "build_semseg_test_loader",
    "build_semseg_train_loader",
]

logger = logging.getLogger(__name__)


class ResumableTrainingSampler(TrainingSampler):
    """:class:`TrainingSampler` whose infinite index stream starts at ``start``.

    The global stream is ``shuffle(range(size)) + shuffle(range(size)) + ...`` drawn from a
    generator seeded with ``seed``; process ``r`` of ``W`` takes items ``start + r``,
    ``start + r + W``, ... . Each item is yielded as ``(position, index)``: its position in the
    global stream and its dataset index.
    """

    def __init__(self, size: int, *, shuffle: bool = True, seed: Optional[int] = None, start=0):
        """
        Args:
            size (int): dataset length.
            shuffle (bool): shuffle each pass over the dataset.
            seed (int or None): seed of the shuffle, equal in every process; None draws a random
                one shared by all processes.
            start (int): items of the global stream to skip (already consumed by earlier steps).
        """
        super().__init__(size, shuffle=shuffle, seed=seed)
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        self._start = int(start)

    @property
    def seed(self) -> int:
        return self._seed

    def _positioned_stream(self) -> Iterator[Tuple[int, int]]:
        g = torch.Generator()
        g.manual_seed(self._seed)
        epoch, offset = divmod(self._start, self._size)
        for _ in range(epoch):  # advance the generator over whole passes without yielding them
            if self._shuffle:
                torch.randperm(self._size, generator=g)
        position = epoch * self._size
        while True:
            if self._shuffle:
                indices = torch.randperm(self._size, generator=g).tolist()
            else:
                indices = list(range(self._size))
            for index in indices[offset:]:
                yield position + offset, index
                offset += 1
            position += self._size
            offset = 0

    def __iter__(self) -> Iterator[Tuple[int, int]]:
        yield from itertools.islice(self._positioned_stream(), self._rank, None, self._world_size)


@contextlib.contextmanager
def _seeded_rngs(seed_words: Sequence[int]):
    """Seed python ``random``, numpy and torch (CPU only) for the body; restore them after."""
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    seed = int(np.random.SeedSequence(list(seed_words)).generate_state(1, np.uint64)[0])
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.default_generator.manual_seed(seed)  # not torch.manual_seed: leave CUDA RNGs alone
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])


class PositionSeededMapDataset(torchdata.Dataset):
    """Map ``dataset[index]`` with ``mapper`` under RNGs seeded by ``(seed, position)``.

    Indexed by the ``(position, index)`` pairs of :class:`ResumableTrainingSampler`. The global
    RNG states of the calling process are unchanged afterwards, so loading data in the main
    process (``num_workers=0``) does not shift the model's dropout stream.
    """

    def __init__(self, dataset: Sequence[Dict[str, Any]], mapper: Callable, seed: int):
        self.dataset = dataset
        self.mapper = mapper
        self.seed = int(seed)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: Tuple[int, int]) -> Any:
        position, index = key
        with _seeded_rngs((self.seed, position)):
            return self.mapper(self.dataset[index])


def build_semseg_train_loader(
    dataset: Union[List[Dict[str, Any]], torchdata.Dataset],
    *,
    mapper: Callable,
    total_batch_size: int,
    num_workers: int = 0,
    seed: Optional[int] = None,
    skip_batches: int = 0,
    shuffle: bool = True,
    **kwargs,
) -> torchdata.DataLoader:
    """:func:`build_detection_train_loader` with a seeded, resumable stream (module docstring).

    Args:
        dataset (list[dict] or map-style Dataset): dataset dicts, e.g. from
            :func:`get_detection_dataset_dicts`.
        mapper (callable): dataset dict -> model input, e.g. :class:`SemSegDatasetMapper`.
        total_batch_size (int): batch over all processes (each gets total / world size).
        num_workers (int): data-loader worker processes per training process, at most one less
            than the process's CPU cores (:func:`~segvit.data.workers.loader_workers`).
        seed (int or None): seed of the index stream and of the per-item augmentation; None or
            negative draws a random seed shared by all processes (the run is then not
            reproducible). LazyConfigs pass ``train.seed``.
        skip_batches (int): batches of ``total_batch_size`` consumed before (set on resume:
            iterations x gradient-accumulation steps); the stream continues after them.
        shuffle (bool): shuffle each pass over the dataset.
        kwargs: passed to :func:`build_detection_train_loader` (e.g. ``collate_fn``).

    Returns:
        torch.utils.data.DataLoader: yields lists of ``total_batch_size / world_size`` mapped
        dicts, forever.
    """
    if seed is None or seed < 0:
        seed = comm.shared_random_seed()
        logger.info("Training data stream: random seed %d (not reproducible)", seed)
    if skip_batches < 0:
        raise ValueError(f"skip_batches must be >= 0, got {skip_batches}")
    sampler = ResumableTrainingSampler(
        len(dataset), shuffle=shuffle, seed=seed, start=skip_batches * total_batch_size
    )
    if skip_batches:
        logger.info("Training data stream: resuming after %d batches", skip_batches)
    if isinstance(dataset, list):  # serialised, as Detectron2 does (no copy-on-read in workers)
        dataset = DatasetFromList(dataset, copy=False)
    return build_detection_train_loader(
        PositionSeededMapDataset(dataset, mapper, seed),
        mapper=None,
        sampler=sampler,
        total_batch_size=total_batch_size,
        aspect_ratio_grouping=False,
        num_workers=loader_workers(num_workers, what="training data loader"),
        # Worker base seeds come from this generator, not from the global torch RNG, so creating
        # the loader iterator does not shift the model's RNG stream.
        seed=seed + comm.get_rank(),
        **kwargs,
    )


def build_semseg_test_loader(dataset, *, mapper: Callable, num_workers: int = 0, **kwargs):
    """Detectron2's :func:`build_detection_test_loader` with ``num_workers`` capped at one less
    than the process's CPU cores (:func:`~segvit.data.workers.loader_workers`)."""
    return build_detection_test_loader(
        dataset,
        mapper=mapper,
        num_workers=loader_workers(num_workers, what="test data loader"),
        **kwargs,
    )
