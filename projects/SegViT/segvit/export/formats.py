"""Writing and running the two export formats: ONNX (torch.export -> ONNX, onnxruntime) and
TorchScript (``torch.jit.trace``).

ONNX goes through the dynamo-based ``torch.onnx.export`` (``torch.export`` graph translated by
onnxscript): the TorchScript-based legacy exporter has no ONNX symbolic for the fused attention
PyTorch runs in eval mode (``aten::_native_multi_head_attention``, in ``nn.MultiheadAttention``)
and is deprecated. ``onnx``, ``onnxruntime`` and ``onnxscript`` are optional: they are imported
here only when needed, and :func:`require` says how to install them.
"""

import importlib
import os
from types import ModuleType
from typing import Callable, List, Optional, Sequence

import numpy as np
import torch

from .exportable import ExportableSegmentor

__all__ = [
    "FORMATS",
    "ONNX_OPSET",
    "require",
    "export_onnx",
    "export_torchscript",
    "load_runner",
    "written_files",
]

FORMATS = ("onnx", "torchscript")
ONNX_OPSET = 18  # the dynamo exporter's default; onnxruntime 1.32 runs opsets up to 23
INSTALL_HINT = (
    "pip install -c requirements/constraints.txt onnx onnxruntime onnxscript  (or: make setup)"
)

Runner = Callable[[np.ndarray], List[np.ndarray]]


def require(name: str) -> ModuleType:
    """Import an optional export dependency or raise an ImportError that says how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise ImportError(f"ONNX export needs the '{name}' package ({e}); {INSTALL_HINT}") from e


def written_files(path: str) -> List[str]:
    """The files of an export to ``path`` (an ONNX model may have a ``.data`` side file)."""
    return [p for p in (path, path + ".data") if os.path.exists(p)]


def export_onnx(
    module: ExportableSegmentor,
    example: torch.Tensor,
    path: str,
    *,
    dynamic: bool = False,
    opset: int = ONNX_OPSET,
    external_data: Optional[bool] = None,
) -> List[str]:
    """Export ``module`` at the size of ``example`` (B, 3, H, W) to ``path``; returns the files.

    ``dynamic``: height and width are free multiples of the patch size (``torch.export`` derived
    dims ``patch * n``); batch stays ``B``. ``external_data``: weights in ``path + ".data"``
    (None: only when they pass protobuf's 2 GB limit, which the exporter checks).
    """
    for name in ("onnx", "onnxscript"):
        require(name)
    dynamic_shapes = None
    if dynamic:
        div = max(int(module.model.size_divisibility), 1)
        # The upper bound only keeps the symbolic sizes finite; 8192 px covers any real image.
        rows = torch.export.Dim("rows", min=1, max=8192 // div)
        cols = torch.export.Dim("cols", min=1, max=8192 // div)
        dynamic_shapes = ({2: div * rows, 3: div * cols},)
    with torch.no_grad():
        program = torch.export.export(
            module, (example,), dynamic_shapes=dynamic_shapes, strict=False
        )
        onnx_program = torch.onnx.export(
            program,
            dynamo=True,
            input_names=["images"],
            output_names=list(module.output_names),
            opset_version=opset,
            optimize=True,
        )
    onnx_program.save(path, external_data=external_data or None)
    return written_files(path)


def export_torchscript(module: ExportableSegmentor, example: torch.Tensor, path: str) -> List[str]:
    """Trace ``module`` at the size of ``example`` (B, 3, H, W), freeze it and save to ``path``.

    Tracing records the Python shape arithmetic (token grids, pos-embed size) as constants, so the
    module is valid for this input size only (``--dynamic`` is refused for TorchScript).
    """
    with torch.no_grad():
        traced = torch.jit.trace(module, (example,), check_trace=False, strict=False)
        frozen = torch.jit.freeze(traced)
    torch.jit.save(frozen, path)
    return written_files(path)


def load_runner(path: str, fmt: str, *, num_threads: Optional[int] = None) -> Runner:
    """A callable ``images (B, 3, H, W) float32 numpy -> [outputs as numpy]`` for a saved export.

    onnxruntime runs on the CPU provider; TorchScript on CPU with torch's current threads.
    """
    if fmt == "onnx":
        ort = require("onnxruntime")
        options = ort.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = num_threads
            options.inter_op_num_threads = 1
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name

        def run_onnx(images: np.ndarray) -> List[np.ndarray]:
            return session.run(None, {input_name: np.ascontiguousarray(images, np.float32)})

        return run_onnx
    if fmt == "torchscript":
        scripted = torch.jit.load(path, map_location="cpu").eval()

        def run_torchscript(images: np.ndarray) -> List[np.ndarray]:
            with torch.no_grad():
                out = scripted(torch.from_numpy(np.ascontiguousarray(images, np.float32)))
            outs: Sequence[torch.Tensor] = out if isinstance(out, (tuple, list)) else (out,)
            return [o.numpy() for o in outs]

        return run_torchscript
    raise ValueError(f"format {fmt!r} is not one of {FORMATS}")
