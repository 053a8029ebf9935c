"""A built-in synthetic semantic segmentation dataset: textured backgrounds with coloured shapes.

The class of a pixel cannot be read from its colour: the colour palettes of the classes overlap
(each hue fills two shape classes, and backgrounds use every colour), so the outline and the fill
texture of each class (stripes, dots, ...) decide.
The dataset is generated once, deterministically from a seed, in the layout Detectron2 uses for
ADE20K::

    <root>/images/{train,val}/*.jpg
    <root>/annotations_detectron2/{train,val}/*.png   (uint8 class ids, 255 = ignore)
    <root>/meta.json                                  (generator name, version, seed, counts)

and registered as ``synthetic_sem_seg_train`` / ``synthetic_sem_seg_val`` with the root
``$DETECTRON2_DATASETS/synthetic`` (default ``datasets/synthetic``, relative to the working
directory). Importing this module only registers functions; the files are written on the first
``DatasetCatalog.get``.
"""

import functools
import glob
import json
import logging
import os
import shutil
import socket
import tempfile
import time
from typing import Dict, List, Optional

import cv2
import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import load_sem_seg

from .synthetic_render import IGNORE_LABEL, SYNTHETIC_CLASSES, render_sample

__all__ = [
    "SYNTHETIC_CLASSES",
    "SYNTHETIC_COLORS",
    "generate_synthetic_dataset",
    "ensure_synthetic_dataset",
    "DATA_VERSION",
    "GENERATOR_NAME",
    "write_split",
    "register_synthetic",
]

logger = logging.getLogger(__name__)

# Visualisation colours of the classes (RGB); unrelated to the colours in the images.
SYNTHETIC_COLORS = [
    [120, 120, 120],
    [230, 25, 75],
    [60, 180, 75],
    [255, 225, 25],
    [0, 130, 200],
    [245, 130, 48],
    [145, 30, 180],
    [70, 240, 240],
]
SPLITS = ("train", "val")

GENERATOR_NAME = "segvit-synthetic"
DATA_VERSION = 3  # 3: class fill textures, larger shapes; 2: hue pairs; 1: one shared palette
_DEFAULTS = {"num_train": 300, "num_val": 50, "seed": 0}
# Stream id of each split: sample i of a split is drawn from default_rng([seed, id, i]). 2 and 3 are
# the backbone pre-training images (``synthetic_pretrain.py``), disjoint from train and val.
_SPLIT_IDS = {"train": 0, "val": 1, "pretrain_train": 2, "pretrain_val": 3}
_JPEG_QUALITY = 90


def default_root() -> str:
    """``$DETECTRON2_DATASETS/synthetic``, with Detectron2's default ``datasets``."""
    return os.path.join(
        os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets")), "synthetic"
    )


# ---------------------------------------------------------------------------------------------
# Writing to disk, safely
# ---------------------------------------------------------------------------------------------


def _expected_meta(num_train: int, num_val: int, seed: int) -> Dict:
    return {
        "generator": GENERATOR_NAME,
        "version": DATA_VERSION,
        "seed": seed,
        "num_train": num_train,
        "num_val": num_val,
        "classes": list(SYNTHETIC_CLASSES),
    }


def _read_meta(root: str) -> Optional[Dict]:
    """Our ``meta.json`` in ``root``, or None if there is none (or it is not ours)."""
    try:
        with open(os.path.join(root, "meta.json")) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("generator") != GENERATOR_NAME:
        return None
    return meta


