#!/usr/bin/env python
"""Draw "input | ground truth | prediction | ATM masks" panels for images of a registered dataset.

Example (after ``make demo`` trained the model)::

    python tools/visualize_predictions.py --config-file configs/synthetic/segvit_tiny.py \\
        --output output/demo/predictions train.init_checkpoint=output/demo/model_final.pth
"""
import argparse
import os
import sys
from typing import Optional, Sequence

import cv2
import numpy as np
from detectron2.config import LazyConfig
from detectron2.data import DatasetCatalog

import segvit  # noqa: F401  (registers datasets and models)
from segvit.data.image_io import read_image_pixels, read_label
from segvit.engine.run_folder import claim_output_folder
from segvit.predictor import SemSegPredictor, test_dataset_name
from segvit.visualization import prediction_panel


def main(argv: Optional[Sequence[str]] = None) -> str:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--output", required=True, help="folder for the panel PNGs")
    parser.add_argument("--dataset", default=None, help="registered name (default: the test set)")
    parser.add_argument("--num-images", type=int, default=6)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--allow-partial-weights",
        action="store_true",
        help="run even if the checkpoint leaves model tensors unloaded",
    )
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides key=value")
    args = parser.parse_args(argv)

    cfg = LazyConfig.apply_overrides(LazyConfig.load(args.config_file), args.opts)
    predictor = SemSegPredictor(
        cfg,
        cfg.train.init_checkpoint,
        device=args.device,
        allow_partial_weights=args.allow_partial_weights,
        with_masks=True,
    )
    dataset = args.dataset or test_dataset_name(cfg)
    claim_output_folder(args.output, what="--output")  # new, empty or ours: never a user's files
    for record in DatasetCatalog.get(dataset)[: args.num_images]:
        rgb = read_image_pixels(record["file_name"], "RGB")  # as stored, like its label
        gt = None
        if "sem_seg_file_name" in record:
            gt = read_label(record["sem_seg_file_name"])  # the loader's reader ('L', 'P')
        out = predictor(rgb)
        panel = prediction_panel(
            rgb,
            out["sem_seg"],
            predictor.colors,
            predictor.class_names,
            gt=gt,
            mask_probs=out.get("mask_probs"),
        )
        name = os.path.splitext(os.path.basename(record["file_name"]))[0]
        cv2.imwrite(
            os.path.join(args.output, f"{name}.png"), np.ascontiguousarray(panel[..., ::-1])
        )
    print(f"wrote {min(args.num_images, len(DatasetCatalog.get(dataset)))} panels to {args.output}")
    return args.output


if __name__ == "__main__":
    main(sys.argv[1:])
