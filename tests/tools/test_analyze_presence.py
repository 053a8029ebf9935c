"""tools/analyze_presence.py: a checkpoint evaluated as trained and with the true classes."""

import json

import pytest
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import LazyConfig, instantiate
from repo_scripts import load_script
from train_net_helpers import CONFIG, TINY

analyze_presence = load_script("tools", "analyze_presence")


@pytest.fixture()
def tiny_checkpoint(tmp_path, tiny_dataset):
    cfg = LazyConfig.apply_overrides(LazyConfig.load(CONFIG), TINY)
    path = tmp_path / "model.pth"
    DetectionCheckpointer(instantiate(cfg.model), save_dir=str(tmp_path)).save("model")
    return path


def _main(*argv):
    args = analyze_presence.get_parser().parse_args(["--config-file", CONFIG, *argv])
    return analyze_presence.run(args)


def test_writes_model_and_true_class_ious(tmp_path, tiny_checkpoint, capsys):
    out = tmp_path / "presence.json"
    summary = _main("--output", str(out), *TINY, f"train.init_checkpoint={tiny_checkpoint}")
    written = json.loads(out.read_text())
    assert written["mIoU"] == summary["mIoU"] and written["checkpoint"] == str(tiny_checkpoint)
    assert set(written["mIoU"]) == {"model", "true_classes"}
    for scores in written["per_class_IoU"].values():
        assert len(scores) == 8 and "background" in scores
    assert "with true classes" in capsys.readouterr().out
    with pytest.raises(FileExistsError, match="presence.json"):
        _main("--output", str(out), *TINY, f"train.init_checkpoint={tiny_checkpoint}")


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="init_checkpoint"):
        _main(*TINY, f"train.init_checkpoint={tmp_path / 'nope.pth'}")
