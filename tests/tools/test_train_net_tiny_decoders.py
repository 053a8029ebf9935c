"""The tiny Shrunk SegViT, SETR-naive and RSSeg-R configs (rows of benchmarks/compare/) train and
evaluate through tools/train_net.py on the synthetic data, on the demo's tiny ViT."""

import pytest
from train_net_helpers import PREFIX, REPO, TINY_DATA, assert_two_step_run, run

# Two ViT blocks instead of four keep the test fast; the decoders stay as configured.
SHRINK_DEPTH = {
    "segvit_shrunk_tiny": [
        "model.backbone.depth=2",
        "model.backbone.shrink_idx=1",
        "model.backbone.out_indices=[0,1]",
        "model.head.in_features=[block0,block1]",
    ],
    "rsseg_r_tiny": [
        "model.backbone.depth=2",
        "model.backbone.out_indices=[0,1]",
        "model.head.local_features=[block0]",
        "model.head.global_feature=block1",
    ],
    "setr_tiny": [
        "model.backbone.depth=2",
        "model.backbone.out_indices=[1]",
        "model.head.in_feature=block1",
    ],
}


@pytest.mark.parametrize("name", sorted(SHRINK_DEPTH))
def test_tiny_decoder_trains_and_evaluates_with_train_net(name, tiny_dataset, tmp_path):
    out = tmp_path / name
    run(
        [
            *TINY_DATA,
            *SHRINK_DEPTH[name],
            f"dataloader.train.dataset.names={PREFIX}_train",
            f"dataloader.test.dataset.names={PREFIX}_val",
            f"train.output_dir={out}",
            "train.max_iter=2",
            "train.eval_period=2",
        ],
        config=str(REPO / f"configs/synthetic/{name}.py"),
    )
    assert_two_step_run(out)
