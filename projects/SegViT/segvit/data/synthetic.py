"""A built-in synthetic semantic segmentation dataset: textured backgrounds with coloured shapes.

The class of a pixel cannot be read from its colour: the colour palettes of the classes overlap
(each hue fills two shape classes, and backgrounds use every colour), so shape and context decide.
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
import json
import logging
import os
import shutil
import tempfile
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import load_sem_seg

__all__ = [
    "SYNTHETIC_CLASSES",
    "SYNTHETIC_COLORS",
    "generate_synthetic_dataset",
    "ensure_synthetic_dataset",
    "register_synthetic",
]

logger = logging.getLogger(__name__)

SYNTHETIC_CLASSES = ["background", "disk", "square", "triangle", "ring", "cross", "star", "bar"]
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
IGNORE_LABEL = 255
SPLITS = ("train", "val")

_GENERATOR = "segvit-synthetic"
_VERSION = 2  # 2: partly overlapping class palettes (1: one shared palette)
_DEFAULTS = {"num_train": 300, "num_val": 50, "seed": 0}
_SPLIT_IDS = {"train": 0, "val": 1}
_JPEG_QUALITY = 90
_SIZE_RANGE = (128, 256)  # H and W each drawn in [128, 256], never equal
_SHAPE_SIZE = (0.28, 0.45)  # shape diameter as a fraction of the short image side
_MAX_SHAPES = 5
_MIN_CONTRAST = 70.0  # min RGB distance between a fill and the colours it is drawn over

# Image colours (RGB). The first 7 are hues. Around the cycle of shape classes below, hue h is
# shared by the classes at positions h and h + 1, so every shape class fills with two hues and
# every hue with two shape classes, while backgrounds use every colour: colour narrows a pixel to
# "background or one of two shapes", and shape and context decide. Neighbours in the cycle have
# coarsely different shapes (a hole, arms, spikes, elongation), which the shape cue resolves.
_PALETTE = np.array(
    [
        [220, 50, 50],
        [240, 150, 40],
        [230, 220, 60],
        [60, 180, 75],
        [40, 170, 170],
        [50, 90, 220],
        [140, 70, 200],
        [240, 120, 190],
        [140, 90, 50],
        [128, 128, 128],
        [230, 230, 230],
        [40, 40, 40],
    ],
    dtype=np.float32,
)
_CLASS_CYCLE = ["disk", "cross", "square", "ring", "triangle", "bar", "star"]
_NUM_HUES = len(_CLASS_CYCLE)
_CLASS_PALETTES = {
    SYNTHETIC_CLASSES.index(name): [(pos - 1) % _NUM_HUES, pos]
    for pos, name in enumerate(_CLASS_CYCLE)
}
_BACKGROUND_PALETTE = list(range(len(_PALETTE)))


def default_root() -> str:
    """``$DETECTRON2_DATASETS/synthetic``, with Detectron2's default ``datasets``."""
    return os.path.join(
        os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets")), "synthetic"
    )


# ---------------------------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------------------------


def _polygon(cx: float, cy: float, radii: np.ndarray, angle: float) -> np.ndarray:
    """Polygon with vertices at evenly spaced angles and the given radii; (N, 2) int32 (x, y)."""
    theta = angle + np.arange(len(radii)) * 2 * np.pi / len(radii)
    pts = np.stack([cx + radii * np.cos(theta), cy + radii * np.sin(theta)], axis=1)
    return np.round(pts).astype(np.int32)


def _rectangle(cx: float, cy: float, half_len: float, half_wid: float, angle: float) -> np.ndarray:
    """Rotated rectangle; (4, 2) int32 (x, y) corners."""
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64)
    corners *= [half_len, half_wid]
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return np.round(corners @ rot.T + [cx, cy]).astype(np.int32)


