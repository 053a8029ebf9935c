"""Writing converted weights as a Detectron2 checkpoint (what ``train.init_checkpoint`` loads)."""

import argparse
import os
from typing import Dict, Optional

import torch
from torch import Tensor

from .safe_io import atomic_write

__all__ = ["add_output_arguments", "check_output_arguments", "save_detectron2_checkpoint"]


def add_output_arguments(
    parser: argparse.ArgumentParser, *, prefix_help: Optional[str] = None
) -> None:
    """``--output``, ``--prefix`` (default ``backbone.``; only with ``prefix_help``, for tools
    whose keys need one) and ``--overwrite`` of a converter."""
    parser.add_argument("--output", required=True, help="Detectron2 checkpoint to write (.pth)")
    if prefix_help is not None:
        parser.add_argument("--prefix", default="backbone.", help=prefix_help)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")


def check_output_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Stop (``parser.error``) on a prefix that would glue onto the keys, or on an existing
    output without ``--overwrite``: a converter never replaces a file by accident."""
    prefix = getattr(args, "prefix", "")
    if prefix and not prefix.endswith("."):
        parser.error(f"--prefix {prefix!r} must end with '.' (e.g. 'backbone.net.')")
    if os.path.exists(args.output) and not args.overwrite:
        parser.error(f"{args.output} exists; pass --overwrite to replace it")


def save_detectron2_checkpoint(
    state_dict: Dict[str, Tensor], path: str, *, prefix: str, author: str
) -> None:
    """Write ``{"model": {prefix + key: tensor}}`` to ``path`` in one step.

    Written with :func:`~segvit.checkpoint.safe_io.atomic_write` (a temporary file renamed, the
    umask's permissions), so a failed run never leaves a half-written checkpoint.
    ``matching_heuristics`` is off: keys must match the model's names exactly.
    """
    checkpoint = {
        "model": {prefix + k: v for k, v in state_dict.items()},
        "__author__": author,
        "matching_heuristics": False,
    }
    atomic_write(path, lambda f: torch.save(checkpoint, f), what="checkpoint")
