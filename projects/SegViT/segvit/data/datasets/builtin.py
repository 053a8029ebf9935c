"""Registration of the paper's datasets, rooted at ``$DETECTRON2_DATASETS`` (default "datasets").

Registered at import time (expected trees and prepare commands: ``datasets/README.md``):

- ``ade20k_sem_seg_{train,val}``: 150 classes, ``ADEChallengeData2016/`` (Detectron2's own names)
- ``coco_stuff_10k_sem_seg_{train,test}``: 171 classes, ``cocostuff-10k-v1.1/`` (or ``-v1.0/``)
- ``pascal_context_59_sem_seg_{train,val}``: 59 classes (background ignored), ``VOCdevkit/VOC2010/``
- ``pascal_context_60_sem_seg_{train,val}``: 60 classes (0 = background), ``VOCdevkit/VOC2010/``

ADE20K keeps Detectron2's registration and metadata; only its loader is wrapped so that a missing
folder names the path and the prepare command. Every loader raises ``FileNotFoundError`` with the
expected path and ``python datasets/prepare_*.py`` when the prepared labels are missing. Names do
not clash with Mask2Former's ``coco_2017_{train,test}_stuff_10k_sem_seg``.
"""

import os
from functools import partial
from typing import List, Optional

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import load_sem_seg
from detectron2.data.datasets.builtin_meta import ADE20K_SEM_SEG_CATEGORIES, COCO_CATEGORIES

from .coco_stuff_classes import COCO_STUFF_CATEGORIES, COCO_STUFF_CLASSES
from .folder import load_sem_seg_pairs, make_palette, register_sem_seg
from .pascal_context_classes import PASCAL_CONTEXT_59_CLASSES, PASCAL_CONTEXT_60_CLASSES
from .validation import check_folder_exists

__all__ = [
    "DATASET_ROOT",
    "coco_stuff_10k_root",
    "load_ade20k_checked",
    "register_all",
    "register_all_ade20k",
    "register_all_coco_stuff_10k",
    "register_all_pascal_context",
]

# Same rule as Detectron2's builtin.py: the root is read once, at import time.
DATASET_ROOT = os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets"))

_SEE_README = "See datasets/README.md for the expected tree."


def _fix(root: str, script: str, download: str) -> str:
    return (
        f"{download} into $DETECTRON2_DATASETS (now {os.path.abspath(root)!r}), then run "
        f"`python datasets/{script}`. {_SEE_README}"
    )


def _pairs_kwargs(name: str, fix: str) -> dict:
    # The image folder holds every split, so the prepared label folder defines the split.
    return dict(scan_images=False, missing_hint=fix, name=name)


# ---------------------------------------------------------------- ADE20K (Detectron2's names)
def load_ade20k_checked(image_dir: str, gt_dir: str, fix: str = "") -> List[dict]:
    """Detectron2's ADE20K loader (``load_sem_seg``) after checking that both folders exist."""
    check_folder_exists(gt_dir, "ADE20K label folder (converted for Detectron2)", fix)
    check_folder_exists(image_dir, "ADE20K image folder", fix)
    return load_sem_seg(gt_dir, image_dir, gt_ext="png", image_ext="jpg")


def register_all_ade20k(root: str) -> None:
    """
    Replace the loader of Detectron2's ``ade20k_sem_seg_{train,val}`` by ``load_ade20k_checked``,
    keeping Detectron2's metadata (150 ``stuff_classes``, ignore 255). Idempotent. If ``root`` is
    not the root Detectron2 registered, the metadata paths are updated to ``root``.
    """
    base = os.path.join(root, "ADEChallengeData2016")
    fix = _fix(root, "prepare_ade20k.py", "Unzip ADEChallengeData2016.zip")
    for split, dirname in (("train", "training"), ("val", "validation")):
        name = f"ade20k_sem_seg_{split}"
        image_dir = os.path.join(base, "images", dirname)
        gt_dir = os.path.join(base, "annotations_detectron2", dirname)
        fields = MetadataCatalog.get(name).as_dict()
        fields.pop("name")
        fields.setdefault("stuff_classes", ADE20K_SEM_SEG_CATEGORIES[:])
        fields.setdefault("evaluator_type", "sem_seg")
        fields.setdefault("ignore_label", 255)
        if (fields.get("image_root"), fields.get("sem_seg_root")) != (image_dir, gt_dir):
            fields.update(image_root=image_dir, sem_seg_root=gt_dir)
            MetadataCatalog.remove(name)
            MetadataCatalog.get(name).set(**fields)
        if name in DatasetCatalog:
            DatasetCatalog.remove(name)
        DatasetCatalog.register(name, partial(load_ade20k_checked, image_dir, gt_dir, fix))


