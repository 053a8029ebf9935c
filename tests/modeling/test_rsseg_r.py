"""RSSeg-R (a reconstruction of RSSeg): any input size, inference graph without the training-only
modules, identity at initialisation, finite losses on degenerate crops, gradients everywhere,
parameter and MAC counts equal to the closed form, and every flag of the alternative readings."""

import pytest
import torch
from detectron2.config import LazyConfig, instantiate
from modeling_helpers import random_inputs
from repo_scripts import REPO

from segvit.analysis.flops import count_flops
from segvit.modeling.heads.rsseg_r_cost import rsseg_r_cost
from segvit.modeling.heads.rsseg_r_head import RSSegRHead
from segvit.modeling.heads.rsseg_r_sasm import SASM
from segvit.modeling.losses.rsseg_r_losses import RSSegRCriterion

TINY = str(REPO / "configs/synthetic/rsseg_r_tiny.py")
FLAGS = [
    {},
    {"stem": "conv"},
    {"pathway_scale": 1},
    {"sasm_mode": "spade"},
    {"sasm_mean": "local"},
    {"dca_norm": "classes"},
    {"dca_at_inference": False},
    {"aux_fcn": True},
]
MATRIX_OPS = ("conv", "linear", "matmul", "einsum", "bmm")


def tiny_model(**head):
    cfg = LazyConfig.load(TINY)
    cfg.model.head.update(**head)
    cfg.model.backbone.update(embed_dim=32, num_heads=2)
    cfg.model.head.update(channels=16, dca_heads=2)
    return instantiate(cfg.model)


def head_only(d=24, c=16, k=5, **kwargs):
    return RSSegRHead(
        local_features=["a", "b", "c"],
        global_feature="g",
        in_channels=d,
        num_classes=k,
        channels=c,
        norm="BN",
        dca_heads=2,
        **kwargs,
    )


def features(d=24, h=5, w=7, b=2):
    return {name: torch.randn(b, d, h, w) for name in ("a", "b", "c", "g")}


@pytest.mark.parametrize("flags", FLAGS, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()))
def test_flags_train_and_predict_any_size(flags):
    model = tiny_model(**flags).train()
    losses = model(random_inputs([(71, 101), (65, 90)], num_classes=8))  # odd, padded
    assert all(torch.isfinite(v) for v in losses.values())
    assert {"loss_sem_seg", "loss_assign", "loss_region"} <= set(losses)
    if flags.get("aux_fcn"):
        assert "loss_aux_fcn" in losses
    if flags.get("dca_at_inference") is False:
        assert "loss_aux_dca" in losses
    sum(losses.values()).backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad, no_grad
    model.eval()
    with torch.no_grad():
        (out,) = model(random_inputs([(67, 99)], num_classes=8, with_target=False))
    assert out["sem_seg"].shape == (8, 67, 99)
    assert torch.isfinite(out["sem_seg"]).all()


@pytest.mark.parametrize("flags", FLAGS, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()))
def test_inference_graph_runs_no_training_only_module(flags):
    model = tiny_model(**flags).eval()
    called = []
    for name in model.head.training_only_modules():
        module = getattr(model.head, name)
        module.register_forward_hook(lambda *_, n=name: called.append(n))
    with torch.no_grad():
        logits = model.forward_logits(torch.randn(1, 3, 40, 56))
    assert logits.shape == (1, 8, 40, 56) and not called
    assert "region_classifier" in model.head.training_only_modules()
    if flags.get("dca_at_inference") is False:
        assert "dca" in model.head.training_only_modules()


def test_identity_at_initialisation():
    """Zero-initialised gates: SASM returns its fused input, an LSB is BasicBlock(h + g)."""
    torch.manual_seed(0)
    head = head_only().eval()
    feats = features()
    out = head.forward_features(feats)
    torch.testing.assert_close(out["separated"], out["fused"])
    block = head.local_path.blocks[0]
    size = (10, 14)
    z = torch.nn.functional.interpolate(
        block.proj(feats["a"]), size=size, mode="bilinear", align_corners=False
    )
    expected = torch.relu(block.conv2(torch.relu(block.conv1(z))) + z)
    torch.testing.assert_close(block(None, feats["a"], size), expected)
    for mode in ("highpass", "spade"):
        sasm = SASM(24, 16, "BN", mode=mode).eval()
        res = sasm(feats["g"], torch.randn(2, 16, 10, 14), size)
        torch.testing.assert_close(res["separated"], res["fused"])
    # once trained away from 0, SASM separates: the output differs from its input
    with torch.no_grad():
        head.sasm.scale.fill_(1.0)
    out = head.forward_features(feats)
    assert (out["separated"] - out["fused"]).abs().max() > 1e-3


@pytest.mark.parametrize("case", ["all_ignore", "one_class"])
def test_losses_finite_on_degenerate_crops(case):
    torch.manual_seed(0)
    head = head_only().train()
    criterion = RSSegRCriterion(num_classes=5, region_min_pixels=4)
    outputs = head.forward_train(features())
    targets = torch.full((2, 80, 112), 255 if case == "all_ignore" else 3, dtype=torch.long)
    losses = criterion(outputs, targets)
    assert all(torch.isfinite(v) for v in losses.values()), losses
    if case == "all_ignore":
        assert all(float(v) == 0.0 for v in losses.values())
    else:
        assert float(losses["loss_region"]) > 0
    sum(losses.values()).backward()  # graph kept even when every loss is zero


