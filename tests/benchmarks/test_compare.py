"""benchmarks/compare.py: the table it writes, and that it never overwrites a training run."""

import argparse

import pytest
from repo_scripts import load_script

compare = load_script("benchmarks", "compare")

FULL = {
    "SegViT": {"params_m": 41.1, "gflops": 48.93, "latency_s": 1.5},
    "MaskFormer": {"params_m": 41.8, "gflops": 57.26, "latency_s": 1.7},
    "Mask2Former": {"params_m": 47.4, "gflops": 74.05, "latency_s": 2.4},
}
TINY = {
    name: {"miou": 50.0 + i, "s_per_iter": 0.25, "wall_s": 540.0, "tiny_params_m": 0.9,
           "tiny_gflops": 0.4}
    for i, name in enumerate(FULL)
}  # fmt: skip


def test_table_has_every_method_and_the_command():
    args = argparse.Namespace(cli=" --iters 2000", iters=2000, size=512)
    text = compare.render(FULL, TINY, args, elapsed=600.0)
    assert "`.venv/bin/python benchmarks/compare.py --iters 2000`" in text.splitlines()[2]
    assert "| SegViT | Swin-T | 41.1 | 48.93 | 48.0 | +1.9% | 1.50 |" in text
    assert "| Mask2Former | Swin-T | 47.4 | 74.05 | 73.7 | +0.5% | 2.40 |" in text
    assert "| 52.00 | 0.250 | 9.0 |" in text  # Mask2Former's tiny row: mIoU, s/iter, minutes
    assert "2000 iterations" in text


def test_configs_exist():
    for method in compare.METHODS:
        for config in (method.full_config, method.tiny_config):
            assert compare.os.path.isfile(compare.os.path.join(compare.ROOT, config)), config


def test_an_existing_run_is_not_overwritten(tmp_path):
    run = tmp_path / "segvit"
    run.mkdir()
    (run / "metrics.json").write_text("{}\n")
    with pytest.raises(FileExistsError, match="never overwrites"):
        compare.train_tiny(compare.METHODS[0], iters=1, workdir=str(tmp_path))
    assert (run / "metrics.json").read_text() == "{}\n"
