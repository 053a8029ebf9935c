"""MaskFormer and Mask2Former train and evaluate through the same tools/train_net.py, data and
evaluator as SegViT (the tiny synthetic configs that benchmarks/compare/ uses)."""

import pytest
from train_net_helpers import PREFIX, REPO, TINY_DATA, assert_two_step_run, run

import segvit.baselines  # noqa: F401  (maskformer2 through our import fallback)


@pytest.mark.parametrize("name", ["maskformer_tiny", "mask2former_tiny"])
def test_baseline_trains_and_evaluates_with_train_net(name, tiny_dataset, tmp_path):
    out = tmp_path / name
    run(
        [
            *TINY_DATA,
            f"dataloader.train.dataset.names={PREFIX}_train",
            f"dataloader.test.dataset.names={PREFIX}_val",
            "model.backbone.net.depth=2",
            "model.backbone.net.out_indices=[1]",
            "model.backbone.in_feature=block1",
            f"train.output_dir={out}",
            "train.max_iter=2",
            "train.eval_period=2",
        ],
        config=str(REPO / f"configs/synthetic/{name}.py"),
    )
    assert_two_step_run(out)
