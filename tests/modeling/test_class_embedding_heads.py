"""Segmenter's mask transformer and DEPICT-SA/-CA: exact parameter counts, DEPICT's tied-projection
attention against its formula, and each tiny config end to end (build, train step with a gradient
for every parameter, whole and slide inference on a non-square odd-sized image, LazyConfig.save)."""

import dataclasses
from pathlib import Path

import pytest
import torch
from detectron2.config import LazyConfig, instantiate
from detectron2.modeling import build_model
from modeling_helpers import random_inputs
from yacs_helpers import tiny_setr_yacs_cfg

from segvit.modeling.heads.depict_attention import TiedProjectionAttention
from segvit.modeling.heads.depict_head import DEPICTHead
from segvit.modeling.heads.segmenter_head import SegmenterMaskHead
from segvit.modeling.meta_arch.inference import InferenceConfig
from segvit.modeling.meta_arch.setr import PerPixelSegmentor

REPO = Path(__file__).resolve().parents[2]
TINY_CONFIGS = {
    "configs/synthetic/segmenter_tiny.py": SegmenterMaskHead,
    "configs/synthetic/depict_sa_tiny.py": DEPICTHead,
    "configs/synthetic/depict_ca_tiny.py": DEPICTHead,
}


def num_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    "mode, expected",
    # QishuaiWen/DEPICT config.yml + model/decoder.py, counted: ViT-B (D 768), 150 classes,
    # 3 layers x 3 heads x 100 (+ 3 x 3 x 50)
    [("sa", 812_847), ("ca", 1_164_594)],
)
def test_depict_parameter_count_matches_the_released_vit_b_decoder(mode, expected):
    head = DEPICTHead(in_feature="block11", in_channels=768, num_classes=150, mode=mode)
    assert num_params(head) == expected


def test_segmenter_parameter_count_matches_the_official_vit_b_decoder():
    # proj_dec 768^2 + 768, 2 blocks of 12 * 768^2 + 13 * 768, cls_emb 150 * 768, proj_patch and
    # proj_classes 768^2 each, decoder_norm 2 * 768, mask_norm 2 * 150 (16.06 M;
    # rstrudel/segmenter segm/model/decoder.py:MaskTransformer, ViT-B defaults)
    head = SegmenterMaskHead(in_feature="block11", in_channels=768, num_classes=150)
    d, k = 768, 150
    expected = d * d + d + 2 * (12 * d * d + 13 * d) + k * d + 2 * d * d + 2 * d + 2 * k
    assert num_params(head) == expected == 16_063_020


def test_depict_head_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match="'xa'.*model.head.mode"):
        DEPICTHead(in_feature="x", in_channels=8, num_classes=3, mode="xa")


def reference_tied_attention(layer, x, query=None):
    """DEPICT's update per head: W_k = LN(x) P_k^T, softmax(U_k W_k^T / sqrt(p)) W_k P_k."""
    z = layer.norm(x)
    target = x if query is None else query
    update = torch.zeros_like(target)
    p = layer.head_dim
    for k in range(layer.num_heads):
        proj_k = layer.proj[k * p : (k + 1) * p]  # (p, D)
        w = z @ proj_k.t()
        u = w if query is None else query @ proj_k.t()
        attn = torch.softmax(u @ w.transpose(1, 2) / p**0.5, dim=-1)
        update = update + attn @ w @ proj_k
    return target + layer.step_size * update


@pytest.mark.parametrize("cross", [False, True])
def test_tied_projection_attention_matches_its_formula(cross):
    layer = TiedProjectionAttention(dim=12, num_heads=3, head_dim=5).eval()
    assert {n for n, _ in layer.named_parameters()} == {
        "norm.weight",
        "norm.bias",
        "proj",
        "step_size",
    }
    x, query = torch.randn(2, 9, 12), torch.randn(2, 4, 12)
    out = layer(x, query=query if cross else None)
    expected = reference_tied_attention(layer, x, query if cross else None)
    assert out.shape == expected.shape == ((2, 4, 12) if cross else (2, 9, 12))
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("head_cls", [SegmenterMaskHead, DEPICTHead])
def test_masks_are_layer_normed_cosine_similarities(head_cls):
    head = head_cls(in_feature="x", in_channels=16, num_classes=6, num_heads=2).eval()
    with torch.no_grad():
        out = head({"x": torch.randn(2, 16, 3, 5)})
    assert out.shape == (2, 6, 3, 5)
    # mask_norm at init (weight 1, bias 0): every pixel's class scores have mean 0 and variance
    # v / (v + eps) <= 1 (the cosines' own variance v is small, so eps = 1e-5 shows)
    torch.testing.assert_close(out.mean(1), torch.zeros(2, 3, 5), atol=1e-5, rtol=0)
    assert (out.var(1, unbiased=False) <= 1 + 1e-5).all() and out.abs().max() > 0.5


@pytest.mark.parametrize("path", sorted(TINY_CONFIGS))
def test_tiny_config_builds_trains_infers_and_round_trips(path, tmp_path):
    cfg = LazyConfig.load(str(REPO / path))
    saved = tmp_path / "config.yaml"
    LazyConfig.save(cfg, str(saved))
    cfg = LazyConfig.load(str(saved))
    model = instantiate(cfg.model)
    assert isinstance(model, PerPixelSegmentor) and isinstance(model.head, TINY_CONFIGS[path])
    if "depict" in path:
        assert model.head.mode == ("ca" if "_ca_" in path else "sa")
    num_classes = cfg.model.head.num_classes

    model.train()
    losses = model(random_inputs([(128, 128), (128, 128)], num_classes))
    assert set(losses) == {"loss_sem_seg"} and torch.isfinite(losses["loss_sem_seg"])
    losses["loss_sem_seg"].backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing, f"{path}: parameters without gradient: {missing}"

    model.eval()
    inputs = random_inputs([(75, 131)], num_classes, with_target=False)  # odd, non-square
    results = {}
    for mode in ("whole", "slide"):
        model.inference = InferenceConfig(mode=mode, crop_size=(64, 64), stride=(48, 48))
        with torch.no_grad():
            (result,) = model(inputs)
        scores = result["sem_seg"]
        assert scores.shape == (num_classes, 75, 131)
        torch.testing.assert_close(scores.sum(0), torch.ones(75, 131), rtol=1e-4, atol=1e-4)
        results[mode] = scores
    assert not torch.allclose(results["whole"], results["slide"])  # slide really ran windows
    model.inference = dataclasses.replace(model.inference, mode="ms_flip", scales=(0.75, 1.0))
    with torch.no_grad():
        assert model(inputs)[0]["sem_seg"].shape == (num_classes, 75, 131)


@pytest.mark.parametrize("name", ["SegmenterMaskHead", "DEPICTHead"])
def test_build_model_from_yacs(name):
    cfg = tiny_setr_yacs_cfg(name, 5)
    model = build_model(cfg).eval()
    assert type(model.head).__name__ == name
    with torch.no_grad():
        (result,) = model(random_inputs([(48, 64)], 5, with_target=False))
    assert result["sem_seg"].shape == (5, 48, 64)