def _check_root(root: str, meta: Optional[Dict]) -> bool:
    """True if ``root`` holds the dataset that ``meta`` describes (any of ours if ``meta`` is None).

    Raises ValueError if ``root`` holds anything else; returns False if it is missing or empty.
    """
    if not os.path.lexists(root):
        return False
    if not os.path.isdir(root):
        raise ValueError(
            f"The synthetic dataset path {root!r} exists but is not a folder. Remove it, or set "
            "DETECTRON2_DATASETS to another folder (the dataset goes to "
            "$DETECTRON2_DATASETS/synthetic)."
        )
    found = _read_meta(root)
    if found is None:
        if not os.listdir(root):
            return False
        raise ValueError(
            f"Refusing to write the synthetic dataset into {root!r}: it holds files that were not "
            "made by the synthetic dataset generator (no matching meta.json). Set "
            "DETECTRON2_DATASETS to another folder (the dataset goes to "
            "$DETECTRON2_DATASETS/synthetic) or pass another root, or remove that folder yourself."
        )
    if found.get("version") != DATA_VERSION or (meta is not None and found != meta):
        raise ValueError(
            f"The synthetic dataset in {root!r} was generated with other settings ({found}) than "
            f"requested ({meta or {'version': DATA_VERSION}}). Remove that folder to regenerate "
            "it, or use another root."
        )
    return True


