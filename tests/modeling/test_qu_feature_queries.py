"""QUATMHead's off-by-default ``feature_queries`` option (not in the paper): the QU queries start
as the table plus the first projected feature, so Shrunk's ATM input follows the image from the
first step. Off: the official head, unchanged."""

import pytest
import torch
from detectron2.config import LazyConfig
from repo_scripts import REPO

from segvit.modeling.heads.qu_head import QUATMHead
from segvit.modeling.heads.sdpa_decoder import decoder_layer_forward


def head(**kwargs) -> QUATMHead:
    torch.manual_seed(0)
    return QUATMHead(
        in_features=["block1", "block3"],
        in_channels=64,
        num_classes=5,
        query_grid=(4, 4),
        embed_dim=32,
        num_heads=4,
        qu_layers=2,
        atm_layers=2,
        **kwargs,
    ).eval()


def features(seed: int):
    g = torch.Generator().manual_seed(seed)
    return {
        "block1": torch.randn(2, 64, 4, 4, generator=g),  # the output grid
        "block3": torch.randn(2, 64, 2, 2, generator=g),
    }


def relative_difference(tokens: torch.Tensor) -> float:
    return float((tokens[0] - tokens[1]).norm() / tokens[0].norm())


def test_off_by_default_and_same_parameters_either_way():
    official, option = head(), head(feature_queries=True)
    assert official.feature_queries is False
    a, b = official.state_dict(), option.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # same checkpoints
    cfg = LazyConfig.load(str(REPO / "configs/synthetic/segvit_shrunk_tiny.py"))
    assert cfg.model.head.get("feature_queries", False) is False


@torch.no_grad()
def test_queries_start_from_table_plus_first_feature():
    model = head(feature_queries=True)
    feats = features(1)
    out, hw = model.upsample(feats)
    query = model.queries(hw).repeat(2, 1, 1)
    for index, name in enumerate(model.in_features):
        tokens = feats[name].flatten(2).transpose(1, 2)
        memory = model.proj_norm[index](model.input_proj[index](tokens))
        if index == 0:
            query = query + memory
        for layer in model.qu_decoders[index]:
            query = decoder_layer_forward(layer, query, memory)
    torch.testing.assert_close(out, query)
    official_out, _ = head().upsample(feats)
    assert not torch.allclose(out, official_out)


@torch.no_grad()
def test_option_makes_the_qu_output_follow_the_image_at_initialisation():
    feats = features(2)
    official = relative_difference(head().upsample(feats)[0])
    option = relative_difference(head(feature_queries=True).upsample(feats)[0])
    assert option > 3 * official


def test_query_init_std_scales_the_official_draw_and_is_off_by_default():
    """``query_init_std`` (not in the paper): the same N(0, 1) draw, scaled; 1 in every config."""
    official, small = head(), head(query_init_std=0.02)
    table = official.qu_queries.weight.detach()
    assert 0.8 < float(table.std()) < 1.2  # the official nn.Embedding N(0, 1)
    assert torch.allclose(small.qu_queries.weight, 0.02 * table)
    for config in ("configs/synthetic/segvit_shrunk_tiny.py",):
        cfg = LazyConfig.load(str(REPO / config))
        assert cfg.model.head.get("query_init_std", 1.0) == 1.0
    with pytest.raises(ValueError, match="query_init_std must be > 0"):
        head(query_init_std=0.0)
