"""Output folders (issue 23, items 2-4; issue 26's duplicate record): one training per folder at a
time, an interrupted final save finished by --resume, and no tool writing into a user's folder or
removing a user's file. Every test hashes the user's files before and after."""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from repo_scripts import load_script
from train_net_helpers import CONFIG, PREFIX, TINY, TINY_MODEL, read_metrics, run

from segvit.engine.run_folder import MARKER, OutputDirInUseError, lock_output_folder

demo = load_script("tools", "demo")
visualize = load_script("tools", "visualize_predictions")

RUN = ["train.max_iter=2", "train.checkpointer.period=1", "train.eval_period=0"]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hashes(folder: Path) -> dict:
    return {str(p.relative_to(folder)): sha(p) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished(tiny_dataset, tmp_path_factory):
    """A finished 2-iteration run: model_0000000/1.pth, model_final.pth, final eval record."""
    out = tmp_path_factory.mktemp("finished") / "run"
    run([*TINY, *RUN, f"train.output_dir={out}"])
    return out


@pytest.fixture
def user_folder(tmp_path):
    """A user's folder holding files with the names our runs write."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "config.yaml").write_text("my: settings\n")
    (folder / "log.txt").write_text("my notes\n")
    (folder / "metrics.json").write_text('{"my": 1}\n')
    (folder / "areas.json").write_text('{"field": 3.5}\n')
    return folder


# ------------------------------------------------------------------------- 2: one run per folder
def test_second_training_into_a_folder_in_use_is_refused(finished, tmp_path):
    out = Path(shutil.copytree(finished, tmp_path / "run"))
    before = hashes(out)
    with lock_output_folder(str(out), what="train.output_dir"):  # as a running training does
        with pytest.raises(OutputDirInUseError) as info:
            run(["--resume", *TINY, *RUN, f"train.output_dir={out}"])
    assert str(out) in str(info.value) and "another training" in str(info.value)
    assert hashes(out) == before


def test_a_killed_training_leaves_no_lock(tiny_dataset, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / MARKER).write_text("")
    holder = subprocess.Popen(  # another process holds the lock, as a running training
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(out / MARKER)!r}, os.O_RDONLY)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(120)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(OutputDirInUseError):
            run([*TINY, *RUN, f"train.output_dir={out}"])
        assert sorted(os.listdir(out)) == [MARKER]  # nothing written
    finally:
        holder.kill()  # SIGKILL: no clean-up code runs
        holder.wait()
    run([*TINY, *RUN, f"train.output_dir={out}"])
    assert (out / "model_final.pth").is_file()


# ------------------------------------------------------------------------- 3: the final save
def _killed_in_final_save(finished: Path, folder: Path) -> Path:
    """What SIGKILL during the write of model_final.pth leaves (reproduced in issue 23): the
    last periodic checkpoint named by last_checkpoint, a partial temporary file, no final
    evaluation record."""
    out = Path(shutil.copytree(finished, folder))
    (out / "model_final.pth").unlink()
    (out / "last_checkpoint").write_text("model_0000001.pth")
    (out / ".model_final.pth.k1ll3d__.tmp").write_bytes(b"PK\x03\x04 partial")
    lines = (out / "metrics.json").read_text().splitlines(keepends=True)
    (out / "metrics.json").write_text(
        "".join(line for line in lines if '"iteration": 2' not in line)
    )
    return out


def test_resume_finishes_an_interrupted_final_save(finished, tmp_path):
    out = _killed_in_final_save(finished, tmp_path / "run")
    last = torch.load(out / "model_0000001.pth", weights_only=True)
    run(["--resume", *TINY, *RUN, f"train.output_dir={out}"])
    final = torch.load(out / "model_final.pth", weights_only=True)
    assert final["trainer"]["iteration"] == last["trainer"]["iteration"] == 1
    assert all(torch.equal(final["model"][k], v) for k, v in last["model"].items())
    assert (out / "last_checkpoint").read_text() == "model_final.pth"
    assert not list(out.glob(".*.tmp"))
    records = read_metrics(out)
    assert [m["iteration"] for m in records if "sem_seg/mIoU" in m] == [2]  # recorded once
    # A second --resume of the now finished run evaluates and appends nothing (issue 26).
    before = hashes(out)
    run(["--resume", *TINY, *RUN, f"train.output_dir={out}"])
    after = hashes(out)
    changed = {k for k in after if before.get(k) != after[k]}
    assert changed <= {"log.txt", "config.yaml"}, changed


def test_resume_of_a_finished_run_appends_no_record(finished, tmp_path):
    out = Path(shutil.copytree(finished, tmp_path / "run"))
    before = hashes(out)
    run(["--resume", *TINY, *RUN, f"train.output_dir={out}"])
    assert read_metrics(out)[-1]["iteration"] == 2
    assert {k for k, v in hashes(out).items() if before.get(k) != v} <= {"log.txt", "config.yaml"}


# ------------------------------------------------------------------------- 4: the user's folders
@pytest.mark.parametrize("through_link", [False, True])
def test_training_into_a_users_folder_is_refused(tiny_dataset, user_folder, tmp_path, through_link):
    before = hashes(user_folder)
    target = user_folder
    if through_link:
        target = tmp_path / "output_link"
        target.symlink_to(user_folder)
    for extra in ([], ["--resume"], ["--overwrite-output"]):
        with pytest.raises(FileExistsError) as info:
            run([*extra, *TINY, *RUN, f"train.output_dir={target}"])
        message = str(info.value)
        assert str(target) in message and "config.yaml" in message
        assert "Choose a new (or empty) folder for train.output_dir" in message
        if through_link:
            assert f"a link to {user_folder}" in message
    assert hashes(user_folder) == before and sorted(os.listdir(user_folder)) == sorted(before)


def test_overwrite_output_removes_only_what_our_runs_wrote(finished, tmp_path):
    out = Path(shutil.copytree(finished, tmp_path / "run"))
    mine = out / "model_best_2019.pth"
    mine.write_bytes(b"the user's best model")
    before = sha(mine)
    run(["--overwrite-output", *TINY, *RUN, f"train.output_dir={out}"])
    assert sha(mine) == before
    assert (out / "model_final.pth").is_file()


def test_demo_and_visualize_refuse_a_users_folder(finished, user_folder, tmp_path):
    before = hashes(user_folder)
    weights = f"train.init_checkpoint={finished}/model_final.pth"
    image = tmp_path / "photo.png"
    Image.fromarray(np.full((40, 50, 3), 90, np.uint8)).save(image)
    argv = ["--config-file", CONFIG, "--input", str(image), "--output", str(user_folder)]
    with pytest.raises(FileExistsError, match="areas.json"):
        demo.main([*argv, *TINY_MODEL, weights])
    argv = ["--config-file", CONFIG, "--output", str(user_folder), "--dataset", f"{PREFIX}_val"]
    with pytest.raises(FileExistsError, match=r"Choose a new \(or empty\) folder for --output"):
        visualize.main([*argv, *TINY_MODEL, weights])
    assert hashes(user_folder) == before
    # An empty folder of the user's is taken (and marked), and a second demo into it works.
    empty = tmp_path / "empty"
    empty.mkdir()
    argv = ["--config-file", CONFIG, "--input", str(image), "--output", str(empty)]
    demo.main([*argv, *TINY_MODEL, weights])
    demo.main([*argv, *TINY_MODEL, weights])
    assert (empty / MARKER).is_file() and (empty / "areas.json").is_file()


# ------------------------------------------------------------------------- 5, 6: demo and panels
def test_demo_reads_a_16_bit_image_like_its_8_bit_copy(finished, tmp_path, monkeypatch):
    gray = np.linspace(0, 65535, 40 * 50).reshape(40, 50).astype(np.uint16)
    Image.fromarray(gray).save(tmp_path / "deep.png")
    flat = ((gray.astype(np.int64) + 128) // 257).astype(np.uint8)
    Image.fromarray(flat).save(tmp_path / "flat.png")
    before = hashes(tmp_path)
    seen = []  # the pixels the demo gives the model

    class Recording(demo.SemSegPredictor):
        def __call__(self, image):
            seen.append(image.copy())
            return super().__call__(image)

    monkeypatch.setattr(demo, "SemSegPredictor", Recording)
    argv = ["--config-file", CONFIG, "--input", str(tmp_path / "deep.png")]
    argv += [str(tmp_path / "flat.png"), "--output", str(tmp_path / "out")]
    demo.main([*argv, *TINY_MODEL, f"train.init_checkpoint={finished}/model_final.pth"])
    deep_rgb, flat_rgb = seen
    np.testing.assert_array_equal(deep_rgb, flat_rgb)  # not 255 everywhere
    np.testing.assert_array_equal(deep_rgb[..., 0], flat)
    assert {k: v for k, v in hashes(tmp_path).items() if not k.startswith("out")} == before


def test_visualize_predictions_reads_palette_labels(finished, tiny_dataset, tmp_path):
    from detectron2.data import DatasetCatalog, MetadataCatalog

    from segvit.data.synthetic import register_synthetic

    root = Path(shutil.copytree(tiny_dataset, tmp_path / "synthetic"))
    for path in (root / "annotations_detectron2" / "val").glob("*.png"):
        label = Image.fromarray(np.asarray(Image.open(path)), mode="P")
        label.putpalette([(i * 37) % 256 for i in range(768)])
        label.save(path)
    before = hashes(root)
    register_synthetic(str(root), name_prefix="palette_viz")
    try:
        argv = ["--config-file", CONFIG, "--output", str(tmp_path / "panels")]
        argv += ["--dataset", "palette_viz_val", "--num-images", "2"]
        visualize.main([*argv, *TINY_MODEL, f"train.init_checkpoint={finished}/model_final.pth"])
    finally:
        for split in ("train", "val"):
            DatasetCatalog.remove(f"palette_viz_{split}")
            MetadataCatalog.remove(f"palette_viz_{split}")
    assert len(list((tmp_path / "panels").glob("*.png"))) == 2
    assert hashes(root) == before
