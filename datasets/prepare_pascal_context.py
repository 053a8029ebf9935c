#!/usr/bin/env python
"""Convert PASCAL-Context (459-class .mat label maps) to 59- and 60-class Detectron2 label PNGs.

No Detail API is needed: the 59 classes are found by name in PASCAL-Context's ``labels.txt`` and
the ``LabelMap`` of each ``trainval/<name>.mat`` is mapped through a lookup table. Input::

    VOCdevkit/VOC2010/
      JPEGImages/*.jpg                              # VOCtrainval_03-May-2010.tar
      trainval/*.mat                                # PASCAL-Context trainval.tar.gz ("LabelMap")
      labels.txt                                    # PASCAL-Context, 459 lines "id: name"
                                                    #   (trainval/labels.txt is accepted too)
      ImageSets/SegmentationContext/{train,val}.txt # 4,996 / 5,104 names (mmseg's split)

Output (uint8 PNGs; the raw folders are never written to)::

    VOCdevkit/VOC2010/annotations_detectron2/
      pc60/{train,val}/*.png   # 0 = background (unlabeled + the 400 other classes), 1..59
      pc59/{train,val}/*.png   # 0..58 = the 59 classes, 255 = background (ignored)

This matches mmseg: ``PascalContextDataset`` (60, background counted) and
``PascalContextDataset59`` (59, ``reduce_zero_label``). Known: the 59 names and their 459-ids
(mmseg's / Detail's ``_mapping``). Assumed: ``LabelMap`` holds the 459 ids of ``labels.txt``
(0 = unlabeled), as ODISE's ``prepare_pascal_ctx_full_sem_seg.py`` also assumes, and that the
official ``labels.txt`` uses the canonical names (aliases are a safety net). The standard split
lists are the ones mmseg's ``pascal_context.py`` writes from the Detail API's json. Without them,
``--split-source voc-main`` uses VOC2010's ``ImageSets/Main/{train,val}.txt`` restricted to the
images that have a .mat: close to, but not exactly, the standard split (a third-party note counts
4,998 / 5,105 images that way; not verified here).

    python datasets/prepare_pascal_context.py     # root: $DETECTRON2_DATASETS or ./datasets
"""
import segvit.warning_filters  # noqa: F401  # isort: skip  (first: quiets library import warnings)
import argparse
import logging
import os
import sys
from typing import Dict, List, Optional, Tuple

import numpy as np
import scipy.io
from tqdm import tqdm

from segvit.data.datasets.pascal_context_classes import (
    PASCAL_CONTEXT_59_CLASSES,
    PASCAL_CONTEXT_459_IDS,
    PASCAL_CONTEXT_NAME_ALIASES,
)
from segvit.data.datasets.prepare_utils import (
    check_no_links,
    check_outputs_free,
    check_outside,
    save_png,
)

logger = logging.getLogger(__name__)

SPLITS = ("train", "val")
SPLIT_SOURCES = {
    "context": os.path.join("ImageSets", "SegmentationContext"),
    "voc-main": os.path.join("ImageSets", "Main"),
}
EXPECTED_TREE = """VOCdevkit/VOC2010/
  JPEGImages/*.jpg
  trainval/*.mat
  labels.txt
  ImageSets/SegmentationContext/{train,val}.txt"""


def _missing(path: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"PASCAL-Context: expected {os.path.abspath(path)} does not exist. Extract VOC2010 and "
        f"PASCAL-Context's trainval.tar.gz and labels.txt so that the tree is:\n{EXPECTED_TREE}\n"
        f"(see datasets/README.md for the split lists)."
    )


def read_labels_file(path: str) -> Dict[int, str]:
    """Parse PASCAL-Context's ``labels.txt`` ("1: accordion" per line) into {id: name}."""
    labels = {}
    with open(path) as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            key, sep, name = line.partition(":")
            if not sep or not key.strip().isdigit():
                raise ValueError(f"{path}:{line_no}: expected 'id: name', got {line.rstrip()!r}.")
            labels[int(key)] = name.strip()
    return labels


def _norm(name: str) -> str:
    return " ".join(name.lower().split())


def find_59_ids(labels: Dict[int, str], labels_path: str = "labels.txt") -> List[int]:
    """The 459-id of each of the 59 classes, matched by name (then by the explicit aliases)."""
    by_name: Dict[str, List[int]] = {}
    for i, name in labels.items():
        by_name.setdefault(_norm(name), []).append(i)
    ids, missing = [], []
    for name in PASCAL_CONTEXT_59_CLASSES:
        for candidate in (name,) + PASCAL_CONTEXT_NAME_ALIASES.get(name, ()):
            found = by_name.get(_norm(candidate), [])
            if len(found) > 1:
                raise ValueError(f"{labels_path}: {candidate!r} appears with ids {found}.")
            if found:
                ids.append(found[0])
                break
        else:
            missing.append(name)
    if missing:
        raise ValueError(f"{labels_path} has no class named {missing} (nor any known alias).")
    if ids != PASCAL_CONTEXT_459_IDS:
        diff = [
            (n, i, j) for n, i, j in zip(PASCAL_CONTEXT_59_CLASSES, ids, PASCAL_CONTEXT_459_IDS)
        ]
        diff = [d for d in diff if d[1] != d[2]]
        logger.warning(
            f"{labels_path}: ids of {len(diff)} class(es) differ from the standard PASCAL-Context "
            f"labels.txt (name, found, standard): {diff[:5]}. Using the ids found by name."
        )
    return ids