def test_region_loss_needs_enough_pixels():
    """A class with fewer labelled pathway cells than ``region_min_pixels`` is not classified."""
    criterion = RSSegRCriterion(num_classes=3, region_min_pixels=4)
    region_logits = [torch.zeros(1, 3, 3)]
    region_logits[0][0, 0, 0] = 10.0  # class 0 classified right, class 1 uniform (loss log 3)
    targets = torch.full((1, 8, 8), 255)
    targets[0, :4, :4] = 0  # 16 cells of class 0
    targets[0, 7, 7] = 1  # 1 cell of class 1: ignored
    loss = criterion.region_ce(region_logits, targets, (8, 8))
    assert float(loss) < 1e-3


@pytest.mark.parametrize("d,c,k", [(24, 16, 5), (32, 8, 3), (40, 24, 11)])
@pytest.mark.parametrize("flags", FLAGS, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()))
def test_params_and_macs_equal_closed_form(d, c, k, flags):
    head = head_only(d=d, c=c, k=k, feature_stride=16, **flags).eval()
    cost = rsseg_r_cost(
        in_channels=d,
        channels=c,
        num_classes=k,
        token_grid=(3, 5),
        feature_stride=16,
        **flags,
    )
    total = sum(p.numel() for p in head.parameters())
    training_only = sum(
        p.numel() for name in head.training_only_modules() for p in getattr(head, name).parameters()
    )
    assert total - training_only == cost.inference_params
    assert training_only == cost.training_only_params
    assert sum(p.numel() for p in head.local_path.parameters()) == cost.params["local_path"]
    assert sum(p.numel() for p in head.sasm.parameters()) == cost.params["sasm"]
    assert sum(p.numel() for p in head.dca.parameters()) == cost.params["dca"]

    class Wrapped(torch.nn.Module):  # the inference graph, image-stem input included
        def __init__(self):
            super().__init__()
            self.head = head

        def forward(self, a, b, c_, g, image):
            feats = {"a": a, "b": b, "c": c_, "g": g}
            return self.head(feats, image if head.needs_image else None)

    inputs = tuple(features(d=d, h=3, w=5, b=1).values()) + (torch.randn(1, 3, 48, 80),)
    report = count_flops(Wrapped(), inputs)
    matrix = sum(v for op, v in report.by_operator.items() if op in MATRIX_OPS)
    assert matrix == cost.inference_macs


def test_closed_form_at_vit_b_512_matches_the_design_arithmetic():
    cost = rsseg_r_cost(in_channels=768, channels=256, num_classes=150, token_grid=(32, 32))
    assert cost.inference_params == 6_479_105
    assert cost.params == {
        "local_path": 4_331_520,
        "sasm": 397_056,
        "dca": 1_750_529,
        "region_classifier": 38_550,
    }
    assert round(cost.inference_macs / 1e9, 1) == 19.3


def test_yacs_build_through_registries():
    from detectron2.config import get_cfg
    from detectron2.modeling import build_model

    from segvit.config import add_segvit_config
    from segvit.modeling.heads.rsseg_r_head import add_rsseg_r_config

    cfg = add_rsseg_r_config(add_segvit_config(get_cfg()))
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.META_ARCHITECTURE = "RSSegR"
    cfg.MODEL.BACKBONE.NAME = "SegViTViT"
    cfg.MODEL.SEM_SEG_HEAD.NAME = "RSSegRHead"
    cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = 4
    cfg.MODEL.SEM_SEG_HEAD.NORM = "BN"
    vit = cfg.MODEL.SEGVIT.VIT
    vit.EMBED_DIM, vit.DEPTH, vit.NUM_HEADS, vit.PRETRAIN_IMG_SIZE = 32, 4, 2, 64
    vit.OUT_INDICES = [0, 1, 2, 3]
    cfg.MODEL.RSSEG_R.LOCAL_FEATURES = ["block0", "block1", "block2"]
    cfg.MODEL.RSSEG_R.GLOBAL_FEATURE = "block3"
    cfg.MODEL.RSSEG_R.CHANNELS = 16
    cfg.MODEL.RSSEG_R.DCA_HEADS = 2
    model = build_model(cfg).train()
    assert isinstance(model.head, RSSegRHead)
    losses = model(random_inputs([(64, 48)], num_classes=4))
    assert set(losses) == {"loss_sem_seg", "loss_assign", "loss_region"}
    cfg.MODEL.RSSEG_R.GLOBAL_FEATURE = "block7"
    with pytest.raises(ValueError, match="RSSEG_R"):
        build_model(cfg)


def test_bad_flags_raise():
    with pytest.raises(ValueError, match="stem"):
        head_only(stem="image")
    with pytest.raises(ValueError, match="mode"):
        head_only(sasm_mode="film")
    with pytest.raises(ValueError, match="norm_over"):
        head_only(dca_norm="heads")
    with pytest.raises(ValueError, match="power of two"):
        head_only(stem="conv", feature_stride=12)