def _shape_mask(cls: int, hw: Tuple[int, int], cx: float, cy: float, r: float, angle: float):
    """Binary (H, W) uint8 mask of shape class ``cls`` (1..7) with bounding radius ``r``."""
    mask = np.zeros(hw, dtype=np.uint8)
    center = (int(round(cx)), int(round(cy)))
    name = SYNTHETIC_CLASSES[cls]
    if name == "disk":
        cv2.circle(mask, center, int(round(r)), 1, -1)
    elif name == "square":
        cv2.fillPoly(mask, [_rectangle(cx, cy, 0.72 * r, 0.72 * r, angle)], 1)
    elif name == "triangle":
        cv2.fillPoly(mask, [_polygon(cx, cy, np.full(3, 1.05 * r), angle)], 1)
    elif name == "ring":
        cv2.circle(mask, center, int(round(r)), 1, -1)
        cv2.circle(mask, center, int(round(0.55 * r)), 0, -1)
    elif name == "cross":
        cv2.fillPoly(mask, [_rectangle(cx, cy, r, 0.28 * r, angle)], 1)
        cv2.fillPoly(mask, [_rectangle(cx, cy, r, 0.28 * r, angle + np.pi / 2)], 1)
    elif name == "star":
        cv2.fillPoly(mask, [_polygon(cx, cy, np.tile([1.05 * r, 0.45 * r], 5), angle)], 1)
    elif name == "bar":
        cv2.fillPoly(mask, [_rectangle(cx, cy, 1.05 * r, 0.35 * r, angle)], 1)
    else:
        raise AssertionError(f"no drawing for class {name}")
    return mask


def _pick_color(
    rng: np.random.Generator, avoid: List[np.ndarray], candidates: List[int]
) -> np.ndarray:
    """A jittered colour (3,) of ``_PALETTE[candidates]``, at least ``_MIN_CONTRAST`` away from
    ``avoid`` if possible (else the most distant candidate)."""
    palette = _PALETTE[candidates]
    if avoid:
        dist = np.linalg.norm(palette[:, None] - np.stack(avoid)[None], axis=2).min(axis=1)
        ok = np.flatnonzero(dist >= _MIN_CONTRAST)
        idx = rng.choice(ok) if len(ok) else int(np.argmax(dist))
    else:
        idx = rng.integers(len(palette))
    return np.clip(palette[idx] + rng.uniform(-15, 15, 3), 0, 255).astype(np.float32)


