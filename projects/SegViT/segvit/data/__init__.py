"""Data: built-in synthetic dataset, dataset registration, mappers and augmentations."""

from . import datasets, synthetic  # registers the paper's datasets and synthetic_sem_seg_*
from .dataset_mapper import SemSegDatasetMapper
