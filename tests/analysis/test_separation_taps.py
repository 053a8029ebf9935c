"""The separation taps find every ViT block of every tiny decoder's model (the ViT directly in
``backbone``, inside ViTDet's pyramid for MaskFormer/Mask2Former, Shrunk SegViT's query
down-sampling block read through the next block's input), and map taps to block indices."""

import pytest
import torch
from detectron2.config import LazyConfig, instantiate
from repo_scripts import REPO

from segvit.analysis.separation_report import separation_report
from segvit.analysis.separation_taps import FeatureTaps, block_index, vit_block_taps

TINY = ("segvit", "segvit_shrunk", "setr", "segmenter", "depict_sa", "depict_ca", "rsseg_r",
        "maskformer", "mask2former")  # fmt: skip
DEPTH = 4  # the tiny ViT of every tiny config


def tiny_config(key, *overrides):
    cfg = LazyConfig.load(str(REPO / f"configs/synthetic/{key}_tiny.py"))
    return LazyConfig.apply_overrides(cfg, ["train.device=cpu", *overrides])


@pytest.mark.parametrize("key", TINY)
def test_default_taps_measure_every_vit_block(key):
    report = separation_report(
        tiny_config(key), max_images=1, resamples=5, min_cells=2, allow_random_init=True
    )
    assert report["images"] == 1
    blocks = sorted(i for i in map(block_index, report["features"]) if i is not None)
    assert blocks == list(range(DEPTH)), list(report["features"])
    for stats in report["features"].values():  # every block gave a feature map with statistics
        assert stats["raw"]["os"]["n"] == 1


def test_block_index_of_taps():
    assert block_index("backbone.blocks.3") == 3
    assert block_index("backbone.net.blocks.11") == 11
    assert block_index("backbone.blocks.3:input") == 2  # the previous block's output
    assert block_index("backbone.blocks.0:input") is None  # the embedded patches
    for other in ("head.local_path.blocks.0", "head.sasm/fused", "head.blocks.1", "backbone"):
        assert block_index(other) is None


def test_wrapped_vit_taps_keep_the_module_path():
    model = instantiate(tiny_config("maskformer").model)
    assert vit_block_taps(model) == [f"backbone.net.blocks.{i}" for i in range(DEPTH)]


def test_shrunk_query_downsampling_block_is_read_exactly():
    """The QD block (``shrink_idx=2``) calls no block module: the tap on the next block's input
    records exactly the output the backbone returns for that block."""
    model = instantiate(tiny_config("segvit_shrunk", "model.backbone.out_indices=[1,2,3]").model)
    backbone = model.backbone.eval()
    taps = vit_block_taps(model)
    assert taps == ["backbone.blocks.0", "backbone.blocks.1", "backbone.blocks.3:input",
                    "backbone.blocks.3"]  # fmt: skip
    hooks = FeatureTaps(model, taps)
    with torch.no_grad():
        out = backbone(torch.randn(1, 3, 64, 48))
    hooks.remove()
    tokens = hooks.features["backbone.blocks.3:input"]  # (1, 4*3, C): the 1/16 grid of 64x48
    expected = out["block2"].flatten(2).transpose(1, 2)  # (1, C, 4, 3) -> (1, 12, C)
    torch.testing.assert_close(tokens, expected)
