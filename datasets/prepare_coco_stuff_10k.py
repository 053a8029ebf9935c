#!/usr/bin/env python
"""Convert COCO-Stuff-10K (.mat label maps, v1.0 or v1.1) to 171-class Detectron2 label PNGs.

Input (``cocostuff-10k-v1.1.zip`` or ``-v1.0.zip`` unzipped into one folder)::

    cocostuff-10k-v1.1/
      images/*.jpg                      # 10,000 COCO train2014/val2014 images
      annotations/*.mat                 # one label map per image (key "S")
      imageLists/{train,test}.txt       # 9,000 / 1,000 image names, one per line

Output: ``<src>/annotations_detectron2/{train,test}/<name>.png`` (uint8, train ids 0..170, 255 =
unlabeled). Images are not copied: the registered datasets read ``<src>/images`` and take the split
import segvit.warning_filters  # noqa: F401  # isort: skip  (first: quiets library import warnings)
from the converted label folder.

What is known about the two layouts (from ``upgradeLabelsToVersion11.m`` in
github.com/nightrome/cocostuff10k, which converts v1.0 files into v1.1 files, and its README):

* both hold the same keys: ``S`` (label map), ``names`` (class names), ``captions``,
  ``regionMapStuff``, ``regionLabelsStuff``;
* v1.0: ``names`` has 172 entries ('unlabeled', the 80 used COCO things, the 91 stuff classes) and
  ``S`` holds 1-based indices into it (1 = unlabeled, 2..81 things, 82..172 stuff);
* v1.1: ``names`` has 182 entries (all 91 COCO thing ids, 11 of them unused, then the 91 stuff
  classes; 'unlabeled' is no longer listed) and ``S`` holds 0 = unlabeled, 1..182 = COCO-Stuff ids.

Since both orders list the used classes in the same order, train id = v1.0 index - 2 and, for
v1.1, the position of the id in ``COCO_STUFF_CATEGORIES``. Assumed, not verified on the real
files: the ``names`` cell array survives ``scipy.io.loadmat`` as 172 or 182 strings (used to tell
the versions apart); when ``names`` is missing, the folder name (``...v1.0``/``...v1.1``) or
``--version`` decides.

    python datasets/prepare_coco_stuff_10k.py    # root: $DETECTRON2_DATASETS or ./datasets
"""
import argparse
import logging
import os
import sys
from typing import Dict, List, Optional

import numpy as np
import scipy.io
from tqdm import tqdm

from segvit.data.datasets.coco_stuff_classes import COCO_STUFF_IDS, COCO_STUFF_UNUSED_THING_IDS
from segvit.data.datasets.prepare_utils import (
    check_no_links,
    check_outputs_free,
    check_outside,
    save_png,
)

logger = logging.getLogger(__name__)

SPLITS = ("train", "test")
VERSIONS = ("1.0", "1.1")
EXPECTED_TREE = """cocostuff-10k-v1.1/          (or cocostuff-10k-v1.0/)
  images/*.jpg
  annotations/*.mat
  imageLists/{train,test}.txt"""


def build_lut(version: str) -> np.ndarray:
    """Lookup table raw value -> train id (uint8, 255 = ignore) for a COCO-Stuff-10K version."""
    if version == "1.1":
        lut = np.full(183, 255, dtype=np.uint8)  # 0 = unlabeled and the 11 unused ids -> 255
        lut[COCO_STUFF_IDS] = np.arange(len(COCO_STUFF_IDS))
    elif version == "1.0":
        lut = np.full(173, 255, dtype=np.uint8)  # 0 (never used) and 1 = unlabeled -> 255
        lut[2:] = np.arange(171)
    else:
        raise ValueError(f"Unknown COCO-Stuff-10K version {version!r}; expected one of {VERSIONS}.")
    return lut


def read_names(mat: dict) -> Optional[List[str]]:
    """The class names stored in a loaded .mat (a MATLAB cell array), or None if absent."""
    if "names" not in mat:
        return None
    out = []
    for entry in np.asarray(mat["names"], dtype=object).ravel():
        entry = np.asarray(entry).ravel()
        out.append(str(entry[0]).strip() if entry.size else "")
    return out


def detect_version(mat: dict, file_name: str, folder_hint: str = "") -> str:
    """
    "1.0" or "1.1" for a loaded annotation: from the number of ``names`` (172 / 182) if present,
    else from ``folder_hint`` (the dataset folder name, e.g. "cocostuff-10k-v1.1").
    """
    names = read_names(mat)
    if names is not None:
        if len(names) == 172 and names[0] == "unlabeled":
            return "1.0"
        if len(names) == 182:
            return "1.1"
        raise ValueError(
            f"{file_name}: 'names' has {len(names)} entries (first {names[:1]}); expected 172 "
            f"(v1.0, starting with 'unlabeled') or 182 (v1.1)."
        )
    for version in VERSIONS:
        if f"v{version}" in folder_hint:
            return version
    raise ValueError(
        f"{file_name} has no 'names' key and the folder name {folder_hint!r} does not say "
        f"v1.0 or v1.1; pass --version 1.0 or --version 1.1."
    )