# ---------------------------------------------------------------- COCO-Stuff-10K
def coco_stuff_10k_root(root: str) -> str:
    """``<root>/cocostuff-10k-v1.1``, or ``<root>/cocostuff-10k-v1.0`` if only that one exists."""
    candidates = [os.path.join(root, f"cocostuff-10k-v1.{v}") for v in (1, 0)]
    return next((c for c in candidates if os.path.isdir(c)), candidates[0])


def _coco_stuff_colors() -> List[List[int]]:
    """Detectron2's COCO panoptic colors where the COCO-Stuff id has one, else distinct others."""
    d2_colors = {c["id"]: list(c["color"]) for c in COCO_CATEGORIES}
    colors = [d2_colors.get(cid) for cid, _ in COCO_STUFF_CATEGORIES]
    used = {tuple(c) for c in colors if c is not None}
    spare = (c for c in make_palette(256) if tuple(c) not in used)
    return [c if c is not None else next(spare) for c in colors]


def register_all_coco_stuff_10k(root: str) -> None:
    """Register ``coco_stuff_10k_sem_seg_{train,test}`` (171 classes, ignore 255)."""
    base = coco_stuff_10k_root(root)
    fix = _fix(root, "prepare_coco_stuff_10k.py", "Unzip cocostuff-10k-v1.1.zip")
    colors = _coco_stuff_colors()
    # COCO-Stuff id -> train id; SemSegEvaluator uses it to write dataset ids in its json output.
    id_map = {cid: i for i, (cid, _) in enumerate(COCO_STUFF_CATEGORIES)}
    for split in ("train", "test"):
        name = f"coco_stuff_10k_sem_seg_{split}"
        image_root = os.path.join(base, "images")
        gt_root = os.path.join(base, "annotations_detectron2", split)
        register_sem_seg(
            name,
            partial(load_sem_seg_pairs, image_root, gt_root, **_pairs_kwargs(name, fix)),
            stuff_classes=COCO_STUFF_CLASSES[:],
            stuff_colors=colors,
            stuff_dataset_id_to_contiguous_id=id_map,
            ignore_label=255,
            evaluator_type="sem_seg",
            image_root=image_root,
            sem_seg_root=gt_root,
            image_ext=".jpg",
            split_file=os.path.join(base, "imageLists", f"{split}.txt"),
        )


# ---------------------------------------------------------------- PASCAL-Context 59 / 60
def register_all_pascal_context(root: str) -> None:
    """
    Register ``pascal_context_59_sem_seg_{train,val}`` (59 classes, background ignored) and
    ``pascal_context_60_sem_seg_{train,val}`` (60 classes, 0 = background).
    """
    base = os.path.join(root, "VOCdevkit", "VOC2010")
    fix = _fix(
        root,
        "prepare_pascal_context.py",
        "Extract VOCtrainval_03-May-2010.tar and PASCAL-Context's trainval.tar.gz",
    )
    colors60 = make_palette(60)
    image_root = os.path.join(base, "JPEGImages")
    for n, classes, colors in (
        (59, PASCAL_CONTEXT_59_CLASSES, colors60[1:]),  # same color per class in both sets
        (60, PASCAL_CONTEXT_60_CLASSES, colors60),
    ):
        for split in ("train", "val"):
            name = f"pascal_context_{n}_sem_seg_{split}"
            gt_root = os.path.join(base, "annotations_detectron2", f"pc{n}", split)
            register_sem_seg(
                name,
                partial(load_sem_seg_pairs, image_root, gt_root, **_pairs_kwargs(name, fix)),
                stuff_classes=classes[:],
                stuff_colors=colors,
                ignore_label=255,
                evaluator_type="sem_seg",
                image_root=image_root,
                sem_seg_root=gt_root,
                image_ext=".jpg",
                split_file=os.path.join(base, "ImageSets", "SegmentationContext", f"{split}.txt"),
            )


def register_all(root: Optional[str] = None) -> None:
    """(Re-)register every built-in dataset under ``root`` (default ``DATASET_ROOT``)."""
    root = DATASET_ROOT if root is None else root
    register_all_ade20k(root)
    register_all_coco_stuff_10k(root)
    register_all_pascal_context(root)


register_all(DATASET_ROOT)
