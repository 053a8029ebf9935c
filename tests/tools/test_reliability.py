"""tools/train_net.py and tools/demo.py with bad files and bad luck (issue 13, cases 2, 3, 5, 6, 8).

Each test checks that the error names the file or key and the fix, and that no file the user had
changed (sha256 before and after). Case 1 (code in weight files) is ``test_unsafe_weights.py``;
case 4 (EXIF) is ``tests/data/test_exif_orientation.py``.
"""

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import LazyConfig, instantiate
from PIL import Image
from repo_scripts import load_script
from train_net_helpers import CONFIG, TINY, TINY_MODEL, read_metrics, run

from segvit.checkpoint import CheckpointError, DiskFullError
from segvit.data.synthetic import register_synthetic
from segvit.engine.cli import ConfigOverrideError

demo = load_script("tools", "demo")


def hashes(folder: Path) -> dict:
    """sha256 of every file under ``folder``, by relative path."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def trained(tiny_dataset, tmp_path_factory):
    """The folder of a finished 1-iteration run (config.yaml, metrics.json, model_final.pth)."""
    out = tmp_path_factory.mktemp("trained")
    run([*TINY, f"train.output_dir={out}", "train.max_iter=1", "train.eval_period=0"])
    return out


@pytest.fixture
def run_copy(trained, tmp_path):
    """A copy of the trained run's folder, to be hit by a second command."""
    return Path(shutil.copytree(trained, tmp_path / "run"))


# ------------------------------------------------------------------------- 2: evaluation labels
@pytest.mark.parametrize("value", [8, 200], ids=["one-above", "far-above"])
def test_eval_only_checks_its_labels(value, trained, tiny_dataset, tmp_path):
    root = Path(shutil.copytree(tiny_dataset, tmp_path / "synthetic"))
    register_synthetic(str(root), name_prefix=f"bad_val_{value}")
    bad = sorted((root / "annotations_detectron2" / "val").glob("*.png"))[1]
    label = np.array(Image.open(bad))
    label[0, 0] = value  # 8 classes: valid values are 0..7 and 255
    Image.fromarray(label).save(bad)
    before = hashes(root)
    argv = ["--eval-only", *TINY, f"dataloader.test.dataset.names=bad_val_{value}_val"]
    argv += [
        f"train.output_dir={tmp_path / 'eval'}",
        f"train.init_checkpoint={trained}/model_final.pth",
    ]
    with pytest.raises(ValueError) as info:
        run(argv)
    message = str(info.value)
    assert f"{bad.name} contains value(s) {value}" in message and "8 classes" in message
    assert "prepare script" in message  # the fix
    assert hashes(root) == before


# ------------------------------------------------------------------------- 3: one run per folder
def test_second_run_into_a_folder_with_checkpoints_is_refused(run_copy):
    before = hashes(run_copy)
    with pytest.raises(FileExistsError) as info:
        run([*TINY, f"train.output_dir={run_copy}", "train.max_iter=1"])
    message = str(info.value)
    assert str(run_copy) in message and "model_final.pth" in message
    assert "--resume" in message and "--overwrite-output" in message
    assert hashes(run_copy) == before
    # Asked for: replaced, and metrics.json holds only the new run.
    run(["--overwrite-output", *TINY, f"train.output_dir={run_copy}", "train.max_iter=1"])
    assert [m["iteration"] for m in read_metrics(run_copy) if "total_loss" in m] == [0]


def test_eval_only_writes_into_its_own_subfolder(run_copy):
    before = hashes(run_copy)
    checkpoint = f"train.init_checkpoint={run_copy}/model_final.pth"
    for n in range(2):
        run(["--eval-only", *TINY, f"train.output_dir={run_copy}", checkpoint])
        assert (run_copy / f"eval_{n}" / "config.yaml").is_file()
    after = hashes(run_copy)
    assert {k: v for k, v in after.items() if not k.startswith("eval_")} == before


def test_rerun_with_resume_of_a_finished_run_keeps_it(run_copy):
    """What a second `make demo` does: nothing is trained over the finished run."""
    final = hashes(run_copy)["model_final.pth"]
    run(["--resume", *TINY, f"train.output_dir={run_copy}", "train.max_iter=1"])
    assert hashes(run_copy)["model_final.pth"] == final


def test_resume_from_an_empty_checkpoint_names_the_fix(run_copy):
    (run_copy / "model_0000009.pth").write_bytes(b"")  # a kill during a non-atomic write
    (run_copy / "last_checkpoint").write_text("model_0000009.pth")
    before = hashes(run_copy)
    with pytest.raises(CheckpointError) as info:
        run(["--resume", *TINY, f"train.output_dir={run_copy}", "train.max_iter=12"])
    message = str(info.value)
    assert "model_0000009.pth is empty" in message
    assert "Delete it and resume from model_final.pth" in message
    # --resume continues the run: it appends to log.txt and rewrites config.yaml, nothing else.
    changed = {k for k, v in hashes(run_copy).items() if before.get(k) != v}
    assert changed <= {"log.txt", "config.yaml"}


