"""The separation taps find every ViT block of every tiny decoder's model (the ViT directly in
``backbone``, inside ViTDet's pyramid for MaskFormer/Mask2Former, Shrunk SegViT's query
down-sampling block read through the next block's input) and each decoder's own feature (the one
its masks / logits are computed from), and map taps to block indices."""

import math

import pytest
import torch
from detectron2.config import LazyConfig, instantiate
from repo_scripts import REPO

from segvit.analysis.separation_report import separation_report
from segvit.analysis.separation_taps import (
    FeatureTaps,
    block_index,
    decoder_feature_tap,
    default_taps,
    vit_block_taps,
)

DECODER_FEATURES = {  # tiny config -> its decoder feature (separation_taps' table)
    "segvit": "head.proj_norm.2",  # the last of the 3 ATM stages
    "segvit_shrunk": "head.atm.proj_norm",
    "setr": "head.classifier:input",
    "segmenter": "head.decoder_norm:patches",
    "depict_sa": "head.decoder_norm:patches",
    "depict_ca": "head.patch_norm",
    "rsseg_r": "head.sasm/separated",
    "maskformer": "sem_seg_head.pixel_decoder.mask_features",
    "mask2former": "sem_seg_head.pixel_decoder.mask_features",
}
TINY = tuple(DECODER_FEATURES)
DEPTH = 4  # the tiny ViT of every tiny config


def tiny_config(key, *overrides):
    cfg = LazyConfig.load(str(REPO / f"configs/synthetic/{key}_tiny.py"))
    return LazyConfig.apply_overrides(cfg, ["train.device=cpu", *overrides])


@pytest.mark.parametrize("key", TINY)
def test_default_taps_measure_every_vit_block_and_the_decoder_feature(key):
    report = separation_report(
        tiny_config(key), max_images=1, resamples=5, min_cells=2, allow_random_init=True
    )
    assert report["images"] == 1
    blocks = sorted(i for i in map(block_index, report["features"]) if i is not None)
    assert blocks == list(range(DEPTH)), list(report["features"])
    for stats in report["features"].values():  # every block gave a feature map with statistics
        assert stats["raw"]["os"]["n"] == 1
    decoder = report["decoder_feature"]
    assert decoder == DECODER_FEATURES[key] and list(report["features"])[-1] == decoder
    stats = report["features"][decoder]
    means = [stats[v][m]["mean"] for v in ("raw", "centred") for m in ("os", "intra", "gap")]
    values = [stats["dataset_fisher"], stats["raw"]["fisher"]["mean"], *means]
    assert all(math.isfinite(v) for v in values), stats


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


def test_decoder_feature_taps_read_what_the_head_multiplies():
    """Segmenter's ``:patches`` tap keeps the N patch tokens of ``decoder_norm``'s (B, N + K, C)
    output, the class tokens dropped; RSSeg-R's ``/separated`` keeps that key of SASM's dict; an
    unknown head has no decoder feature; RSSeg-R's is not tapped twice."""
    model = instantiate(tiny_config("segmenter").model).eval()
    hooks = FeatureTaps(model, ["head.decoder_norm", "head.decoder_norm:patches"])
    with torch.no_grad():
        model.head({"block3": torch.randn(1, 96, 5, 3)})
    hooks.remove()
    full, patches = hooks.features["head.decoder_norm"], hooks.features["head.decoder_norm:patches"]
    assert full.shape == (1, 15 + 8, 96)  # 5x3 patches, then the 8 synthetic classes
    torch.testing.assert_close(patches, full[:, :15])

    rsseg = instantiate(tiny_config("rsseg_r").model).eval()
    hooks = FeatureTaps(rsseg, ["head.sasm/separated"])
    with torch.no_grad():
        out = rsseg.head.forward_features({f"block{i}": torch.randn(1, 96, 4, 4) for i in range(4)})
    hooks.remove()
    torch.testing.assert_close(hooks.features["head.sasm/separated"], out["separated"])
    assert default_taps(rsseg).count("head.sasm") == 1
    assert "head.sasm/separated" not in default_taps(rsseg)
    assert decoder_feature_tap(torch.nn.Sequential()) is None
    with pytest.raises(ValueError, match="suffix must be ':input', ':patches'"):
        FeatureTaps(model, ["head.decoder_norm:tokens"])
    with pytest.raises(ValueError, match="no module enclosing 'backbone.blocks.0'.*num_classes"):
        FeatureTaps(model, ["backbone.blocks.0:patches"])
