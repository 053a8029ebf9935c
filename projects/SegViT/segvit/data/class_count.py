"""The model's class count against the dataset's, checked at start-up (train, eval, demo).

A head with 10 classes on an 8-class dataset trains without complaint and fails much later (an
``IndexError`` in the demo's palette); with 5 classes the label check blames the label files.
:func:`check_num_classes` compares the config's class count with the ``stuff_classes`` of every
dataset the run uses, before anything is built, and names both numbers and the key to change.
"""

import logging
from typing import List, Optional, Sequence, Tuple

from detectron2.data import MetadataCatalog
from omegaconf import OmegaConf

from .datasets.config_datasets import resolve_dataset_names

__all__ = ["config_num_classes", "dataset_names", "dataset_num_classes", "check_num_classes"]

logger = logging.getLogger(__name__)

# Where each model family keeps its class count (SegViT / SETR heads; MaskFormer baselines).
_NUM_CLASSES_KEYS = ("model.head.num_classes", "model.sem_seg_head.num_classes")


def config_num_classes(cfg) -> Optional[Tuple[int, str]]:
    """``(count, key)`` of the model's class count in a LazyConfig, or None if it has none."""
    for key in _NUM_CLASSES_KEYS:
        value = OmegaConf.select(cfg, key, default=None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value, key
    return None


def dataset_names(cfg, splits: Sequence[str] = ("train", "test")) -> List[Tuple[str, str]]:
    """``[(config key, dataset name)]`` of ``dataloader.<split>.dataset.names`` in ``cfg``.

    A ``names`` node that registers a dataset from config values (``configs/custom``) is built
    here, which registers the dataset.
    """
    found = []
    for split in splits:
        key = f"dataloader.{split}.dataset.names"
        names = OmegaConf.select(cfg, key, default=None)
        found += [(key, name) for name in resolve_dataset_names(names)]
    return found


def dataset_num_classes(name: str) -> Optional[int]:
    """``len(stuff_classes)`` of a registered dataset's metadata, or None if it has none."""
    classes = MetadataCatalog.get(name).get("stuff_classes", None)
    return len(classes) if classes else None


def check_num_classes(cfg, splits: Sequence[str] = ("train", "test")) -> None:
    """Raise ``ValueError`` when the model's class count differs from a dataset's.

    Args:
        cfg: a LazyConfig with ``model`` and ``dataloader.<split>.dataset.names``.
        splits: which loaders the run uses ("train", "test").
    """
    model = config_num_classes(cfg)
    if model is None:
        return
    count, key = model
    for names_key, name in dataset_names(cfg, splits):
        expected = dataset_num_classes(name)
        if expected is not None and expected != count:
            raise ValueError(
                f"The model predicts {count} classes ({key}={count}) but dataset {name!r} "
                f"({names_key}) has {expected} classes (its metadata's stuff_classes). Set "
                f"{key}={expected}, or use a dataset with {count} classes."
            )
