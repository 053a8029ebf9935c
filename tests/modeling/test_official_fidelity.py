"""The three behaviours where the official SegViT (mmseg 0.24) differs from timm / a naive port,
each tested in both settings: stochastic-depth placement, ms_flip averaging, decoder init."""

import re
from pathlib import Path

import pytest
import torch
from baseline_helpers import target_of
from detectron2.config import LazyConfig, get_cfg
from detectron2.layers import ShapeSpec
from torch import nn

from segvit.config import add_segvit_config
from segvit.modeling.backbone.shrunk_vit import ShrunkViT
from segvit.modeling.backbone.vit import ViT, vit_kwargs_from_cfg
from segvit.modeling.heads.atm_head import ATMHead
from segvit.modeling.heads.qu_head import QUATMHead
from segvit.modeling.meta_arch.base import inference_config_from_cfg
from segvit.modeling.meta_arch.inference import InferenceConfig, run_inference

# ---------------------------------------------------------------- 1. stochastic depth placement


def vit_with_zero_mlp(cls=ViT, **kwargs) -> nn.Module:
    """A ViT whose MLP branches output exactly zero, with a large drop-path rate."""
    model = cls(
        pretrain_img_size=32,
        patch_size=8,
        embed_dim=32,
        depth=4,
        num_heads=2,
        drop_path_rate=0.9,
        out_indices=(1, 3),
        **kwargs,
    )
    for block in model.blocks:
        nn.init.zeros_(block.mlp.fc2.weight)
        nn.init.zeros_(block.mlp.fc2.bias)
    return model


def train_and_eval_outputs(model: nn.Module):
    x = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        train = model.train()(x)
        evaluated = model.eval()(x)
    return train, evaluated


@pytest.mark.parametrize("cls", [ViT, ShrunkViT])
def test_official_drop_path_leaves_the_attention_residual_alone(cls):
    extra = {"shrink_idx": 2} if cls is ShrunkViT else {}  # the QD block uses the same branches
    model = vit_with_zero_mlp(cls, drop_path_on_attn=False, **extra)
    assert all(isinstance(b.drop_path1, nn.Identity) for b in model.blocks)
    assert model.blocks[-1].drop_path2.drop_prob == pytest.approx(0.9)
    train, evaluated = train_and_eval_outputs(model)
    for name in evaluated:  # only the (zero) MLP branch is dropped: train == eval
        torch.testing.assert_close(train[name], evaluated[name], rtol=0, atol=0)


@pytest.mark.parametrize("cls", [ViT, ShrunkViT])
def test_timm_drop_path_also_drops_the_attention_residual(cls):
    extra = {"shrink_idx": 2} if cls is ShrunkViT else {}
    model = vit_with_zero_mlp(cls, drop_path_on_attn=True, **extra)
    assert model.blocks[-1].drop_path1.drop_prob == pytest.approx(0.9)
    train, evaluated = train_and_eval_outputs(model)
    assert not torch.allclose(train["block3"], evaluated["block3"])


def test_drop_path_placement_default_and_yacs_key():
    assert isinstance(ViT(depth=2, out_indices=(1,)).blocks[1].drop_path1, nn.Identity)
    cfg = add_segvit_config(get_cfg())
    assert cfg.MODEL.SEGVIT.VIT.DROP_PATH_ON_ATTN is False
    cfg.MODEL.SEGVIT.VIT.DROP_PATH_ON_ATTN = True
    assert vit_kwargs_from_cfg(cfg, ShapeSpec(channels=3))["drop_path_on_attn"] is True


# ---------------------------------------------------------------- 2. multi-scale + flip averaging

# Two passes (image, flipped image) of 3 classes, chosen so that the two averaging orders disagree:
# pass A: class 0 by a huge margin over class 2 (softmax ~ [0.73, 0, 0.27]),
# pass B: class 1 by a moderate margin (softmax ~ [0.007, 0.987, 0.007]).
# Mean of raw scores: [50, 2.5, 49.5] -> class 0. Mean of softmaxes: [0.37, 0.49, 0.14] -> class 1.
PASS_A = torch.tensor([100.0, 0.0, 99.0])
PASS_B = torch.tensor([0.0, 5.0, 0.0])


