"""No code runs from a weights file, at any entry point that loads weights (issue 13, case 1).

A crafted ``.pkl``, ``.pth`` and ``.pyth`` each write a marker file when unpickled; every tool is
given each of them, with torch's default and with ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``. The
marker must never appear and the error must name the file and the fix.
"""

import hashlib
import shutil
from pathlib import Path

import pytest
from crafted_pickles import crafted_files
from detectron2.config import LazyConfig
from repo_scripts import load_script
from train_net_helpers import CONFIG, PREFIX, TINY, TINY_MODEL, run

from segvit.checkpoint import CheckpointError
from segvit.predictor import SemSegPredictor

demo = load_script("tools", "demo")
visualize = load_script("tools", "visualize_predictions")
analyze_presence = load_script("tools", "analyze_presence")


def _train(path, out):
    run([*TINY, f"train.output_dir={out}", "train.max_iter=1", f"train.init_checkpoint={path}"])


def _resume(path, out):
    out.mkdir()
    (out / ".segvit_output").touch()  # a run's folder (our tools write only into such folders)
    shutil.copy(path, out / f"model_0000000{Path(path).suffix}")
    (out / "last_checkpoint").write_text(f"model_0000000{Path(path).suffix}")
    run(["--resume", *TINY, f"train.output_dir={out}", "train.max_iter=2"])


def _eval_only(path, out):
    run(["--eval-only", *TINY, f"train.output_dir={out}", f"train.init_checkpoint={path}"])


def _demo(path, out):
    image = Path(__file__).resolve().parents[2] / "docs"  # any folder: no image is read
    argv = ["--config-file", CONFIG, "--input", str(image), "--output", str(out)]
    demo.main([*argv, *TINY_MODEL, f"train.init_checkpoint={path}"])


def _visualize(path, out):
    argv = ["--config-file", CONFIG, "--output", str(out), "--dataset", f"{PREFIX}_val"]
    visualize.main([*argv, *TINY_MODEL, f"train.init_checkpoint={path}"])


def _analyze_presence(path, out):
    argv = ["--config-file", CONFIG, *TINY, f"train.init_checkpoint={path}"]
    analyze_presence.main(argv)


def _predictor(path, out):
    cfg = LazyConfig.apply_overrides(LazyConfig.load(CONFIG), TINY)
    SemSegPredictor(cfg, str(path))


ENTRY_POINTS = {
    "train_net-train": _train,
    "train_net-resume": _resume,
    "train_net-eval_only": _eval_only,
    "demo": _demo,
    "visualize_predictions": _visualize,
    "analyze_presence": _analyze_presence,
    "SemSegPredictor": _predictor,
}


@pytest.mark.parametrize("force_no_weights_only", [False, True], ids=["default", "FORCE_NO=1"])
@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_crafted_weights_never_run_code(
    entry, force_no_weights_only, tiny_dataset, tmp_path, monkeypatch
):
    if force_no_weights_only:
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    else:
        monkeypatch.delenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", raising=False)
    marker = tmp_path / "MARKER"
    files = tmp_path / "files"
    files.mkdir()
    for path in crafted_files(files, marker):
        before = hashlib.sha256(path.read_bytes()).hexdigest()
        named = r"(evil|model_0000000)\.\w+.*(refused|run code)"
        with pytest.raises(CheckpointError, match=named) as info:
            ENTRY_POINTS[entry](path, tmp_path / f"out_{path.suffix[1:]}")
        assert "torch.save" in str(info.value)  # the fix: re-save only the tensors
        assert hashlib.sha256(path.read_bytes()).hexdigest() == before
        assert not marker.exists(), f"{entry} ran code from {path.name}"