# ------------------------------------------------------------------------- 5: wrong weights
@pytest.mark.parametrize("kind", ["other_embed_dim", "empty"])
def test_eval_and_demo_refuse_weights_that_leave_tensors_unloaded(kind, trained, tmp_path):
    path = tmp_path / f"{kind}.pth"
    if kind == "empty":
        torch.save({}, path)
    else:
        cfg = LazyConfig.apply_overrides(
            LazyConfig.load(CONFIG), [*TINY, "model.backbone.embed_dim=32"]
        )
        DetectionCheckpointer(instantiate(cfg.model), save_dir=str(tmp_path)).save(kind)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    argv = [
        "--eval-only",
        *TINY,
        f"train.output_dir={tmp_path / 'eval'}",
        f"train.init_checkpoint={path}",
    ]
    with pytest.raises(CheckpointError, match="--allow-partial-weights") as info:
        run(argv)
    assert str(path) in str(info.value) and "backbone.pos_embed" in str(info.value)
    demo_argv = ["--config-file", CONFIG, "--input", str(trained), "--output", str(tmp_path / "d")]
    with pytest.raises(CheckpointError, match="--allow-partial-weights"):
        demo.main([*demo_argv, *TINY_MODEL, f"train.init_checkpoint={path}"])
    if kind == "empty":  # asked for: the random model is evaluated
        assert "sem_seg[whole]" in run(["--allow-partial-weights", *argv])
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


# ------------------------------------------------------------------------- 6: class counts
@pytest.mark.parametrize("num_classes", [10, 5])
def test_class_count_mismatch_stops_at_start_up(num_classes, trained, tmp_path):
    before = hashes(trained)
    wrong = f"model.head.num_classes={num_classes}"
    expected = rf"{num_classes} classes \(model.head.num_classes={num_classes}\).*has 8 classes"
    with pytest.raises(ValueError, match=expected) as info:
        run([*TINY, wrong, f"train.output_dir={tmp_path / 'train'}", "train.max_iter=1"])
    assert "Set model.head.num_classes=8" in str(info.value)
    assert not (tmp_path / "train").exists()  # stopped before writing anything
    checkpoint = f"train.init_checkpoint={trained}/model_final.pth"
    with pytest.raises(ValueError, match=expected):
        run(["--eval-only", *TINY, wrong, f"train.output_dir={tmp_path / 'e'}", checkpoint])
    demo_argv = ["--config-file", CONFIG, "--input", str(trained), "--output", str(tmp_path / "d")]
    with pytest.raises(ValueError, match=expected):
        demo.main([*demo_argv, *TINY_MODEL, wrong, checkpoint])
    assert hashes(trained) == before


# ------------------------------------------------------------------------- 8: smaller ones
def test_override_of_the_wrong_type_names_the_key_before_building(tmp_path):
    with pytest.raises(
        ConfigOverrideError, match=r"'train\.max_iter=abc': train\.max_iter must be of type int"
    ):
        run([f"train.output_dir={tmp_path / 'out'}", "train.max_iter=abc"])
    with pytest.raises(
        ConfigOverrideError, match=r"model\.backbone\.out_indices must be of type list"
    ):
        run([f"train.output_dir={tmp_path / 'out'}", "model.backbone.out_indices=3"])
    assert not (tmp_path / "out").exists()


def test_text_file_as_checkpoint_is_named(tmp_path, tiny_dataset):
    notes = tmp_path / "notes.pth"
    notes.write_text("best run: 75.9 mIoU\n")
    argv = [
        "--eval-only",
        *TINY,
        f"train.output_dir={tmp_path / 'e'}",
        f"train.init_checkpoint={notes}",
    ]
    with pytest.raises(CheckpointError, match=r"notes\.pth is not a checkpoint: it is a text file"):
        run(argv)
    assert notes.read_text() == "best run: 75.9 mIoU\n"


def test_full_disk_is_one_clear_error_and_resume_continues(tiny_dataset, tmp_path, monkeypatch):
    out = tmp_path / "run"
    argv = [*TINY, f"train.output_dir={out}", "train.eval_period=0", "train.checkpointer.period=1"]
    save = torch.save
    calls = []

    def fills_the_disk(obj, f, *args, **kwargs):
        calls.append(1)
        if len(calls) > 1:  # the second checkpoint hits a full disk half-way
            f.write(b"PK partial")
            raise OSError(28, "No space left on device")
        save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", fills_the_disk)
    with pytest.raises(DiskFullError) as info:
        run([*argv, "train.max_iter=3"])
    assert "No space left" in str(info.value) and "--resume" in str(info.value)
    assert str(out) in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__  # one error, no chain
    assert sorted(p.name for p in out.glob("*.pth")) == ["model_0000000.pth"]
    assert not list(out.glob(".*tmp"))
    assert (out / "last_checkpoint").read_text() == "model_0000000.pth"
    monkeypatch.setattr(torch, "save", save)
    run(["--resume", *argv, "train.max_iter=3"])
    assert [m["iteration"] for m in read_metrics(out) if "total_loss" in m][-2:] == [1, 2]
