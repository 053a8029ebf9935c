"""One export from a built model to checked files: prepare, export, check parity, publish.

The files are written into a temporary folder next to the output, checked there (parity with
PyTorch on onnxruntime / TorchScript) and only then moved to the output path, so a failed export
or a failed check leaves nothing behind and never replaces an existing file.
"""

import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Dict, List, Optional

import torch

from ..modeling.meta_arch.base import SegmentorBase
from .exportable import (
    ExportableSegmentor,
    ExportError,
    check_dynamic,
    check_exportable,
    check_input_size,
    fix_input_size,
)
from .formats import FORMATS, export_onnx, export_torchscript, load_runner, require, written_files
from .parity import Parity, measure_parity, parity_inputs

__all__ = ["ExportRequest", "check_request", "check_output", "build_exportable", "export_model"]


@dataclass(frozen=True)
class ExportRequest:
    """What to export. ``height``/``width``: the export size (the example size with --dynamic)."""

    fmt: str
    height: int
    width: int
    batch: int = 1
    dynamic: bool = False
    argmax: bool = False
    raw_input: bool = True
    external_data: bool = False


def check_request(request: ExportRequest) -> None:
    """Checks that need no model: format, dynamic support, batch; imports of optional packages."""
    if request.fmt not in FORMATS:
        raise ExportError(f"--format {request.fmt!r} is not one of {FORMATS}")
    if request.batch < 1:
        raise ExportError(f"--batch-size {request.batch} must be >= 1")
    if request.fmt == "torchscript" and request.dynamic:
        raise ExportError(
            "--dynamic is not available for TorchScript: torch.jit.trace records the Python "
            "shape arithmetic (token grid, pos-embed size) as constants, so the module would "
            "only be right at the traced size. Use --format onnx --dynamic, or export each size."
        )
    if request.external_data and request.fmt != "onnx":
        raise ExportError("--external-data applies to --format onnx only")
    if request.fmt == "onnx":
        for name in ("onnx", "onnxscript", "onnxruntime"):
            require(name)


def check_output(path: str, overwrite: bool) -> None:
    """Refuse to replace an existing export (model file or ONNX ``.data`` side file)."""
    existing = written_files(path)
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(existing)} exists; pass --overwrite to replace it")
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ExportError(f"the output folder {folder} is a file")


def build_exportable(model: SegmentorBase, request: ExportRequest) -> ExportableSegmentor:
    """Check the model and size, fix the size-dependent tables (unless dynamic) and wrap it."""
    check_exportable(model)
    check_input_size(model, request.height, request.width)
    if request.dynamic:
        check_dynamic(model)
        prepared = model
    else:
        prepared = fix_input_size(model, request.height, request.width)
    return ExportableSegmentor(prepared, raw_input=request.raw_input, argmax=request.argmax)


def export_model(
    model: SegmentorBase,
    request: ExportRequest,
    path: str,
    *,
    overwrite: bool = False,
    verify: bool = True,
    dynamic_check_hw: Optional[tuple] = None,
) -> Dict:
    """Export ``model`` as ``request`` says to ``path``; returns a report.

    With ``verify`` (default) the export must pass the parity targets at the export size (and,
    with ``dynamic``, also at ``dynamic_check_hw``, default the export size + 2 patches in each
    direction), else :class:`ExportError` and nothing is written.
    """
    check_request(request)
    check_output(path, overwrite)
    module = build_exportable(model, request)
    example = torch.zeros(request.batch, 3, request.height, request.width)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".export-", dir=folder)
    try:
        staged = os.path.join(staging, os.path.basename(path))
        if request.fmt == "onnx":
            export_onnx(
                module,
                example,
                staged,
                dynamic=request.dynamic,
                external_data=request.external_data,
            )
        else:
            export_torchscript(module, example, staged)
        parities: List[Parity] = []
        if verify:
            runner = load_runner(staged, request.fmt)
            sizes = [(request.height, request.width)]
            if request.dynamic:
                div = module.model.size_divisibility
                sizes.append(dynamic_check_hw or (request.height + 2 * div, request.width + div))
            for h, w in sizes:
                inputs = parity_inputs(request.batch, h, w)
                if not request.raw_input:
                    inputs = [_normalize(model, x) for x in inputs]
                reference = ExportableSegmentor(model, raw_input=request.raw_input)  # unmodified
                parity = measure_parity(reference, runner, inputs)
                parities.append(parity)
                if not parity.ok:
                    raise ExportError(f"parity check failed, nothing written: {parity}")
        files = []
        for src in written_files(staged):
            dst = os.path.join(folder, os.path.basename(src))
            os.replace(src, dst)
            files.append(dst)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {
        "model": check_exportable(model),
        "format": request.fmt,
        "files": {f: os.path.getsize(f) for f in files},
        "input": {
            "shape": [request.batch, 3, request.height, request.width],
            "dynamic_height_width": request.dynamic,
            "raw_pixels": request.raw_input,
        },
        "outputs": list(module.output_names),
        "parity": [p.as_dict() for p in parities],
    }


def _normalize(model: SegmentorBase, images):
    mean = model.pixel_mean.cpu().numpy()
    std = model.pixel_std.cpu().numpy()
    return ((images - mean) / std).astype(images.dtype)
