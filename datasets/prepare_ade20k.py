#!/usr/bin/env python
"""Convert ADE20K (SceneParsing, 150 classes) labels for Detectron2's ``ade20k_sem_seg_*``.

Raw labels (``annotations/{training,validation}/*.png``) hold 0 = "other/unlabeled" and 1..150;
the converted labels hold 0..149 and 255 = ignore (mmseg's ``reduce_zero_label``). They are written
to ``ADEChallengeData2016/annotations_detectron2/{training,validation}``, the folders Detectron2's
builtin registration reads; the raw folders are never written to.

    python datasets/prepare_ade20k.py            # root: $DETECTRON2_DATASETS or ./datasets
"""
import segvit.warning_filters  # noqa: F401  # isort: skip  (first: quiets library import warnings)
import argparse
import os
import sys
from typing import Dict, Optional

import numpy as np
from PIL import Image
from tqdm import tqdm

from segvit.data.datasets.prepare_utils import (
    check_no_links,
    check_outputs_free,
    check_outside,
    save_png,
)

SPLITS = ("training", "validation")
NUM_CLASSES = 150
EXPECTED_TREE = """ADEChallengeData2016/
  images/{training,validation}/*.jpg
  annotations/{training,validation}/*.png"""


def convert_label(label: np.ndarray, file_name: str = "") -> np.ndarray:
    """Raw ADE20K label (0 = unlabeled, 1..150) -> train ids (0..149, 255 = ignore), uint8."""
    label = np.asarray(label)
    if label.ndim != 2:
        raise ValueError(f"{file_name}: expected a single-channel label map, got {label.shape}.")
    if label.size and int(label.max()) > NUM_CLASSES:
        raise ValueError(
            f"{file_name}: label value {int(label.max())} > {NUM_CLASSES}; this is not an "
            f"ADEChallengeData2016 (150-class) annotation."
        )
    return (label.astype(np.int64) - 1).astype(np.uint8)  # 0 - 1 wraps to 255


def convert(
    src: str,
    dst: Optional[str] = None,
    *,
    overwrite: bool = False,
    splits=SPLITS,
    progress: bool = True,
) -> Dict[str, int]:
    """
    Convert the labels of ``src`` (an ``ADEChallengeData2016`` folder).

    Args:
        src (str): the raw ``ADEChallengeData2016`` folder.
        dst (str | None): output folder; default ``<src>/annotations_detectron2``.
        overwrite (bool): replace existing converted files (otherwise ``FileExistsError``).
        splits (Sequence[str]): subset of ("training", "validation").
        progress (bool): show a tqdm progress bar.

    Returns:
        dict[str, int]: number of converted labels per split.
    """
    dst = os.path.join(src, "annotations_detectron2") if dst is None else dst
    raw_dirs = [os.path.join(src, "images"), os.path.join(src, "annotations")]
    for split in splits:
        for raw in raw_dirs:
            path = os.path.abspath(os.path.join(raw, split))
            if not os.path.isdir(path):
                raise FileNotFoundError(
                    f"ADE20K: expected folder {path} does not exist. Unzip "
                    f"ADEChallengeData2016.zip so that the tree is:\n{EXPECTED_TREE}"
                )
    check_outside(dst, raw_dirs)

    jobs, counts = [], {}  # jobs: (input, output)
    for split in splits:
        in_dir = os.path.join(src, "annotations", split)
        names = sorted(f for f in os.listdir(in_dir) if f.endswith(".png"))
        jobs += [(os.path.join(in_dir, f), os.path.join(dst, split, f)) for f in names]
        counts[split] = len(names)
    check_no_links(dst, [out for _, out in jobs])  # before anything is written
    check_outputs_free([out for _, out in jobs], overwrite)
    for split in splits:
        os.makedirs(os.path.join(dst, split), exist_ok=True)

    for in_path, out_path in tqdm(jobs, desc="ADE20K labels", disable=not progress):
        with Image.open(in_path) as im:
            label = convert_label(np.asarray(im), in_path)
        save_png(label, out_path)  # 2-D uint8 -> mode "L"; never through a link
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--root",
        default=os.getenv("DETECTRON2_DATASETS", "datasets"),
        help="dataset root holding ADEChallengeData2016/ (default: $DETECTRON2_DATASETS or "
        "'datasets')",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace converted files")
    args = parser.parse_args(argv)
    src = os.path.join(os.path.expanduser(args.root), "ADEChallengeData2016")
    try:
        counts = convert(src, overwrite=args.overwrite)
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"Wrote {counts} labels to {os.path.join(src, 'annotations_detectron2')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
