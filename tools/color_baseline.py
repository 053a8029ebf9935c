#!/usr/bin/env python
"""Colour-only baseline on the synthetic dataset: nearest mean class colour, per pixel.

Fits the mean RGB colour of each class on the training split, predicts every validation pixel as
the class with the nearest mean colour and evaluates with Detectron2's ``SemSegEvaluator``. The
synthetic dataset is built so that colour alone does not decide the class: this mIoU stays low.

Example::

    python tools/color_baseline.py --output output/color_baseline/metrics.json
"""

import segvit.warning_filters  # noqa: F401  # isort: skip  (first: quiets library import warnings)
import argparse
import json
import sys
from typing import Optional, Sequence

import segvit.data.synthetic  # noqa: F401  (registers synthetic_sem_seg_{train,val})
from segvit.analysis.color_baseline import evaluate_color_baseline
from segvit.checkpoint.safe_io import atomic_write_text
from segvit.engine.cli import setup_tool_logger


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train-dataset", default="synthetic_sem_seg_train")
    parser.add_argument("--val-dataset", default="synthetic_sem_seg_val")
    parser.add_argument("--output", default="output/color_baseline/metrics.json")
    return parser


def run(args: argparse.Namespace) -> dict:
    """Fit, evaluate, print the per-class table and write ``--output``; returns what it wrote."""
    result = evaluate_color_baseline(args.train_dataset, args.val_dataset)
    metrics = result["sem_seg"]
    names = list(result["class_mean_colors"])
    width = max(len(n) for n in names)
    print(f"Colour baseline: fit on {args.train_dataset}, evaluated on {args.val_dataset}")
    print(f"{'class':<{width}}  IoU (%)  mean RGB")
    for name in names:
        rgb = ", ".join(f"{v:5.1f}" for v in result["class_mean_colors"][name])
        print(f"{name:<{width}}  {metrics['IoU-' + name]:7.2f}  ({rgb})")
    print(f"mIoU: {metrics['mIoU']:.2f}  pACC: {metrics['pACC']:.2f}")
    out = {
        "train_dataset": args.train_dataset,
        "val_dataset": args.val_dataset,
        "mIoU": metrics["mIoU"],
        "per_class_IoU": {name: metrics["IoU-" + name] for name in names},
        **result,
    }
    atomic_write_text(args.output, json.dumps(out, indent=2), what="report")
    print(f"Wrote {args.output}")
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    run(get_parser().parse_args(argv))
    return 0


if __name__ == "__main__":
    setup_tool_logger()
    sys.exit(main())