def _background(rng: np.random.Generator, h: int, w: int) -> Tuple[np.ndarray, List[np.ndarray]]:
    """A textured (H, W, 3) float32 background and the colours it is made of."""
    c1 = _pick_color(rng, [], _BACKGROUND_PALETTE)
    c2 = _pick_color(rng, [c1], _BACKGROUND_PALETTE)
    kind = rng.integers(3)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    proj = xs * np.cos(angle) + ys * np.sin(angle)  # (H, W)
    if kind == 0:  # linear gradient
        t = (proj - proj.min()) / max(float(np.ptp(proj)), 1.0)
    elif kind == 1:  # soft stripes
        t = 0.5 + 0.5 * np.sin(2 * np.pi * proj / rng.uniform(8, 24) + rng.uniform(0, 2 * np.pi))
    else:  # smooth low-frequency noise
        grid = rng.uniform(0, 1, (int(rng.integers(3, 7)), int(rng.integers(3, 7))))
        t = cv2.resize(grid.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
        t = np.clip(t, 0, 1)
    img = c1 * (1 - t[..., None]) + c2 * t[..., None]
    return img.astype(np.float32), [c1, c2]


def _place(rng, h: int, w: int, r: float, placed: List[Tuple[float, float, float]]):
    """Centre (cx, cy) for a shape of radius ``r`` that overlaps placed shapes only a little."""
    for _ in range(30):
        cx = rng.uniform(0.7 * r, w - 0.7 * r)
        cy = rng.uniform(0.7 * r, h - 0.7 * r)
        if all(np.hypot(cx - px, cy - py) >= 0.75 * (r + pr) for px, py, pr in placed):
            return cx, cy
    return None


def render_sample(rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """Draw one sample.

    Returns:
        image (np.ndarray): (H, W, 3) uint8 RGB.
        label (np.ndarray): (H, W) uint8 class ids, ``IGNORE_LABEL`` on 2-pixel class boundaries.
    """
    while True:
        h, w = (int(v) for v in rng.integers(_SIZE_RANGE[0], _SIZE_RANGE[1] + 1, 2))
        if h != w:
            break
    image, bg_colors = _background(rng, h, w)  # (H, W, 3) float32
    label = np.zeros((h, w), dtype=np.uint8)
    placed: List[Tuple[float, float, float]] = []
    colors: List[np.ndarray] = []
    for _ in range(int(rng.integers(1, _MAX_SHAPES + 1))):
        r = 0.5 * min(h, w) * rng.uniform(*_SHAPE_SIZE)
        center = _place(rng, h, w, r, placed)
        if center is None:
            continue
        cls = int(rng.integers(1, len(SYNTHETIC_CLASSES)))
        mask = _shape_mask(cls, (h, w), center[0], center[1], r, rng.uniform(0, 2 * np.pi))
        if not mask.any():
            continue
        near = [  # colours of the placed shapes this one may overlap
            c
            for c, (px, py, pr) in zip(colors, placed)
            if np.hypot(center[0] - px, center[1] - py) < r + pr
        ]
        color = _pick_color(rng, bg_colors + near, _CLASS_PALETTES[cls])
        # Gentle linear shading across the shape, so fills are not perfectly flat.
        shade = rng.uniform(-0.15, 0.15) * (np.arange(w, dtype=np.float32) - center[0]) / r
        fill = np.clip(color[None, None] + shade[None, :, None] * 60, 0, 255)  # (1, W, 3)
        sel = mask.astype(bool)
        image[sel] = np.broadcast_to(fill, image.shape)[sel]
        label[sel] = cls
        placed.append((center[0], center[1], r))
        colors.append(color)
    # 2-pixel ignore band on every class boundary, from the same label map: exactly aligned.
    kernel = np.ones((3, 3), dtype=np.uint8)
    boundary = cv2.dilate(label, kernel) != cv2.erode(label, kernel)
    label[boundary] = IGNORE_LABEL
    image += rng.normal(0, 6, image.shape).astype(np.float32)
    return np.clip(np.round(image), 0, 255).astype(np.uint8), label


# ---------------------------------------------------------------------------------------------
# Writing to disk, safely
# ---------------------------------------------------------------------------------------------


def _expected_meta(num_train: int, num_val: int, seed: int) -> Dict:
    return {
        "generator": _GENERATOR,
        "version": _VERSION,
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
    if not isinstance(meta, dict) or meta.get("generator") != _GENERATOR:
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
    if found.get("version") != _VERSION or (meta is not None and found != meta):
        raise ValueError(
            f"The synthetic dataset in {root!r} was generated with other settings ({found}) than "
            f"requested ({meta or {'version': _VERSION}}). Remove that folder to regenerate it, or "
            "use another root."
        )
    return True


def _write_split(folder: str, split: str, count: int, seed: int) -> None:
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
    (e.g. DDP workers) never see a half-written dataset. Does nothing if ``root`` already holds the
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
    tmp_dir = tempfile.mkdtemp(prefix=f".{os.path.basename(root)}.tmp-", dir=parent)
    os.chmod(tmp_dir, 0o755)  # mkdtemp makes it private; the dataset is meant to be shared
    try:
        for split, count in (("train", num_train), ("val", num_val)):
            _write_split(tmp_dir, split, count, seed)
        with open(os.path.join(tmp_dir, "meta.json"), "w") as f:
            json.dump(meta, f, indent=2)
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