def convert_label(label: np.ndarray, version: str, file_name: str = "") -> np.ndarray:
    """Map a raw ``S`` label map to train ids 0..170 (255 = unlabeled), uint8."""
    label = np.asarray(label)
    if label.ndim != 2:
        raise ValueError(f"{file_name}: 'S' should be a 2-D label map, got shape {label.shape}.")
    if not np.issubdtype(label.dtype, np.integer):
        if not np.array_equal(label, np.round(label)):
            raise ValueError(f"{file_name}: 'S' holds non-integer values.")
    label = label.astype(np.int64)
    lut = build_lut(version)
    bad = label[(label < 0) | (label >= len(lut))]
    if bad.size:
        raise ValueError(
            f"{file_name}: label value {int(bad[0])} is outside 0..{len(lut) - 1} "
            f"(COCO-Stuff-10K v{version})."
        )
    return lut[label]


def _read_list(path: str) -> List[str]:
    with open(path) as f:
        names = [line.strip() for line in f if line.strip()]
    return [os.path.splitext(n)[0] if n.endswith((".jpg", ".mat")) else n for n in names]


def convert(
    src: str,
    dst: Optional[str] = None,
    *,
    overwrite: bool = False,
    version: str = "auto",
    splits=SPLITS,
    progress: bool = True,
) -> Dict[str, object]:
    """
    Convert the ``.mat`` annotations of ``src`` (a COCO-Stuff-10K folder) to label PNGs.

    Args:
        src (str): the raw folder holding images/, annotations/ and imageLists/.
        dst (str | None): output folder; default ``<src>/annotations_detectron2``.
        overwrite (bool): replace existing converted files (otherwise ``FileExistsError``).
        version (str): "auto" (detect per file), "1.0" or "1.1".
        splits (Sequence[str]): subset of ("train", "test").
        progress (bool): show a tqdm progress bar.

    Returns:
        dict: number of labels per split, and under "versions" the number of files per version.
    """
    if version not in ("auto",) + VERSIONS:
        raise ValueError(f"version must be 'auto', '1.0' or '1.1', got {version!r}.")
    dst = os.path.join(src, "annotations_detectron2") if dst is None else dst
    raw_dirs = [os.path.join(src, d) for d in ("images", "annotations", "imageLists")]
    required = raw_dirs[:2] + [os.path.join(raw_dirs[2], f"{s}.txt") for s in splits]
    for path in required:
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"COCO-Stuff-10K: expected {os.path.abspath(path)} does not exist. Unzip "
                f"cocostuff-10k-v1.1.zip so that the tree is:\n{EXPECTED_TREE}"
            )
    check_outside(dst, raw_dirs)

    jobs, summary = [], {}  # jobs: (input .mat, output .png)
    for split in splits:
        stems = _read_list(os.path.join(src, "imageLists", f"{split}.txt"))
        jobs += [
            (os.path.join(src, "annotations", s + ".mat"), os.path.join(dst, split, s + ".png"))
            for s in stems
        ]
        summary[split] = len(stems)
    for mat_path, _ in jobs:
        if not os.path.isfile(mat_path):
            raise FileNotFoundError(
                f"COCO-Stuff-10K: {mat_path} (listed in imageLists) is missing."
            )
    check_no_links(dst, [out for _, out in jobs])  # before anything is written
    check_outputs_free([out for _, out in jobs], overwrite)
    for split in splits:
        os.makedirs(os.path.join(dst, split), exist_ok=True)

    folder_hint = os.path.basename(os.path.realpath(src))
    versions, unused_files = {}, []
    for mat_path, out_path in tqdm(jobs, desc="COCO-Stuff-10K labels", disable=not progress):
        mat = scipy.io.loadmat(mat_path, variable_names=("S", "names"))
        if "S" not in mat:
            raise ValueError(f"{mat_path}: no 'S' label map (keys: {sorted(mat)}).")
        if version == "auto":
            found = detect_version(mat, mat_path, folder_hint)
        else:
            found = version
            if read_names(mat) is not None and detect_version(mat, mat_path) != version:
                raise ValueError(f"{mat_path}: its 'names' say it is not v{version}.")
        versions[found] = versions.get(found, 0) + 1
        if found == "1.1" and np.isin(mat["S"], COCO_STUFF_UNUSED_THING_IDS).any():
            unused_files.append(mat_path)
        save_png(convert_label(mat["S"], found, mat_path), out_path)
    if unused_files:
        logger.warning(
            f"{len(unused_files)} file(s) use thing ids that COCO never uses (mapped to 255), "
            f"e.g. {unused_files[0]}."
        )
    summary["versions"] = versions
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--root",
        default=os.getenv("DETECTRON2_DATASETS", "datasets"),
        help="dataset root holding cocostuff-10k-v1.1/ or cocostuff-10k-v1.0/ (default: "
        "$DETECTRON2_DATASETS or 'datasets')",
    )
    parser.add_argument("--version", default="auto", choices=("auto",) + VERSIONS)
    parser.add_argument("--overwrite", action="store_true", help="replace converted files")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    root = os.path.expanduser(args.root)
    candidates = [os.path.join(root, f"cocostuff-10k-v{v}") for v in ("1.1", "1.0")]
    src = next((c for c in candidates if os.path.isdir(c)), candidates[0])
    try:
        summary = convert(src, overwrite=args.overwrite, version=args.version)
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"Wrote {summary} to {os.path.join(src, 'annotations_detectron2')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
