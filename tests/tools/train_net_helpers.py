"""Shared by the tests of tools/train_net.py: the tool as a module, a tiny-run override list."""

import json
import socket
from pathlib import Path

from repo_scripts import load_script

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / "configs/synthetic/segvit_tiny.py")
PREFIX = "tiny_synthetic_sem_seg"


train_net = load_script("tools", "train_net")

# A tiny model and data budget: 2 blocks, crops of 64x64, batches of 2, no worker processes.
TINY_MODEL = [
    "model.backbone.depth=2",
    "model.backbone.out_indices=[0,1]",
    "model.head.in_features=[block1,block0]",
    "model.head.layers_per_stage=1",
]
TINY_DATA = [
    "dataloader.train.total_batch_size=2",
    "dataloader.train.num_workers=0",
    "dataloader.test.num_workers=0",
    "dataloader.train.mapper.augmentations.crop_size=[64,64]",
    "train.log_period=1",
]
TINY = [
    *TINY_MODEL,
    *TINY_DATA,
    f"dataloader.train.dataset.names={PREFIX}_train",
    f"dataloader.test.dataset.names={PREFIX}_val",
]


def run(argv, config=CONFIG):
    """``tools/train_net.py --config-file config *argv`` in this process (one process)."""
    args = train_net.get_parser().parse_args(["--config-file", config, *argv])
    return train_net.main(args)


def read_metrics(output_dir):
    lines = (Path(output_dir) / "metrics.json").read_text().splitlines()
    return [json.loads(line) for line in lines]


def assert_two_step_run(output_dir):
    """A ``train.max_iter=2, train.eval_period=2`` run: final weights, two finite losses, mIoU."""
    assert (Path(output_dir) / "model_final.pth").is_file()
    metrics = read_metrics(output_dir)
    losses = [m for m in metrics if "total_loss" in m]
    assert [m["iteration"] for m in losses] == [0, 1]
    assert all(0 < m["total_loss"] < 1e4 for m in losses)
    evaluated = [m for m in metrics if "sem_seg/mIoU" in m]
    assert evaluated and 0.0 <= evaluated[-1]["sem_seg/mIoU"] <= 100.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
