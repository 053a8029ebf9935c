"""Plain ViT backbone: output names/shapes/strides, pos-embed resizing, gradients, registry."""

import pytest
import torch
import torch.nn.functional as F
from detectron2.config import get_cfg
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY
from modeling_helpers import tiny_vit

from segvit.config import add_segvit_config
from segvit.modeling.backbone.utils import map_to_tokens, resize_pos_embed, tokens_to_map
from segvit.modeling.backbone.vit import ViT


@pytest.mark.parametrize("hw", [(64, 64), (64, 96), (80, 112)])
def test_output_names_shapes_and_strides(hw):
    model = tiny_vit().eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, *hw))
    assert list(out) == ["block1", "block2", "block3"]
    for feat in out.values():
        assert feat.shape == (2, 64, hw[0] // 16, hw[1] // 16)
        assert torch.isfinite(feat).all()
    assert model.output_shape() == {
        name: ShapeSpec(channels=64, stride=16) for name in ("block1", "block2", "block3")
    }
    assert model.size_divisibility == 16


def test_out_indices_order_is_kept():
    model = tiny_vit(out_indices=(3, 0)).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 32, 48))
    assert list(out) == ["block3", "block0"] == model._out_features


def test_size_not_multiple_of_patch_raises():
    with pytest.raises(ValueError, match=r"64x72.*patch size 16"):
        tiny_vit()(torch.randn(1, 3, 64, 72))


def test_bad_out_indices_raise():
    with pytest.raises(ValueError, match="out_indices"):
        tiny_vit(out_indices=(4,))


def test_pos_embed_resize_identity_and_non_square():
    pos = torch.randn(1, 4 * 4, 8)
    assert resize_pos_embed(pos, (4, 4), (4, 4)) is pos
    resized = resize_pos_embed(pos, (4, 4), (5, 7))
    assert resized.shape == (1, 35, 8)
    grid = pos.reshape(1, 4, 4, 8).permute(0, 3, 1, 2)
    ref = F.interpolate(grid, size=(5, 7), mode="bicubic", align_corners=False)
    torch.testing.assert_close(resized, ref.flatten(2).transpose(1, 2))
    # a constant embedding stays constant (cubic weights sum to one, borders are clamped)
    const = torch.full((1, 16, 8), 0.5)
    torch.testing.assert_close(resize_pos_embed(const, (4, 4), (3, 6)), torch.full((1, 18, 8), 0.5))


def test_forward_uses_resized_pos_embed():
    """With pos_embed and blocks bypassed, block outputs carry the resized pos-embed row-major."""
    model = tiny_vit(out_indices=(0,)).eval()
    x = torch.randn(1, 3, 48, 80)
    tokens, hw = map_to_tokens(model.patch_embed(x))
    assert hw == (3, 5)
    expected = tokens + resize_pos_embed(model.pos_embed, (4, 4), (3, 5))
    with torch.no_grad():
        out = model(x)["block0"]
        ref = tokens_to_map(model.blocks[0](expected), hw)
    torch.testing.assert_close(out, ref)


def test_tokens_map_round_trip_non_square():
    x = torch.randn(2, 6 * 7, 5)
    feat = tokens_to_map(x, (6, 7))
    assert feat.shape == (2, 5, 6, 7)
    back, hw = map_to_tokens(feat)
    assert hw == (6, 7)
    torch.testing.assert_close(back, x)
    with pytest.raises(ValueError):
        tokens_to_map(x, (7, 7))


def test_every_parameter_gets_a_gradient():
    model = tiny_vit(drop_path_rate=0.1, out_indices=(1, 3)).train()
    out = model(torch.randn(2, 3, 64, 96))
    sum(v.sum() for v in out.values()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name


def test_drop_path_rule_is_linear():
    model = tiny_vit(drop_path_rate=0.3)
    rates = [getattr(b.drop_path2, "drop_prob", 0.0) for b in model.blocks]  # the MLP branch
    assert rates == pytest.approx([0.0, 0.1, 0.2, 0.3])


def test_timm_parameter_names():
    keys = set(tiny_vit().state_dict())
    for key in (
        "patch_embed.proj.weight",
        "pos_embed",
        "blocks.3.attn.qkv.weight",
        "blocks.0.norm1.bias",
    ):
        assert key in keys
    assert not any(k.startswith(("cls_token", "norm.", "head")) for k in keys)
    assert tiny_vit().pos_embed.shape == (1, 16, 64)


def test_build_from_yacs_registry():
    cfg = add_segvit_config(get_cfg())
    vit = cfg.MODEL.SEGVIT.VIT
    vit.PRETRAIN_IMG_SIZE, vit.EMBED_DIM, vit.DEPTH, vit.NUM_HEADS = 64, 64, 4, 4
    vit.OUT_INDICES = [1, 3]
    model = BACKBONE_REGISTRY.get("SegViTViT")(cfg, ShapeSpec(channels=3))
    assert isinstance(model, ViT)
    assert model.pretrain_grid == (4, 4)
    assert list(model.output_shape()) == ["block1", "block3"]
