#!/usr/bin/env python
"""Draw "input | ground truth | prediction | ATM masks" panels for images of a registered dataset.

Example (after ``make demo`` trained the model)::

    python tools/visualize_predictions.py --config-file configs/synthetic/segvit_tiny.py \\
        --output output/demo/predictions train.init_checkpoint=output/demo/model_final.pth

Runs on ``train.device`` (the config's; override with ``train.device=cpu`` or ``cuda``).
"""
import segvit.warning_filters  # noqa: F401  # isort: skip  (first: quiets library import warnings)
import argparse
import os
import sys
from typing import Optional, Sequence

import cv2
import numpy as np
from detectron2.data import DatasetCatalog

import segvit  # noqa: F401  (registers datasets and models)
from segvit.data.image_io import read_image_pixels, read_label
from segvit.engine.cli import (
    add_config_arguments,
    add_weights_arguments,
    check_device,
    load_config,
    setup_tool_logger,
    weights_path,
)
from segvit.engine.run_folder import claim_output_folder
from segvit.predictor import SemSegPredictor, test_dataset_name
from segvit.visualization import prediction_panel


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_config_arguments(parser)
    parser.add_argument("--output", required=True, help="folder for the panel PNGs")
    parser.add_argument("--dataset", default=None, help="registered name (default: the test set)")
    parser.add_argument("--num-images", type=int, default=6)
    add_weights_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> str:
    """Draw the panels of the first ``args.num_images`` images; returns the output folder."""
    cfg = load_config(args.config_file, args.opts)
    predictor = SemSegPredictor(
        cfg,
        weights_path(cfg),
        device=check_device(cfg.train.device),
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


def main(argv: Optional[Sequence[str]] = None) -> int:
    run(get_parser().parse_args(argv))
    return 0


if __name__ == "__main__":
    setup_tool_logger()
    sys.exit(main())
