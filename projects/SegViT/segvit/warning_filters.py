"""The warnings and log lines that SegViT-D2 silences, in one place.

``import segvit`` calls :func:`install_warning_filters` before it imports Detectron2 or fvcore, so
a tool that imports ``segvit`` first prints none of the lines below. Each silenced line is
one that says nothing about the user's run and asks nothing of the user:

- ``FutureWarning: `torch.jit.script` / `torch.jit.interface` is deprecated``: emitted three times
  while fvcore and Detectron2 are imported (their decorators run at import time); not our code,
  and nothing to change in a run.
- ``detectron2._C  not built correctly: No module named 'detectron2._C'`` in the environment table
  that Detectron2's ``default_setup`` logs: the normal state of the pure-Python Detectron2 wheel
  that ``make setup`` installs. The line is rewritten to say so (not removed: a user with a broken
  source build still sees that the module is missing).
- ``FutureWarning: `torch.cuda.amp.autocast(args...)` is deprecated`` raised from maskformer2's
  matcher (the official MaskFormer / Mask2Former code, installed as is) at its first training
  step: nothing to change in a run.
- ``No CUDA runtime is found, using CUDA_HOME=...`` (``torch.utils.cpp_extension``, imported by
  Detectron2's environment report): on a CPU machine there is nothing to build or fix. Errors of
  that module still show.
- INFO records of the ONNX exporter's graph passes (``onnx_ir``, ``onnxscript``: "Replaced
  initializer ...", "Skipping constant folding ...", about 170 lines per export). Their warnings
  and errors still show.

Everything else is left as Python and the libraries set it: warnings about the user's data,
config or weights, and every warning of ours, still show.
"""

import logging
import re
import warnings

__all__ = ["install_warning_filters"]

_D2_C_MISSING = re.compile(r"not built correctly: No module named 'detectron2\._C'")
_D2_C_NOTE = (
    "not built (expected: the pure-Python Detectron2 wheel of `make setup`; SegViT-D2 uses "
    "Python versions of its ops)"
)


class _PurePythonDetectron2Note(logging.Filter):
    """Rewrite Detectron2's "detectron2._C not built correctly" environment line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "detectron2._C" in record.msg:
            record.msg = _D2_C_MISSING.sub(_D2_C_NOTE, record.msg)
        return True


def install_warning_filters() -> None:
    """Install the filters described in the module docstring (idempotent)."""
    warnings.filterwarnings(
        "ignore",
        message=r"`torch\.jit\.(script|interface)` is deprecated",
        category=FutureWarning,
    )
    warnings.filterwarnings(
        "ignore",
        message=r"`torch\.cuda\.amp\.autocast\(args\.\.\.\)` is deprecated",
        category=FutureWarning,
        module=r"mask2former",
    )
    d2_logger = logging.getLogger("detectron2")
    if not any(isinstance(f, _PurePythonDetectron2Note) for f in d2_logger.filters):
        d2_logger.addFilter(_PurePythonDetectron2Note())
    for name in ("onnx_ir", "onnxscript"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