def write_split(folder: str, split: str, count: int, seed: int) -> None:
    """Write ``count`` samples of ``split`` into ``folder``/{images,annotations_detectron2}/."""
    image_dir = os.path.join(folder, "images", split)
    label_dir = os.path.join(folder, "annotations_detectron2", split)
    os.makedirs(image_dir)
    os.makedirs(label_dir)
    for i in range(count):
        # One generator per sample: a sample does not depend on the split sizes.
        rng = np.random.default_rng([seed, _SPLIT_IDS[split], i])
        image, label = render_sample(rng)
        name = f"synthetic_{split}_{i:05d}"
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        if not cv2.imwrite(
            os.path.join(image_dir, name + ".jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY]
        ):
            raise OSError(f"could not write {os.path.join(image_dir, name + '.jpg')}")
        if not cv2.imwrite(os.path.join(label_dir, name + ".png"), label):
            raise OSError(f"could not write {os.path.join(label_dir, name + '.png')}")


_OWNER_FILE = ".owner"  # "<host> <pid>" of the process writing a temporary folder


def _owner_alive(tmp_dir: str) -> bool:
    """Whether the process that writes ``tmp_dir`` may still be running."""
    try:
        with open(os.path.join(tmp_dir, _OWNER_FILE)) as f:
            host, pid = f.read().split()
    except (OSError, ValueError):
        # The owner file is written right after the folder is made: without one, the folder is
        # either that young or from a killed run.
        return time.time() - os.path.getmtime(tmp_dir) < 60
    if host != socket.gethostname():
        return True  # another machine's process (shared disk): leave it alone
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def _remove_stale_tmp_dirs(root: str) -> None:
    """Remove the ``.<name>.tmp-*`` folders next to ``root`` left by killed generations."""
    parent, name = os.path.dirname(os.path.abspath(root)), os.path.basename(root)
    for tmp_dir in glob.glob(os.path.join(parent, f".{glob.escape(name)}.tmp-*")):
        if os.path.isdir(tmp_dir) and not _owner_alive(tmp_dir):
            shutil.rmtree(tmp_dir, ignore_errors=True)
            logger.info("Removed %s, left by a dataset generation that was killed", tmp_dir)


def _publish(tmp_dir: str, root: str, meta: Dict) -> None:
    """Move the finished ``tmp_dir`` to ``root`` atomically; if another process won, use theirs."""
    try:
        os.rename(tmp_dir, root)  # atomic; replaces ``root`` only if it is an empty folder
        return
    except OSError:
        if not _check_root(root, meta):  # raises if ``root`` holds something else
            raise
    logger.info("Another process generated the synthetic dataset in %s first; using it.", root)
    shutil.rmtree(tmp_dir)


def generate_synthetic_dataset(
    root: str, *, num_train: int = 300, num_val: int = 50, seed: int = 0
) -> None:
    """Generate the synthetic dataset into ``root``, deterministically from ``seed``.

    Writes into a temporary folder next to ``root`` and renames it, so that concurrent processes
    (e.g. DDP workers) never see a half-written dataset; temporary folders of killed generations
    (their process is gone) are removed first. Does nothing if ``root`` already holds the
    same dataset; never writes into a folder that holds other files.

    Args:
        root (str): the dataset folder to create, e.g. ``datasets/synthetic``.
        num_train (int): number of training images.
        num_val (int): number of validation images.
        seed (int): the seed; the same seed always gives the same label files.

    Raises:
        ValueError: if ``root`` exists and holds other files, or another version of the dataset.
    """
    for key, value in (("num_train", num_train), ("num_val", num_val)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{key}={value!r} must be a positive int.")
    root = os.path.normpath(root)
    meta = _expected_meta(num_train, num_val, seed)
    if _check_root(root, meta):
        return
    parent = os.path.dirname(os.path.abspath(root))
    os.makedirs(parent, exist_ok=True)
    logger.info(
        "Generating the synthetic dataset (%d train, %d val) in %s", num_train, num_val, root
    )
    _remove_stale_tmp_dirs(root)
    tmp_dir = tempfile.mkdtemp(prefix=f".{os.path.basename(root)}.tmp-", dir=parent)
    os.chmod(tmp_dir, 0o755)  # mkdtemp makes it private; the dataset is meant to be shared
    try:
        with open(os.path.join(tmp_dir, _OWNER_FILE), "w") as f:
            f.write(f"{socket.gethostname()} {os.getpid()}")
        for split, count in (("train", num_train), ("val", num_val)):
            write_split(tmp_dir, split, count, seed)
        with open(os.path.join(tmp_dir, "meta.json"), "w") as f:
            json.dump(meta, f, indent=2)
        os.remove(os.path.join(tmp_dir, _OWNER_FILE))
        _publish(tmp_dir, root, meta)
    finally:
        if os.path.isdir(tmp_dir):  # only our own temporary folder, if it was not moved
            shutil.rmtree(tmp_dir)


def ensure_synthetic_dataset(root: Optional[str] = None) -> str:
    """Return ``root`` (default :func:`default_root`); generate the dataset there if it is missing.

    A folder that already holds a dataset from this generator (same version, any seed or size) is
    reused as it is.
    """
    root = os.path.normpath(root or default_root())
    _remove_stale_tmp_dirs(root)
    if not _check_root(root, None):
        generate_synthetic_dataset(root, **_DEFAULTS)
    return root


# ---------------------------------------------------------------------------------------------
# Registration
# ---------------------------------------------------------------------------------------------


def _load_split(root: str, split: str) -> List[Dict]:
    root = ensure_synthetic_dataset(root)
    return load_sem_seg(
        os.path.join(root, "annotations_detectron2", split),
        os.path.join(root, "images", split),
        gt_ext="png",
        image_ext="jpg",
    )


def register_synthetic(root: Optional[str] = None, *, name_prefix: str = "synthetic_sem_seg"):
    """Register ``{name_prefix}_train`` and ``{name_prefix}_val`` (cheap: nothing is written).

    Args:
        root (str or None): dataset folder; default ``$DETECTRON2_DATASETS/synthetic``, read
            from the environment when this function is called.
        name_prefix (str): prefix of the dataset names.
    """
    root = os.path.normpath(root or default_root())
    for split in SPLITS:
        name = f"{name_prefix}_{split}"
        DatasetCatalog.register(name, functools.partial(_load_split, root, split))
        MetadataCatalog.get(name).set(
            stuff_classes=list(SYNTHETIC_CLASSES),
            stuff_colors=[list(c) for c in SYNTHETIC_COLORS],
            ignore_label=IGNORE_LABEL,
            evaluator_type="sem_seg",
            image_root=os.path.join(root, "images", split),
            sem_seg_root=os.path.join(root, "annotations_detectron2", split),
        )


register_synthetic()
