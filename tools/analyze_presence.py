#!/usr/bin/env python
"""Split a trained SegViT model's error into class (presence) errors and mask errors.

Evaluates the checkpoint twice on ``dataloader.test`` with ``SemSegEvaluator``: as trained, and with
the true classes of each image in place of its class predictions (``PresenceOracle``), then prints
per-class IoU side by side and writes them as JSON. Example::

    python tools/analyze_presence.py --config-file configs/synthetic/segvit_tiny.py \\
        --output output/demo/presence.json train.init_checkpoint=output/demo/model_final.pth
"""

import segvit.warning_filters  # noqa: F401  # isort: skip  (first: quiets library import warnings)
import argparse
import json
import os
import sys
from typing import Optional, Sequence

import torch
from detectron2.config import instantiate
from detectron2.evaluation import inference_on_dataset

import segvit  # noqa: F401  (registers datasets and models)
from segvit.analysis.presence_oracle import PresenceOracle
from segvit.checkpoint import load_model_weights
from segvit.checkpoint.safe_io import atomic_write_text
from segvit.data.class_count import check_num_classes
from segvit.engine.cli import (
    add_config_arguments,
    add_weights_arguments,
    check_device,
    load_config,
    setup_tool_logger,
    weights_path,
)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_config_arguments(parser)
    parser.add_argument("--output", default=None, help="JSON file to write (must not exist)")
    add_weights_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> dict:
    """Evaluate twice, print the per-class table, write ``--output``; returns the summary."""
    cfg = load_config(args.config_file, args.opts)
    checkpoint = weights_path(cfg)
    if args.output and os.path.exists(args.output):
        raise FileExistsError(f"--output {args.output} exists; remove it or pick another name")
    check_num_classes(cfg, ("test",))
    model = instantiate(cfg.model).to(check_device(cfg.train.device)).eval()
    load_model_weights(model, checkpoint, args.allow_partial_weights)
    oracle = PresenceOracle(model)  # checks that the model is a SegViT before the long runs

    results = {}
    for name, runner in (("model", model), ("true_classes", oracle)):
        with torch.no_grad():
            ret = inference_on_dataset(
                runner, instantiate(cfg.dataloader.test), instantiate(cfg.dataloader.evaluator)
            )
        results[name] = ret["sem_seg"]

    names = [k[len("IoU-") :] for k in results["model"] if k.startswith("IoU-")]
    width = max(len(n) for n in names + ["class"])
    plain, true = results["model"], results["true_classes"]
    print(f"{'class':<{width}}  model IoU  with true classes")
    for n in names:
        print(f"{n:<{width}}  {plain['IoU-' + n]:9.2f}  {true['IoU-' + n]:17.2f}")
    print(f"{'mIoU':<{width}}  {plain['mIoU']:9.2f}  {true['mIoU']:17.2f}")
    summary = {
        "checkpoint": checkpoint,
        "mIoU": {k: v["mIoU"] for k, v in results.items()},
        "per_class_IoU": {k: {n: v["IoU-" + n] for n in names} for k, v in results.items()},
    }
    if args.output:
        atomic_write_text(args.output, json.dumps(summary, indent=2), what="report")
        print(f"Wrote {args.output}")
    return summary


def main(argv: Optional[Sequence[str]] = None) -> int:
    run(get_parser().parse_args(argv))
    return 0


if __name__ == "__main__":
    setup_tool_logger()
    sys.exit(main())
