"""tools/train_net.py: a few iterations of training, resume, eval-only, and early config errors."""
import importlib.util
import json
from pathlib import Path

import pytest
import torch

from segvit.data.synthetic import generate_synthetic_dataset, register_synthetic

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / "configs/synthetic/segvit_tiny.py")
PREFIX = "tiny_synthetic_sem_seg"


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


train_net = _load_tool("train_net")

# A tiny model and data budget: 2 blocks, 8 crops of 64x64, 4 validation images.
TINY = [
    "model.backbone.depth=2",
    "model.backbone.out_indices=[0,1]",
    "model.head.in_features=[block1,block0]",
    "model.head.layers_per_stage=1",
    "dataloader.train.total_batch_size=2",
    "dataloader.train.num_workers=0",
    "dataloader.test.num_workers=0",
    "dataloader.train.mapper.augmentations.crop_size=[64,64]",
    f"dataloader.train.dataset.names={PREFIX}_train",
    f"dataloader.test.dataset.names={PREFIX}_val",
    "train.log_period=1",
]


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "synthetic"
    generate_synthetic_dataset(str(root), num_train=8, num_val=4, seed=1)
    register_synthetic(str(root), name_prefix=PREFIX)
    return root


def run(argv):
    args = train_net.build_parser().parse_args(["--config-file", CONFIG, *argv])
    return train_net.main(args)


def read_metrics(output_dir):
    return [json.loads(line) for line in (Path(output_dir) / "metrics.json").read_text().splitlines()]


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
    common = [*TINY, f"train.output_dir={out}", "train.eval_period=0", "train.checkpointer.period=2"]
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


def test_unknown_config_key_fails_before_training(tmp_path):
    with pytest.raises(KeyError, match="max_iters"):
        run([f"train.output_dir={tmp_path}", "train.max_iters=3"])
    assert not (tmp_path / "metrics.json").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error")
def test_cuda_device_without_gpu_names_the_fix(tmp_path):
    with pytest.raises(ValueError, match="train.device=cpu"):
        run([f"train.output_dir={tmp_path}", "train.device=cuda"])