def two_pass_predict(images: torch.Tensor) -> torch.Tensor:
    """(1, 3, 1, 2) image -> (1, 3, 1, 2) scores: PASS_A for the image, PASS_B for its mirror
    (told apart by which of the two pixels is brighter)."""
    flipped = bool(images[0, 0, 0, 0] < images[0, 0, 0, 1])
    scores = PASS_B if flipped else PASS_A
    return scores.view(1, 3, 1, 1).expand(1, 3, *images.shape[-2:]).clone()


def two_pass_inference(ms_average: str) -> torch.Tensor:
    image = torch.tensor([1.0, 0.0]).view(1, 1, 2).expand(3, 1, 2)  # (3, 1, 2)
    cfg = InferenceConfig(mode="ms_flip", scales=(1.0,), flip=True, ms_slide=False)
    cfg = InferenceConfig(**{**cfg.__dict__, "ms_average": ms_average})
    return run_inference(image, two_pass_predict, cfg)  # (3, 1, 2)


def test_ms_flip_averages_probabilities_like_mmseg():
    out = two_pass_inference("probs")
    expected = (PASS_A.softmax(0) + PASS_B.softmax(0)) / 2
    torch.testing.assert_close(out[:, 0, 0], expected)
    assert out.argmax(0).eq(1).all()


def test_ms_flip_can_average_raw_scores():
    out = two_pass_inference("scores")
    torch.testing.assert_close(out[:, 0, 0], (PASS_A + PASS_B) / 2)
    assert out.argmax(0).eq(0).all()


def test_only_ms_flip_with_probs_averages_probabilities():
    """Where the result is a mean of probabilities, a per-pixel model adds no second softmax
    (``SegmentorBase.softmax_output``; model-level check: ``test_per_pixel_test_time.py``)."""
    assert InferenceConfig(mode="ms_flip").averages_probabilities
    assert not InferenceConfig(mode="ms_flip", ms_average="scores").averages_probabilities
    assert not InferenceConfig(mode="slide").averages_probabilities
    assert not InferenceConfig(mode="whole").averages_probabilities


def test_ms_average_default_validation_and_yacs_key():
    assert InferenceConfig().ms_average == "probs"
    with pytest.raises(ValueError, match="ms_average.*probs"):
        InferenceConfig(ms_average="logits")
    cfg = add_segvit_config(get_cfg())
    assert inference_config_from_cfg(cfg).ms_average == "probs"
    cfg.MODEL.SEGVIT.INFERENCE.MS_AVERAGE = "scores"
    assert inference_config_from_cfg(cfg).ms_average == "scores"


# ---------------------------------------------------------------- 3. decoder initialisation


def atm_head(**kwargs) -> ATMHead:
    torch.manual_seed(0)
    return ATMHead(
        in_features=["a", "b"],
        in_channels=32,
        num_classes=5,
        embed_dim=16,
        num_heads=2,
        layers_per_stage=3,
        **kwargs,
    )


def qu_head(**kwargs) -> QUATMHead:
    torch.manual_seed(0)
    return QUATMHead(
        in_features=["a", "b"],
        in_channels=32,
        num_classes=5,
        query_grid=(2, 2),
        embed_dim=16,
        num_heads=2,
        qu_layers=3,
        atm_layers=3,
        **kwargs,
    )


def decoder_stages(head: nn.Module):
    """Every stage / decoder of a head as a list of layers."""
    if isinstance(head, ATMHead):
        return list(head.decoders)
    return [*head.qu_decoders, head.atm.layers]


def in_proj_names(layer: nn.Module):
    return [n for n, _ in layer.named_parameters() if n.endswith("in_proj_weight")]


