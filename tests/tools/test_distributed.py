"""Two training processes through Detectron2's ``launch`` (gloo on the CPU), and the evaluator
gathering the predictions of both."""

import os
import subprocess
import sys

import pytest
from train_net_helpers import CONFIG, REPO, TINY_DATA, TINY_MODEL, free_port, read_metrics, run

from segvit.data.synthetic import generate_synthetic_dataset, register_synthetic


@pytest.fixture(scope="module")
def datasets_root(tmp_path_factory):
    """A ``$DETECTRON2_DATASETS`` whose ``synthetic/`` holds 8 training and 4 validation images."""
    root = tmp_path_factory.mktemp("datasets")
    generate_synthetic_dataset(str(root / "synthetic"), num_train=8, num_val=4, seed=1)
    return root


def test_two_processes_train_and_evaluate_on_cpu(datasets_root, tmp_path):
    out = tmp_path / "run"
    argv = [
        *TINY_MODEL,
        *TINY_DATA,  # total batch 2: one image per process
        f"train.output_dir={out}",
        "train.max_iter=2",
        "train.eval_period=2",
        "train.checkpointer.period=2",
    ]
    launch = ["--num-gpus", "2", "--dist-url", f"tcp://127.0.0.1:{free_port()}"]
    env = dict(os.environ, DETECTRON2_DATASETS=str(datasets_root), CUDA_VISIBLE_DEVICES="")
    env["OMP_NUM_THREADS"] = "1"  # two processes on a small CPU
    command = [sys.executable, str(REPO / "tools/train_net.py"), "--config-file", CONFIG]
    proc = subprocess.run(
        [*command, *launch, *argv], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "World size: 2" in proc.stdout + proc.stderr
    assert (out / "model_final.pth").is_file()
    metrics = read_metrics(out)
    assert [m["iteration"] for m in metrics if "total_loss" in m] == [0, 1]
    distributed_miou = [m["sem_seg/mIoU"] for m in metrics if "sem_seg/mIoU" in m][-1]

    # One process evaluating the same weights on the same 4 images gets the same mIoU, so the
    # evaluator gathered both halves of the validation set.
    register_synthetic(str(datasets_root / "synthetic"), name_prefix="dist_synthetic_sem_seg")
    results = run(
        [
            "--eval-only",
            *TINY_MODEL,
            *TINY_DATA,
            "dataloader.test.dataset.names=dist_synthetic_sem_seg_val",
            f"train.output_dir={tmp_path / 'eval'}",
            f"train.init_checkpoint={out / 'model_final.pth'}",
        ]
    )
    assert results["sem_seg[whole]"]["mIoU"] == pytest.approx(distributed_miou, abs=1e-6)
