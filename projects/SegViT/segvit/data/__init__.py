"""Data: built-in synthetic dataset, dataset registration, mappers and augmentations."""
from . import synthetic  # registers synthetic_sem_seg_{train,val}
from .dataset_mapper import SemSegDatasetMapper
