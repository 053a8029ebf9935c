"""tools/train_net.py: a few iterations of training, resume, eval-only, and early config errors."""

import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from train_net_helpers import TINY, read_metrics, run

from segvit.data.synthetic import register_synthetic
from segvit.engine.cli import ConfigOverrideError


def test_train_writes_checkpoints_logs_tensorboard_and_evaluates(tiny_dataset, tmp_path):
    out = tmp_path / "run"
    run([*TINY, f"train.output_dir={out}", "train.max_iter=3", "train.eval_period=3"])
    assert (out / "model_final.pth").is_file()
    assert (out / "config.yaml").is_file()
    assert list(out.glob("events.out.tfevents.*")), "no tensorboard events"
    metrics = read_metrics(out)
    assert [m["iteration"] for m in metrics if "total_loss" in m] == [0, 1, 2]
    evaluated = [m for m in metrics if "sem_seg/mIoU" in m]
    assert evaluated and 0.0 <= evaluated[-1]["sem_seg/mIoU"] <= 100.0


def test_resume_continues_from_the_last_checkpoint(tiny_dataset, tmp_path):
    out = tmp_path / "run"
    common = [
        *TINY,
        f"train.output_dir={out}",
        "train.eval_period=0",
        "train.checkpointer.period=2",
    ]
    run([*common, "train.max_iter=2"])
    first = torch.load(out / "model_final.pth", weights_only=False)
    assert first["iteration"] == 1 and "optimizer" in first["trainer"]
    assert any("LRScheduler" in name for name in first["trainer"]["hooks"])
    run(["--resume", *common, "train.max_iter=4"])
    iterations = [m["iteration"] for m in read_metrics(out) if "total_loss" in m]
    assert iterations == [0, 1, 2, 3], iterations  # resumed at 2, not restarted at 0


def test_eval_only_reports_each_inference_mode(tiny_dataset, tmp_path):
    out = tmp_path / "run"
    run([*TINY, f"train.output_dir={out}", "train.max_iter=1", "train.eval_period=0"])
    results = run(
        [
            "--eval-only",
            "--eval-modes",
            "whole,slide",
            *TINY,
            f"train.output_dir={out}",
            f"train.init_checkpoint={out / 'model_final.pth'}",
            "model.inference.crop_size=[64,64]",
            "model.inference.stride=[48,48]",
        ]
    )
    assert set(results) == {"sem_seg[whole]", "sem_seg[slide]"}
    assert "mIoU" in results["sem_seg[slide]"]
    # Without --eval-modes the results carry the configured mode (whole in the tiny config).
    checkpoint = f"train.init_checkpoint={out / 'model_final.pth'}"
    results = run(["--eval-only", *TINY, f"train.output_dir={out}", checkpoint])
    assert set(results) == {"sem_seg[whole]"}


def test_eval_only_refuses_unknown_modes_and_a_missing_checkpoint(tmp_path):
    with pytest.raises(ValueError, match="ms_flip"):
        run(["--eval-only", "--eval-modes", "whole,multiscale", f"train.output_dir={tmp_path}"])
    with pytest.raises(ValueError, match="train.init_checkpoint"):
        run(["--eval-only", f"train.output_dir={tmp_path}"])


def test_unknown_config_key_fails_before_training(tmp_path):
    with pytest.raises(ConfigOverrideError, match="max_iters"):
        run([f"train.output_dir={tmp_path}", "train.max_iters=3"])
    assert not (tmp_path / "metrics.json").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error")
def test_cuda_device_without_gpu_names_the_fix(tmp_path):
    with pytest.raises(ValueError, match="train.device=cpu"):
        run([f"train.output_dir={tmp_path}", "train.device=cuda"])


def _copy_dataset(src, dst, prefix):
    shutil.copytree(src, dst)
    register_synthetic(str(dst), name_prefix=prefix)
    return [f"dataloader.train.dataset.names={prefix}_train"]


def test_label_value_out_of_range_names_the_file_and_the_value(tiny_dataset, tmp_path):
    root = tmp_path / "synthetic"
    names = _copy_dataset(tiny_dataset, root, "bad_label_sem_seg")
    for png in (root / "annotations_detectron2" / "train").glob("*.png"):
        label = np.array(Image.open(png))
        label[0, 0] = 200  # >= 8 classes, not the ignore value 255
        Image.fromarray(label).save(png)
    with pytest.raises(
        ValueError, match=r"annotations_detectron2/train/\S+\.png contains value.* 200"
    ):
        run([*TINY, *names, f"train.output_dir={tmp_path / 'run'}", "train.max_iter=1"])


def test_corrupt_image_is_named_even_from_a_worker_process(tiny_dataset, tmp_path):
    root = tmp_path / "synthetic"
    names = _copy_dataset(tiny_dataset, root, "corrupt_sem_seg")
    for jpg in (root / "images" / "train").glob("*.jpg"):
        jpg.write_bytes(jpg.read_bytes()[:100])  # truncated JPEG
    argv = [*TINY, *names, "dataloader.train.num_workers=1", "train.max_iter=1"]
    with pytest.raises(ValueError, match=r"Cannot read image '\S+images/train/\S+\.jpg'"):
        run([*argv, f"train.output_dir={tmp_path / 'run'}"])


def test_missing_dataset_names_the_folder_and_the_prepare_command(tmp_path):
    argv = [f"train.output_dir={tmp_path}", "dataloader.train.dataset.names=ade20k_sem_seg_train"]
    argv += ["dataloader.test.dataset.names=ade20k_sem_seg_val", "model.head.num_classes=150"]
    with pytest.raises(FileNotFoundError, match=r"ADEChallengeData2016.*prepare_ade20k\.py"):
        run([*TINY, *argv, "train.max_iter=1"])
    assert not (tmp_path / "metrics.json").exists()


def test_gradient_accumulation_counts_optimizer_steps(tiny_dataset, tmp_path):
    out = tmp_path / "run"
    run([*TINY, f"train.output_dir={out}", "train.max_iter=2", "train.grad_accum_steps=2"])
    iterations = [m["iteration"] for m in read_metrics(out) if "total_loss" in m]
    assert iterations == [0, 1]