def build_luts(labels: Dict[int, str], labels_path: str = "labels.txt") -> Tuple[np.ndarray, ...]:
    """Lookup tables 459-id -> 60-class id (0 = background) and -> 59-class id (255 = ignore)."""
    ids = find_59_ids(labels, labels_path)
    lut60 = np.zeros(max(max(labels), 459) + 1, dtype=np.uint8)
    lut60[ids] = np.arange(1, 60)
    lut59 = np.where(lut60 == 0, 255, lut60 - 1).astype(np.uint8)
    return lut60, lut59


def _read_list(path: str) -> List[str]:
    with open(path) as f:
        return [line.split()[0] for line in f if line.strip()]


def convert(
    src: str,
    dst: Optional[str] = None,
    *,
    overwrite: bool = False,
    labels_file: Optional[str] = None,
    split_source: str = "context",
    splits=SPLITS,
    progress: bool = True,
) -> Dict[str, int]:
    """
    Convert the PASCAL-Context labels of ``src`` (a ``VOCdevkit/VOC2010`` folder).

    Args:
        src (str): the VOC2010 folder holding JPEGImages/, trainval/ and labels.txt.
        dst (str | None): output folder; default ``<src>/annotations_detectron2``.
        overwrite (bool): replace existing converted files (otherwise ``FileExistsError``).
        labels_file (str | None): path of labels.txt; default ``<src>/labels.txt``, then
            ``<src>/trainval/labels.txt``.
        split_source (str): "context" (``ImageSets/SegmentationContext``, the standard split) or
            "voc-main" (``ImageSets/Main`` restricted to images with a .mat; not standard).
        splits (Sequence[str]): subset of ("train", "val").
        progress (bool): show a tqdm progress bar.

    Returns:
        dict[str, int]: number of converted images per split (each written for pc59 and pc60).
    """
    if split_source not in SPLIT_SOURCES:
        raise ValueError(f"split_source must be one of {list(SPLIT_SOURCES)}, got {split_source!r}")
    dst = os.path.join(src, "annotations_detectron2") if dst is None else dst
    mat_dir = os.path.join(src, "trainval")
    raw_dirs = [os.path.join(src, "JPEGImages"), mat_dir, os.path.join(src, "ImageSets")]
    for path in raw_dirs[:2]:
        if not os.path.isdir(path):
            raise _missing(path)
    if labels_file is None:
        candidates = [os.path.join(src, "labels.txt"), os.path.join(mat_dir, "labels.txt")]
        labels_file = next((c for c in candidates if os.path.isfile(c)), candidates[0])
    if not os.path.isfile(labels_file):
        raise _missing(labels_file)
    check_outside(dst, raw_dirs)
    lut60, lut59 = build_luts(read_labels_file(labels_file), labels_file)

    jobs, counts = [], {}  # jobs: (.mat, out pc60 .png, out pc59 .png)
    for split in splits:
        list_path = os.path.join(src, SPLIT_SOURCES[split_source], f"{split}.txt")
        if not os.path.isfile(list_path):
            raise _missing(list_path)
        stems = _read_list(list_path)
        if split_source == "voc-main":
            stems = [s for s in stems if os.path.isfile(os.path.join(mat_dir, s + ".mat"))]
        for s in stems:
            mat_path = os.path.join(mat_dir, s + ".mat")
            if not os.path.isfile(mat_path):
                raise FileNotFoundError(
                    f"PASCAL-Context: {mat_path} (listed in {list_path}) is missing."
                )
            outs = [os.path.join(dst, f"pc{n}", split, s + ".png") for n in (60, 59)]
            jobs.append((mat_path, *outs))
        counts[split] = len(stems)
    check_no_links(dst, [p for job in jobs for p in job[1:]])  # before anything is written
    check_outputs_free([p for job in jobs for p in job[1:]], overwrite)
    for n in (60, 59):
        for split in splits:
            os.makedirs(os.path.join(dst, f"pc{n}", split), exist_ok=True)

    for mat_path, out60, out59 in tqdm(jobs, desc="PASCAL-Context labels", disable=not progress):
        mat = scipy.io.loadmat(mat_path, variable_names=("LabelMap",))
        if "LabelMap" not in mat:
            raise ValueError(f"{mat_path}: no 'LabelMap' (keys: {sorted(mat)}).")
        label = np.asarray(mat["LabelMap"]).astype(np.int64)
        if label.ndim != 2:
            raise ValueError(f"{mat_path}: 'LabelMap' should be 2-D, got shape {label.shape}.")
        bad = label[(label < 0) | (label >= len(lut60))]
        if bad.size:
            raise ValueError(
                f"{mat_path}: label value {int(bad[0])} is not an id of {labels_file}."
            )
        save_png(lut60[label], out60)
        save_png(lut59[label], out59)
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--root",
        default=os.getenv("DETECTRON2_DATASETS", "datasets"),
        help="dataset root holding VOCdevkit/VOC2010/ (default: $DETECTRON2_DATASETS or "
        "'datasets')",
    )
    parser.add_argument("--labels-file", default=None, help="PASCAL-Context labels.txt")
    parser.add_argument("--split-source", default="context", choices=sorted(SPLIT_SOURCES))
    parser.add_argument("--overwrite", action="store_true", help="replace converted files")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    src = os.path.join(os.path.expanduser(args.root), "VOCdevkit", "VOC2010")
    try:
        counts = convert(
            src,
            overwrite=args.overwrite,
            labels_file=args.labels_file,
            split_source=args.split_source,
        )
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"Wrote {counts} images (pc59 and pc60) to {os.path.join(src, 'annotations_detectron2')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
