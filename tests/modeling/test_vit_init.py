"""The ViT's initialisation rules without pre-trained weights: "mmseg" (the official SegViT
backbone, mmseg ``VisionTransformer.init_weights``) and "trunc_normal" (the tiny configs' rule),
checked group by group on built models with their statistics."""

import math
from pathlib import Path

import pytest
import torch
from detectron2.config import LazyConfig, get_cfg
from detectron2.layers import ShapeSpec
from timm.layers import trunc_normal_

from segvit.config import add_segvit_config
from segvit.modeling.backbone.conv_stem import ConvStem
from segvit.modeling.backbone.shrunk_vit import ShrunkViT
from segvit.modeling.backbone.vit import ViT, vit_kwargs_from_cfg

REPO = Path(__file__).resolve().parents[2]
DIM = 256  # wide enough for tight statistics


def build(init: str, cls=ViT, **kwargs) -> ViT:
    """A 2-block ViT/16 of width DIM by rule ``init`` (``cls``: ViT or ShrunkViT)."""
    args = dict(
        pretrain_img_size=64,
        patch_size=16,
        embed_dim=DIM,
        depth=2,
        num_heads=4,
        out_indices=(1,),
        cls_token=True,
        final_norm=True,
        init=init,
    )
    args.update(kwargs)
    return cls(**args)


def assert_normal(t: torch.Tensor, std: float, rtol: float = 0.05):
    assert abs(t.mean().item()) < 3 * std / math.sqrt(t.numel()) + 1e-12
    assert t.std().item() == pytest.approx(std, rel=rtol)


def test_mmseg_rule_group_by_group():
    model = build("mmseg")
    # patch embedding conv: kaiming-normal, fan-in, ReLU gain -> std sqrt(2 / (3 * 16 * 16)), bias 0
    conv = model.patch_embed.proj
    assert_normal(conv.weight, math.sqrt(2.0 / (3 * 16 * 16)))
    assert torch.count_nonzero(conv.bias) == 0
    for block in model.blocks:
        # fused qkv: xavier-uniform over (3C, C): bound sqrt(6 / (C + 3C)), std bound / sqrt(3)
        bound = math.sqrt(6.0 / (DIM + 3 * DIM))
        qkv = block.attn.qkv.weight
        assert qkv.abs().max().item() <= bound
        assert qkv.abs().max().item() > 0.99 * bound
        assert_normal(qkv, bound / math.sqrt(3), rtol=0.02)
        assert torch.count_nonzero(block.attn.qkv.bias) == 0
        # other Linear weights: trunc-normal 0.02
        for linear in (block.attn.proj, block.mlp.fc1, block.mlp.fc2):
            assert_normal(linear.weight, 0.02)
        assert torch.count_nonzero(block.attn.proj.bias) == 0
        # the FFN biases: N(0, 1e-6), not zero
        ffn_bias = torch.cat([block.mlp.fc1.bias, block.mlp.fc2.bias])
        assert torch.count_nonzero(ffn_bias) == ffn_bias.numel()
        assert ffn_bias.std().item() == pytest.approx(1e-6, rel=0.1)
        for norm in (block.norm1, block.norm2):
            assert torch.equal(norm.weight, torch.ones(DIM))
            assert torch.count_nonzero(norm.bias) == 0
    # tables: trunc-normal(0.02) truncated at +-2 (absolute, as mmcv/timm): a plain N(0, 0.02)
    assert_normal(model.pos_embed, 0.02)
    for table in (model.cls_token, model.cls_pos_embed):
        assert table.std().item() == pytest.approx(0.02, rel=0.2)
    assert torch.equal(model.norm.weight, torch.ones(DIM))


