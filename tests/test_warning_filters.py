"""The warnings and log lines that `import segvit` silences (segvit/warning_filters.py), and the
ones it must keep."""

import logging
import os
import subprocess
import sys
from pathlib import Path

from segvit.warning_filters import install_warning_filters

REPO = Path(__file__).resolve().parents[1]


def run_python(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO / "projects" / "SegViT"), env.get("PYTHONPATH", "")]
    )
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )


def test_import_prints_no_library_future_warnings_but_keeps_other_warnings():
    run = run_python(
        "import segvit, detectron2.engine, fvcore.nn, warnings\n"
        "warnings.warn('label values above the class count', UserWarning)\n"
        "warnings.warn('an option of ours is deprecated', FutureWarning)\n"
    )
    assert run.returncode == 0, run.stderr
    assert "torch.jit" not in run.stderr  # fvcore / Detectron2 import-time FutureWarnings
    assert "label values above the class count" in run.stderr
    assert "an option of ours is deprecated" in run.stderr


def test_detectron2_c_line_says_the_pure_python_wheel_is_expected(caplog):
    install_warning_filters()
    line = "detectron2._C                    not built correctly: No module named 'detectron2._C'"
    with caplog.at_level(logging.INFO, logger="detectron2"):
        logging.getLogger("detectron2").info("Environment info:\n%s", "x")  # args untouched
        logging.getLogger("detectron2").info("Environment info:\n" + line)
    text = caplog.records[-1].getMessage()
    assert "not built correctly" not in text and "pure-Python Detectron2 wheel" in text
    assert caplog.records[0].getMessage() == "Environment info:\nx"


def test_onnx_graph_pass_info_is_quiet_but_warnings_show():
    install_warning_filters()
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)  # as tools/export_model.py logs
    try:
        assert logging.getLogger("segvit.export").isEnabledFor(logging.INFO)
        for name in ("onnx_ir.passes.common.initializer_deduplication", "onnxscript.optimizer"):
            assert not logging.getLogger(name).isEnabledFor(logging.INFO)
            assert logging.getLogger(name).isEnabledFor(logging.WARNING)
    finally:
        root.setLevel(level)
