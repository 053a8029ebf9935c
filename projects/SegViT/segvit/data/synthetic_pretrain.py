"""Images for pre-training the tiny backbone, disjoint from the synthetic train and val splits.

The analogue of ImageNet for the tiny benchmark (``tools/pretrain_tiny_backbone.py``): more images
from the synthetic generator, drawn from their own random streams (``pretrain_train`` and
``pretrain_val``: sample ``i`` is rendered from ``default_rng([seed, 2 or 3, i])``, train and val
use stream ids 0 and 1), so no pre-training image is a train or val image. Only image-level labels
are used: which classes cover at least a given fraction of a crop (multi-label classification).
The label maps are written too, because the crop's labels are computed after augmentation.

Layout (as the synthetic dataset's)::

    <root>/images/{pretrain_train,pretrain_val}/*.jpg
    <root>/annotations_detectron2/{pretrain_train,pretrain_val}/*.png
    <root>/meta.json
"""

import json
import logging
import os
import shutil
import tempfile
from typing import Dict, List

import torch
from detectron2.data.datasets import load_sem_seg

from .synthetic import DATA_VERSION, GENERATOR_NAME, write_split
from .synthetic_render import SYNTHETIC_CLASSES

__all__ = ["PRETRAIN_SPLITS", "generate_pretrain_images", "load_pretrain_split", "presence_labels"]

logger = logging.getLogger(__name__)

PRETRAIN_SPLITS = ("pretrain_train", "pretrain_val")


def _meta(num_train: int, num_val: int, seed: int) -> Dict:
    return {
        "generator": GENERATOR_NAME,
        "version": DATA_VERSION,
        "purpose": "backbone pre-training (image-level labels)",
        "seed": seed,
        "num_pretrain_train": num_train,
        "num_pretrain_val": num_val,
        "classes": list(SYNTHETIC_CLASSES),
    }


def generate_pretrain_images(root: str, *, num_train: int, num_val: int, seed: int = 0) -> str:
    """Write the pre-training images into ``root`` (reused if it holds the same ones).

    Args:
        root (str): folder to create.
        num_train (int): images of ``pretrain_train``.
        num_val (int): images of ``pretrain_val`` (held out: the image-level metric).
        seed (int): the generator seed (the synthetic dataset's default is 0).

    Returns:
        str: ``root``.
    """
    for key, value in (("num_train", num_train), ("num_val", num_val)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{key}={value!r} must be a positive int.")
    meta = _meta(num_train, num_val, seed)
    meta_path = os.path.join(root, "meta.json")
    if os.path.isfile(meta_path):
        with open(meta_path) as f:
            found = json.load(f)
        if found != meta:
            raise ValueError(
                f"{root} holds other pre-training images ({found}); remove it or choose another "
                "output folder."
            )
        return root
    if os.path.exists(root) and os.listdir(root):
        raise ValueError(f"Refusing to write pre-training images into the non-empty {root}")
    parent = os.path.dirname(os.path.abspath(root))
    os.makedirs(parent, exist_ok=True)
    logger.info("Rendering %d + %d pre-training images into %s", num_train, num_val, root)
    tmp_dir = tempfile.mkdtemp(prefix=".pretrain-data.tmp-", dir=parent)
    os.chmod(tmp_dir, 0o755)  # mkdtemp makes it private; the images are meant to be shared
    try:
        for split, count in zip(PRETRAIN_SPLITS, (num_train, num_val)):
            write_split(tmp_dir, split, count, seed)
        with open(os.path.join(tmp_dir, "meta.json"), "w") as f:
            json.dump(meta, f, indent=2)
        if os.path.isdir(root):
            os.rmdir(root)  # empty (checked above)
        os.rename(tmp_dir, root)
    finally:
        if os.path.isdir(tmp_dir):
            shutil.rmtree(tmp_dir)
    return root


def load_pretrain_split(root: str, split: str) -> List[Dict]:
    """Detectron2 dataset dicts (``file_name``, ``sem_seg_file_name``) of one pre-training split."""
    if split not in PRETRAIN_SPLITS:
        raise ValueError(f"split={split!r} is not one of {PRETRAIN_SPLITS}")
    return load_sem_seg(
        os.path.join(root, "annotations_detectron2", split),
        os.path.join(root, "images", split),
        gt_ext="png",
        image_ext="jpg",
    )


def presence_labels(
    sem_seg: torch.Tensor, num_classes: int, min_fraction: float, ignore_label: int = 255
) -> torch.Tensor:
    """Multi-label targets: class k is present if it covers ``>= min_fraction`` of the labelled
    pixels (slivers of a shape cut by the crop border do not count).

    Args:
        sem_seg (Tensor): (H, W) int64 class ids, ``ignore_label`` for unlabelled/padded pixels.
        num_classes (int): K.
        min_fraction (float): area threshold in [0, 1).

    Returns:
        Tensor: (K,) float 0/1.
    """
    valid = sem_seg[sem_seg != ignore_label]
    if valid.numel() == 0:
        return torch.zeros(num_classes)
    if int(valid.max()) >= num_classes:
        raise ValueError(f"label value {int(valid.max())} >= num_classes {num_classes}")
    counts = torch.bincount(valid.flatten(), minlength=num_classes).float()
    return (counts >= min_fraction * valid.numel()).float() * (counts > 0).float()
