"""Writing converted weights as a Detectron2 checkpoint (what ``train.init_checkpoint`` loads)."""

import argparse
import os
from typing import Dict

import torch
from torch import Tensor

__all__ = ["add_output_arguments", "check_output_arguments", "save_detectron2_checkpoint"]


def add_output_arguments(parser: argparse.ArgumentParser, *, prefix_help: str) -> None:
    """``--output``, ``--prefix`` (default ``backbone.``) and ``--overwrite`` of a converter."""
    parser.add_argument("--output", required=True, help="Detectron2 checkpoint to write (.pth)")
    parser.add_argument("--prefix", default="backbone.", help=prefix_help)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")


def check_output_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Stop (``parser.error``) on a prefix that would glue onto the keys, or on an existing
    output without ``--overwrite``: a converter never replaces a file by accident."""
    if args.prefix and not args.prefix.endswith("."):
        parser.error(f"--prefix {args.prefix!r} must end with '.' (e.g. 'backbone.net.')")
    if os.path.exists(args.output) and not args.overwrite:
        parser.error(f"{args.output} exists; pass --overwrite to replace it")


def save_detectron2_checkpoint(
    state_dict: Dict[str, Tensor], path: str, *, prefix: str, author: str
) -> None:
    """Write ``{"model": {prefix + key: tensor}}`` to ``path`` in one step.

    The file is written next to ``path`` and renamed, so a failed run never leaves a half-written
    checkpoint. ``matching_heuristics`` is off: keys must match the model's names exactly.
    """
    checkpoint = {
        "model": {prefix + k: v for k, v in state_dict.items()},
        "__author__": author,
        "matching_heuristics": False,
    }
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    torch.save(checkpoint, tmp)
    os.replace(tmp, path)
