#!/usr/bin/env python
"""Export a model's whole-image forward to ONNX or TorchScript, checked against PyTorch.

The exported graph maps images (B, 3, H, W) float32 -- raw pixels 0..255 in the model's channel
order (RGB for the shipped configs), normalised inside, or already normalised with
``--normalized-input`` -- to per-class scores ``scores`` (B, K, H, W) and, with ``--argmax``, the
label map ``labels`` (B, H, W) int64. Example::

    python tools/export_model.py --config-file configs/ade20k/segvit_vit_b16_512x512_160k.py \\
        --format onnx --height 512 --width 512 --output output/export/segvit_vit_b16_512.onnx \\
        train.init_checkpoint=output/segvit_vit_b16/model_final.pth

Before the file appears it must pass the parity check (onnxruntime or TorchScript vs PyTorch:
max |diff| <= 1e-4, argmax equal on >= 99.9% of pixels); a failed check, an unsupported model, a
size that is not a multiple of the patch size or a missing checkpoint write nothing, and an
existing output is kept unless ``--overwrite``. Slide windows and multi-scale stay in Python: see
docs/deployment.md. Without ``train.init_checkpoint`` the model is exported with random weights
(a warning says so): useful only to check exportability and speed.
"""

import segvit.warning_filters  # noqa: F401  # isort: skip  (first: quiets library import warnings)
import argparse
import json
import logging
import sys
from typing import Dict, Optional, Sequence

from detectron2.config import instantiate

import segvit  # noqa: F401  (registers models)
from segvit.checkpoint import CheckpointError, load_model_weights
from segvit.engine.cli import (
    ConfigOverrideError,
    add_config_arguments,
    add_weights_arguments,
    load_config,
    setup_tool_logger,
    weights_path,
)
from segvit.export import ExportError, ExportRequest, export_model
from segvit.export.formats import FORMATS
from segvit.export.pipeline import check_output, check_request

logger = logging.getLogger("segvit.export")


# On/off options of the tool and what they do.
SWITCHES = {
    "--dynamic": "ONNX only: height and width any multiples of the patch size at run time",
    "--argmax": "also output the label map",
    "--normalized-input": "the graph takes normalised images (default: raw 0..255 pixels, "
    "normalised inside)",
    "--external-data": "ONNX: weights in OUTPUT.data (automatic past protobuf's 2 GB limit)",
    "--overwrite": "replace an existing output",
    "--skip-parity": "write without the parity check (not advised)",
}


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_config_arguments(parser)
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--output", required=True, help="file to write (.onnx / .ts)")
    parser.add_argument("--height", type=int, default=None, help="default: the inference crop")
    parser.add_argument("--width", type=int, default=None, help="default: the inference crop")
    parser.add_argument("--batch-size", type=int, default=1)
    for flag, help_text in SWITCHES.items():
        parser.add_argument(flag, action="store_true", help=help_text)
    add_weights_arguments(parser)
    return parser


def _default_size(cfg) -> Sequence[int]:
    try:
        return list(cfg.model.inference.crop_size)
    except (AttributeError, KeyError):
        return [512, 512]


def run(args: argparse.Namespace) -> Dict:
    """Export, check parity, write ``args.output``; returns the report printed as JSON."""
    cfg = load_config(args.config_file, args.opts)
    height, width = _default_size(cfg)
    request = ExportRequest(
        fmt=args.format,
        height=args.height or height,
        width=args.width or width,
        batch=args.batch_size,
        dynamic=args.dynamic,
        argmax=args.argmax,
        raw_input=not args.normalized_input,
        external_data=args.external_data,
    )
    # Everything that needs no model first: a bad request fails in seconds and writes nothing.
    check_request(request)
    check_output(args.output, args.overwrite)
    checkpoint = cfg.train.get("init_checkpoint", "") if "train" in cfg else ""
    if checkpoint:
        weights_path(cfg)  # a named checkpoint must exist, checked before the model is built

    model = instantiate(cfg.model).eval()
    if checkpoint:  # the project's safe loader: no code runs from the file
        load_model_weights(model, checkpoint, allow_partial=args.allow_partial_weights)
    else:
        logger.warning(
            "no train.init_checkpoint: exporting RANDOM weights (speed/format checks only)"
        )
    report = export_model(
        model, request, args.output, overwrite=args.overwrite, verify=not args.skip_parity
    )
    report = {"config": args.config_file, "checkpoint": checkpoint or None, **report}
    for parity in report["parity"]:
        logger.info(
            "parity at %s: max|diff| %.2e, argmax agreement %.4f%%",
            parity["input_hw"],
            parity["max_abs_diff"],
            100 * parity["argmax_agreement"],
        )
    print(json.dumps(report))
    return report


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the export; a bad request prints one ``error:`` line and exits 2 (nothing written)."""
    errors = (ExportError, CheckpointError, ConfigOverrideError, FileNotFoundError, FileExistsError)
    try:
        run(get_parser().parse_args(argv))
    except (*errors, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    setup_tool_logger()
    sys.exit(main())