def test_trunc_normal_rule_group_by_group():
    model = build("trunc_normal")
    conv = model.patch_embed.proj
    # PyTorch's default conv init: kaiming-uniform with a = sqrt(5), bound 1 / sqrt(fan_in)
    fan_in = 3 * 16 * 16
    assert conv.weight.abs().max().item() <= 1 / math.sqrt(fan_in)
    assert conv.weight.std().item() == pytest.approx(1 / math.sqrt(3 * fan_in), rel=0.05)
    assert torch.count_nonzero(conv.bias) > 0
    for block in model.blocks:
        for linear in (block.attn.qkv, block.attn.proj, block.mlp.fc1, block.mlp.fc2):
            assert_normal(linear.weight, 0.02)
            assert torch.count_nonzero(linear.bias) == 0


def test_mmseg_rule_reaches_a_conv_stem_and_shrunk_vit():
    # Every Conv2d of the backbone (here the tiny configs' conv stem) is kaiming fan-in, BN (1, 0).
    stem = ConvStem(patch_size=8, embed_dim=DIM)
    model = build("mmseg", patch_size=8, patch_embed=stem)
    assert model.patch_embed is stem
    convs = [m for m in stem.modules() if isinstance(m, torch.nn.Conv2d)]
    widest = max(convs, key=lambda c: c.weight.numel())
    assert_normal(widest.weight, math.sqrt(2.0 / widest.weight[0].numel()), rtol=0.05)
    assert all(c.bias is None or torch.count_nonzero(c.bias) == 0 for c in convs)
    norms = [m for m in stem.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(torch.all(n.weight == 1) and torch.all(n.bias == 0) for n in norms)
    shrunk = build("mmseg", cls=ShrunkViT, cls_token=False, final_norm=False, shrink_idx=1)
    bias = shrunk.blocks[1].mlp.fc2.bias
    assert bias.std().item() == pytest.approx(1e-6, rel=0.2)


def test_unknown_rule_is_refused():
    with pytest.raises(ValueError, match="init='xavier'.*mmseg"):
        build("xavier")


def test_which_configs_use_which_rule():
    paper = LazyConfig.load(str(REPO / "configs/common/models/segvit.py"))
    assert paper.model.backbone.init == "mmseg"
    shrunk = LazyConfig.load(str(REPO / "configs/common/models/segvit_shrunk.py"))
    assert shrunk.model.backbone.init == "mmseg"
    segmenter = LazyConfig.load(str(REPO / "configs/common/models/segmenter.py"))
    assert segmenter.model.backbone.init == "trunc_normal"  # Segmenter's own rule
    for name in ("segvit_tiny", "segvit_shrunk_tiny", "segmenter_tiny", "maskformer_tiny"):
        cfg = LazyConfig.load(str(REPO / f"configs/synthetic/{name}.py"))
        backbone = cfg.model.backbone.get("net", cfg.model.backbone)
        assert backbone.init == "trunc_normal", name  # the stored from-scratch runs' rule
    cfg = add_segvit_config(get_cfg())
    assert vit_kwargs_from_cfg(cfg, ShapeSpec(channels=3))["init"] == "mmseg"


def _rule_before_init_existed(self):
    """ViT._init_weights as it was before ``init=`` (timm-style), replayed for the test below."""
    trunc_normal_(self.pos_embed, std=0.02)
    for extra in (self.cls_token, self.cls_pos_embed):
        if extra is not None:
            trunc_normal_(extra, std=0.02)
    for m in self.modules():
        if isinstance(m, torch.nn.Linear):
            trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)
        elif isinstance(m, torch.nn.LayerNorm):
            torch.nn.init.ones_(m.weight)
            torch.nn.init.zeros_(m.bias)


def test_trunc_normal_rule_draws_what_the_stored_tiny_runs_drew(monkeypatch):
    # The tiny from-scratch runs stored in benchmarks/compare.md start from exactly these weights.
    def tiny():
        torch.manual_seed(3)
        stem = ConvStem(patch_size=8, embed_dim=DIM)
        return build("trunc_normal", patch_size=8, patch_embed=stem).state_dict()

    ours = tiny()
    monkeypatch.setattr(ViT, "_init_weights", _rule_before_init_existed)
    before = tiny()
    assert ours.keys() == before.keys() and all(torch.equal(ours[k], before[k]) for k in ours)
