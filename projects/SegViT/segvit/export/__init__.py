"""Export to ONNX and TorchScript (``tools/export_model.py``, ``docs/deployment.md``).

Importing this package needs neither ``onnx`` nor ``onnxruntime``: they are imported when an ONNX
export or run is asked for, with an install hint if missing.
"""

from .exportable import (  # noqa: F401
    EXPORTABLE_BACKBONES,
    EXPORTABLE_HEADS,
    ExportableSegmentor,
    ExportError,
    check_exportable,
    fix_input_size,
)
from .formats import FORMATS, load_runner  # noqa: F401
from .parity import Parity, measure_parity, parity_inputs  # noqa: F401
from .pipeline import ExportRequest, export_model  # noqa: F401