@pytest.mark.parametrize("build", [atm_head, qu_head])
def test_official_init_gives_a_stage_equal_in_proj_weights(build):
    head = build()  # default: official
    stages = decoder_stages(head)
    for layers in stages:
        first = dict(layers[0].named_parameters())
        names = in_proj_names(layers[0])
        assert names, "no in_proj weights found"
        for layer in layers[1:]:
            params = dict(layer.named_parameters())
            for name in names:
                assert torch.equal(params[name], first[name]), name
                assert params[name].data_ptr() != first[name].data_ptr()  # copies, not tied
            # nn.Linear weights are re-initialised per layer, officially too
            assert not torch.equal(params["linear1.weight"], first["linear1.weight"])
    name = in_proj_names(stages[0][0])[0]  # different stages start differently
    assert not torch.equal(
        dict(stages[0][0].named_parameters())[name], dict(stages[1][0].named_parameters())[name]
    )


@pytest.mark.parametrize("build", [atm_head, qu_head])
def test_independent_init_option(build):
    shared, independent = build(), build(shared_in_proj_init=False)
    for layers in decoder_stages(independent):
        first = dict(layers[0].named_parameters())
        for layer in layers[1:]:
            params = dict(layer.named_parameters())
            for name in in_proj_names(layer):
                assert not torch.equal(params[name], first[name]), name
    # The option draws no random numbers: everything but the copied in_proj weights is identical
    # (so the independent setting reproduces the previous init exactly).
    shared_params = dict(shared.named_parameters())
    for name, param in independent.named_parameters():
        layer_index = re.search(r"(?:decoders\.\d+|layers)\.(\d+)\.", name)
        copied = name.endswith("in_proj_weight") and layer_index.group(1) != "0"
        assert torch.equal(param, shared_params[name]) != copied, name


def test_init_yacs_keys():
    cfg = add_segvit_config(get_cfg())
    assert cfg.MODEL.SEGVIT.ATM.SHARED_IN_PROJ_INIT is True
    assert cfg.MODEL.SEGVIT.QU.SHARED_IN_PROJ_INIT is True
    cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = 5
    cfg.MODEL.SEGVIT.ATM.SHARED_IN_PROJ_INIT = False
    shapes = {f: ShapeSpec(channels=768, stride=16) for f in ("block5", "block7", "block11")}
    head = ATMHead(cfg, shapes)
    w = [layer.self_attn.in_proj_weight for layer in head.decoders[0]]
    assert not torch.equal(w[0], w[1])


# ---------------------------------------------------------------- the paper configs use all three

REPO = Path(__file__).resolve().parents[2]
PAPER_CONFIGS = sorted(
    str(p.relative_to(REPO))
    for folder in ("ade20k", "coco_stuff_10k", "pascal_context_59", "pascal_context_60")
    for p in (REPO / "configs" / folder).rglob("*.py")
    # MaskFormer / Mask2Former, Segmenter and DEPICT: their own official code and recipes
    if not any(other in p.name for other in ("former", "segmenter", "depict"))
)
OTHER_VIT_DECODER_CONFIGS = sorted(
    str(p.relative_to(REPO))
    for p in (REPO / "configs").rglob("*.py")
    if ("segmenter" in p.name or "depict" in p.name) and "common" not in p.parts
)


@pytest.mark.parametrize("path", PAPER_CONFIGS)
def test_paper_configs_use_the_official_behaviours(path):
    model = LazyConfig.load(str(REPO / path)).model
    backbone_cls = target_of(model.backbone)
    if backbone_cls is not None and issubclass(backbone_cls, ViT):
        assert model.backbone.get("drop_path_on_attn", False) is False  # default: official
    assert model.head.get("shared_in_proj_init", True) is True
    assert model.inference.get("ms_average", "probs") == "probs"


@pytest.mark.parametrize("path", OTHER_VIT_DECODER_CONFIGS)
def test_segmenter_and_depict_configs_drop_both_residuals(path):
    """Segmenter's ViT blocks (which DEPICT reuses) apply drop-path to both residual branches."""
    assert OTHER_VIT_DECODER_CONFIGS, "no Segmenter/DEPICT config found"
    assert LazyConfig.load(str(REPO / path)).model.backbone.drop_path_on_attn is True


def test_demo_config_keeps_its_tuned_init():
    model = LazyConfig.load(str(REPO / "configs/synthetic/segvit_tiny.py")).model
    assert model.head.shared_in_proj_init is False
    assert model.backbone.drop_path_rate == 0.0 and model.inference.mode == "whole"
