"""Official (and timm) ImageNet Swin weights -> SwinBackbone; tools/convert_swin_pretrained.py."""

import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from baseline_helpers import shrink_baseline
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import LazyConfig, instantiate
from repo_scripts import load_script

import segvit.baselines  # noqa: F401  (installs the fast_eval_api fallback first)
from segvit.baselines import SwinBackbone
from segvit.checkpoint.swin_weights import (
    build_reference,
    check_against_reference,
    infer_swin_config,
    to_swin_layout,
)

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs" / "common" / "models"
DIMS = dict(embed_dim=32, depths=(1, 1, 2, 1), num_heads=(1, 2, 4, 8), window_size=7)
OUTPUT_NORM = re.compile(r"^norm\d+\.")


def tiny_swin() -> SwinBackbone:
    return SwinBackbone(**DIMS, drop_path_rate=0.0)


def official_state_dict() -> dict:
    """What Microsoft's file holds for DIMS: SwinBackbone's keys (random values) without the
    per-output norms, plus the classifier's final norm and head, and the attention mask of the
    one shifted block (stage 2 is 14x14 at 224x224: 4 windows of 49 tokens)."""
    g = torch.Generator().manual_seed(0)
    sd = {}
    for key, value in tiny_swin().state_dict().items():
        if OUTPUT_NORM.match(key):
            continue
        index = key.endswith("relative_position_index")
        sd[key] = value.clone() if index else torch.randn(value.shape, generator=g)
    width = DIMS["embed_dim"] * 8
    sd.update({"norm.weight": torch.randn(width), "norm.bias": torch.randn(width)})
    sd.update({"head.weight": torch.randn(10, width), "head.bias": torch.randn(10)})
    sd["layers.2.blocks.1.attn_mask"] = torch.zeros(4, 49, 49)
    return sd


def write_official(tmp_path: Path, sd=None) -> str:
    path = tmp_path / "swin_tiny_patch4_window7_224.pth"
    torch.save({"model": official_state_dict() if sd is None else sd}, path)
    return str(path)


def tiny_model(name: str):
    """configs/common/models/{name}.py, shrunk, with DIMS for its Swin."""
    m = LazyConfig.load(str(CONFIGS / f"{name}.py")).model
    shrink_baseline(m)
    swin = m.backbone.net if name == "segvit_swin" else m.backbone
    for key, value in DIMS.items():
        setattr(swin, key, value)
    return instantiate(m)


def test_infer_arch_and_layout():
    weights = to_swin_layout(official_state_dict())
    assert weights.source_format == "official"
    assert sorted(weights.dropped) == [
        "head.bias",
        "head.weight",
        "layers.2.blocks.1.attn_mask",
        "norm.bias",
        "norm.weight",
    ]
    assert "layers.0.downsample.norm.weight" in weights.state_dict  # nested .norm. is kept
    assert "layers.1.blocks.0.attn.relative_position_index" in weights.state_dict
    arch = infer_swin_config(weights.state_dict)
    assert {k: arch[k] for k in DIMS} == DIMS
    assert arch["patch_size"] == 4 and arch["mlp_ratio"] == 4.0
    assert arch["qkv_bias"] and arch["patch_norm"] and not arch["ape"]
    _, left, added = check_against_reference(weights.state_dict, build_reference(arch))
    assert added == [] and all(OUTPUT_NORM.match(k) for k in left) and len(left) == 8


@pytest.mark.parametrize(
    "name, prefix", [("maskformer", "backbone."), ("segvit_swin", "backbone.net.")]
)
def test_converted_file_loads_into_model(tmp_path, capsys, name, prefix):
    tool = load_script("tools", "convert_swin_pretrained")
    src = official_state_dict()
    out = str(tmp_path / "out" / "swin_d2.pth")
    assert (
        tool.main(["--input", write_official(tmp_path, src), "--output", out, "--prefix", prefix])
        == 0
    )
    assert "head.weight" in capsys.readouterr().out

    raw = torch.load(out, weights_only=True)
    assert raw["__author__"] == "segvit convert_swin_pretrained" and not raw["matching_heuristics"]
    assert all(k.startswith(prefix) for k in raw["model"])

    model = tiny_model(name)
    DetectionCheckpointer(model).load(out)
    swin = model.backbone.net if name == "segvit_swin" else model.backbone
    model_keys = {k for k in model.state_dict() if k.startswith(prefix)}
    assert set(raw["model"]) <= model_keys  # nothing unexpected
    left = {k[len(prefix) :] for k in model_keys - set(raw["model"])}
    assert left and all(OUTPUT_NORM.match(k) for k in left)  # only the per-output norms
    for key, value in swin.state_dict().items():
        if key not in left:
            assert torch.equal(value, src[key]), key


def test_wrong_shape_is_refused(tmp_path):
    tool = load_script("tools", "convert_swin_pretrained")
    sd = official_state_dict()
    sd["layers.2.blocks.1.mlp.fc2.weight"] = torch.zeros(128, 100)
    out = tmp_path / "bad_d2.pth"
    with pytest.raises(ValueError) as exc:
        tool.main(["--input", write_official(tmp_path, sd), "--output", str(out)])
    msg = str(exc.value)
    assert "'layers.2.blocks.1.mlp.fc2.weight'" in msg and "(128, 100)" in msg
    assert "(128, 512)" in msg and "swin_tiny_patch4_window7_224.pth" in msg
    assert not out.exists()


def test_existing_output_needs_overwrite(tmp_path, capsys):
    tool = load_script("tools", "convert_swin_pretrained")
    out = tmp_path / "swin_d2.pth"
    out.write_bytes(b"keep me")
    args = ["--input", write_official(tmp_path), "--output", str(out)]
    with pytest.raises(SystemExit) as exc:
        tool.main(args)
    assert exc.value.code == 2 and "--overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"
    assert tool.main(args + ["--overwrite"]) == 0
    assert "backbone.patch_embed.proj.weight" in torch.load(out, weights_only=True)["model"]


def test_timm_swin_matches_detectron2_swin():
    """timm's layout (merge at the start of the next stage, no buffers) maps to the same weights:
    Detectron2's Swin then computes timm's stage outputs (up to our identity-initialised norms)."""
    from timm.models.swin_transformer import SwinTransformer

    timm_swin = SwinTransformer(img_size=224, num_classes=10, **DIMS).eval()
    weights = to_swin_layout(timm_swin.state_dict())
    assert weights.source_format == "timm"
    assert "layers.0.downsample.reduction.weight" in weights.state_dict
    reference = build_reference(infer_swin_config(weights.state_dict))
    state_dict, _, added = check_against_reference(weights.state_dict, reference)
    assert len(added) == sum(DIMS["depths"])  # relative_position_index, not saved by timm
    ours = tiny_swin().eval()
    ours.load_state_dict(state_dict, strict=False)

    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        ref = timm_swin.forward_intermediates(x, intermediates_only=True)
        out = ours(x)
    for i, feat in enumerate(ref):  # (1, C_i, H_i, W_i)
        expected = F.layer_norm(feat.permute(0, 2, 3, 1), feat.shape[1:2]).permute(0, 3, 1, 2)
        assert (out[f"res{i + 2}"] - expected).abs().max() < 1e-4, i
