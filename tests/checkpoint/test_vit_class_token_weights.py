"""The ViT options of Segmenter and DEPICT (class token through the blocks, final LayerNorm,
bilinear pos-embed resize): a timm checkpoint loads with every backbone key and reproduces timm's
own features; SegViT's default backbone is unchanged."""

from pathlib import Path

import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import LazyConfig, instantiate
from repo_scripts import load_script
from vit_checkpoint_helpers import load_file, our_vit, save, timm_vit

from segvit.checkpoint.vit_weights import to_backbone_layout
from segvit.modeling.backbone.vit import ViT

REPO = Path(__file__).resolve().parents[2]
VIT_B_CONFIGS = [
    "configs/ade20k/segmenter_vit_b16_512x512_160k.py",
    "configs/ade20k/depict_sa_vit_b16_512x512_160k.py",
    "configs/ade20k/depict_ca_vit_b16_512x512_160k.py",
]


def test_default_backbone_keeps_the_segvit_layout():
    keys = set(
        ViT(pretrain_img_size=32, embed_dim=32, depth=2, num_heads=2, out_indices=(1,)).state_dict()
    )
    assert not {"cls_token", "cls_pos_embed", "norm.weight", "norm.bias"} & keys


def test_class_token_backbone_reproduces_timm_features(tmp_path):
    src = timm_vit(depth=2)
    path = save(src.state_dict(), tmp_path / "timm.pth")
    ours = our_vit(
        depth=2,
        out_indices=(1,),
        cls_token=True,
        final_norm=True,
        pos_embed_interp="bilinear",
    )
    missing, unexpected = load_file(ours, path)
    assert missing == [] and unexpected == []
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = src.forward_features(x)[:, 1:]  # blocks + final norm, class token dropped
        got = ours(x)["block1"].flatten(2).transpose(1, 2)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_bilinear_resize_is_used_at_other_grids():
    kwargs = dict(pretrain_img_size=64, embed_dim=16, depth=1, num_heads=2, out_indices=(0,))
    bicubic, bilinear = ViT(**kwargs).eval(), ViT(pos_embed_interp="bilinear", **kwargs).eval()
    bilinear.load_state_dict(bicubic.state_dict())
    x = torch.randn(1, 3, 48, 80)
    with torch.no_grad():
        assert not torch.allclose(bicubic(x)["block0"], bilinear(x)["block0"])


def test_final_norm_needs_the_last_block():
    with pytest.raises(ValueError, match="final_norm.*out_indices"):
        ViT(embed_dim=16, depth=2, num_heads=2, out_indices=(0,), final_norm=True)


def test_class_token_needs_one_in_the_checkpoint():
    state = timm_vit().state_dict()
    state.pop("cls_token")
    state["pos_embed"] = state["pos_embed"][:, 1:]
    with pytest.raises(ValueError, match="class_token=True needs"):
        to_backbone_layout(state, class_token=True)


@pytest.mark.parametrize("config", VIT_B_CONFIGS)
def test_timm_vit_b_checkpoint_loads_without_missing_backbone_keys(config, tmp_path):
    # A timm-layout ViT-B (width 768, 12 heads, class token, final norm, 24x24 pos-embed); two
    # blocks instead of twelve keep the test fast (the key layout per block is the same).
    src = timm_vit(img_size=384, embed_dim=768, depth=2, num_heads=12)
    raw = save(src.state_dict(), tmp_path / "vit_base_patch16_384.pth")
    converted = str(tmp_path / "converted.pth")
    tool = load_script("tools", "convert_pretrained")
    args = ["--input", raw, "--output", converted, "--pretrain-img-size", "512"]
    assert (
        tool.main(args + ["--class-token", "--final-norm", "--pos-embed-interp", "bilinear"]) == 0
    )

    cfg = LazyConfig.load(str(REPO / config))
    cfg.model.backbone.update(depth=2, out_indices=(1,), drop_path_rate=0.0)
    cfg.model.head.in_feature = "block1"
    model = instantiate(cfg.model)
    backbone_keys = {f"backbone.{k}" for k in model.backbone.state_dict()}
    assert set(torch.load(converted, weights_only=True)["model"]) == backbone_keys
    DetectionCheckpointer(model).load(converted)
    torch.testing.assert_close(model.backbone.norm.weight, src.norm.weight)
    torch.testing.assert_close(model.backbone.cls_token, src.cls_token)
    torch.testing.assert_close(model.backbone.cls_pos_embed, src.pos_embed[:, :1])
    # the raw timm file also loads directly into the backbone (resized bilinearly to 32x32)
    assert load_file(model.backbone, raw) == ([], [])
