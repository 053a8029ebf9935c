"""Shrunk ViT (query-based down-sampling): weights, grids, equivalences, options, registry."""

import math

import pytest
import torch
from detectron2.config import get_cfg
from detectron2.layers import ShapeSpec
from detectron2.modeling import BACKBONE_REGISTRY
from modeling_helpers import tiny_vit

from segvit.config import add_segvit_config
from segvit.modeling.backbone.shrunk_vit import ShrunkViT, downsample_tokens, query_downsample_block
from segvit.modeling.backbone.vit import ViT

TAPS = (1, 3)  # the outputs both tiny backbones give


def tiny_plain() -> ViT:
    return tiny_vit(out_indices=TAPS)


def tiny_shrunk(**kwargs) -> ShrunkViT:
    return tiny_vit(cls=ShrunkViT, **{"out_indices": TAPS, "shrink_idx": 2, **kwargs})


def test_state_dict_loads_both_ways_strict():
    shrunk, plain = tiny_shrunk(), tiny_plain()
    shrunk_sd, plain_sd = shrunk.state_dict(), plain.state_dict()
    assert list(shrunk_sd) == list(plain_sd)
    assert all(shrunk_sd[k].shape == plain_sd[k].shape for k in plain_sd)
    plain.load_state_dict(shrunk_sd, strict=True)
    shrunk.load_state_dict(plain_sd, strict=True)


@pytest.mark.parametrize(
    "image_hw, grid",
    [((64, 64), (4, 4)), ((64, 96), (4, 6)), ((80, 112), (5, 7)), ((48, 16), (3, 1))],
)
def test_token_grid_after_qd_is_ceil_half(image_hw, grid):
    model = tiny_shrunk().eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, *image_hw))
    half = (math.ceil(grid[0] / 2), math.ceil(grid[1] / 2))
    assert out["block1"].shape == (2, 64, *grid)  # before QD: 1/16
    assert out["block3"].shape == (2, 64, *half)  # after QD: ceil(h/2) x ceil(w/2)
    assert torch.isfinite(out["block3"]).all()


def test_downsample_tokens_picks_top_left_of_each_window():
    x = torch.arange(5 * 7, dtype=torch.float32).reshape(1, 35, 1)  # token id = row * 7 + col
    down, hw = downsample_tokens(x, (5, 7))
    assert hw == (3, 4)
    expected = [r * 7 + c for r in (0, 2, 4) for c in (0, 2, 4, 6)]
    assert down.flatten().tolist() == expected


def test_output_shape_strides_and_divisibility():
    model = tiny_shrunk(out_indices=(1, 2, 3))
    assert model.output_shape() == {
        "block1": ShapeSpec(channels=64, stride=16),
        "block2": ShapeSpec(channels=64, stride=32),  # QD happens inside block 2
        "block3": ShapeSpec(channels=64, stride=32),
    }
    assert model.size_divisibility == 16


@pytest.mark.parametrize("shrink_idx", [4, 10])
def test_shrink_idx_past_last_block_is_the_plain_vit(shrink_idx):
    shrunk = tiny_shrunk(shrink_idx=shrink_idx).eval()
    plain = tiny_plain().eval()
    plain.load_state_dict(shrunk.state_dict())
    x = torch.randn(1, 3, 80, 112)
    with torch.no_grad():
        a, b = shrunk(x), plain(x)
    assert all(torch.equal(a[k], b[k]) for k in b)
    assert shrunk.output_shape() == plain.output_shape()


@pytest.mark.parametrize("hw", [(4, 6), (5, 7)])
def test_q_mode_equals_plain_block_then_downsample(hw):
    """Attention output and MLP are per query token, so QD-on-queries is the plain block's output
    at the kept positions (computed at a quarter of the query cost)."""
    block = tiny_shrunk().blocks[2].eval()
    x = torch.randn(2, hw[0] * hw[1], 64)
    with torch.no_grad():
        qd, qd_hw = query_downsample_block(block, x, hw, mode="q")
        ref, ref_hw = downsample_tokens(block(x), hw)
    assert qd_hw == ref_hw
    torch.testing.assert_close(qd, ref, rtol=1e-5, atol=1e-5)


def test_qkv_mode_runs_and_differs_from_q_mode():
    q_model = tiny_shrunk(qd_mode="q").eval()
    qkv_model = tiny_shrunk(qd_mode="qkv").eval()
    qkv_model.load_state_dict(q_model.state_dict())
    x = torch.randn(1, 3, 80, 112)
    with torch.no_grad():
        a, b = q_model(x)["block3"], qkv_model(x)["block3"]
    assert a.shape == b.shape == (1, 64, 3, 4)
    assert torch.isfinite(b).all()
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("qd_mode", ["q", "qkv"])
def test_every_parameter_gets_a_gradient(qd_mode):
    model = tiny_shrunk(qd_mode=qd_mode, drop_path_rate=0.1).train()
    out = model(torch.randn(2, 3, 64, 96))
    sum(f.square().mean() for f in out.values()).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"parameters without gradient: {missing}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="qd_mode"):
        tiny_shrunk(qd_mode="conv")
    with pytest.raises(ValueError, match="shrink_idx"):
        tiny_shrunk(shrink_idx=-1)


def test_registry_builds_from_yacs():
    cfg = add_segvit_config(get_cfg())
    vit = cfg.MODEL.SEGVIT.VIT
    vit.SHRINK_IDX = 2  # keys may not be in segvit/config.py yet: set them here
    vit.QD_MODE = "q"
    vit.PRETRAIN_IMG_SIZE, vit.EMBED_DIM, vit.DEPTH, vit.NUM_HEADS = 64, 64, 4, 4
    vit.OUT_INDICES = [1, 3]
    cfg.MODEL.BACKBONE.NAME = "SegViTShrunkViT"
    model = BACKBONE_REGISTRY.get("SegViTShrunkViT")(cfg, ShapeSpec(channels=3))
    assert isinstance(model, ShrunkViT) and model.shrink_idx == 2
    assert model.output_shape()["block3"].stride == 32
