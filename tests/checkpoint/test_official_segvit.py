"""Loading the released SegViT checkpoints (official mmseg layout) into our models.

The five released layouts are built from their listings (``official_segvit_keys/*.txt``: every
tensor name, shape and dtype, as the official code builds them) on the "meta" device, so even the
ViT-L ones cost no memory. Values are checked on small models built from the same configs: a round
trip ours -> official -> ours, named spot checks, and one ViT block and one ATM layer computed from
the official tensors with the mmseg formulas written out here. The tool is run end to end on small
mmcv files, including the refusals, and the safe reader on meta dicts and on hostile files.
"""

import collections
import math
from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import LazyConfig, instantiate
from repo_scripts import load_script

from segvit.checkpoint.official_segvit import (
    OfficialCheckpointError,
    convert_official_state_dict,
    official_head_kind,
    read_official_checkpoint,
    translate_name,
)
from segvit.engine.cli import ConfigOverrideError

REPO = Path(__file__).resolve().parents[2]
LISTINGS = Path(__file__).resolve().parent / "official_segvit_keys"
VIT_B = "configs/ade20k/segvit_vit_b16_512x512_160k.py"
SHRUNK = "configs/ade20k/segvit_shrunk_vit_l16_640x640_160k.py"
LAYOUTS = {
    "vit_b16_ade20k_512": VIT_B,
    "vit_l16_ade20k_640": "configs/ade20k/segvit_vit_l16_640x640_160k.py",
    "vit_l16_coco_stuff_10k_512": "configs/coco_stuff_10k/segvit_vit_l16_512x512_80k.py",
    "vit_l16_pascal_context_60_480": "configs/pascal_context_60/segvit_vit_l16_480x480_80k.py",
    "shrunk_vit_l16_ade20k_640": SHRUNK,
}
# Small widths (depths, stages, classes and grids kept): the values tests run in milliseconds.
SMALL = {
    VIT_B: [
        "model.backbone.embed_dim=32",
        "model.backbone.num_heads=2",
        "model.head.embed_dim=16",
        "model.head.num_heads=2",
    ],
    SHRUNK: [
        "model.backbone.embed_dim=32",
        "model.backbone.num_heads=2",
        "model.backbone.depth=10",
        "model.backbone.out_indices=[7,9]",
        "model.head.in_features=[block7,block9]",
        "model.head.embed_dim=16",
        "model.head.num_heads=2",
    ],
}
LOSS_WEIGHTS = "decode_head.loss_decode.criterion.empty_weight"


def read_listing(name: str) -> Dict[str, Tuple[int, ...]]:
    """{official tensor name: shape} of a released checkpoint (all float32)."""
    shapes = {}
    for line in (LISTINGS / f"{name}.txt").read_text().splitlines():
        if line.startswith("#"):
            continue
        key, shape, dtype = line.split("\t")
        assert dtype == "float32", line
        shapes[key] = tuple(int(v) for v in shape.strip("()").split(",") if v.strip())
    return shapes


def to_official_layout(
    state_dict: Dict[str, torch.Tensor], model, *, no_object_weight: float = 0.1
) -> Dict[str, torch.Tensor]:
    """Our model's state dict in the official layout (the inverse of the conversion).

    Adds what the official model has and ours does not: a zero class token, a zero class-token
    position in front of ``pos_embed``, and the loss's class weights (``no_object_weight`` for the
    last class). ``model`` tells the head kind (ATMHead or QUATMHead).
    """
    kind = official_head_kind(model)
    official: Dict[str, torch.Tensor] = {}
    for name, tensor in state_dict.items():
        if name == "backbone.pos_embed":
            zeros = tensor.new_zeros(1, 1, tensor.shape[-1])
            official[name] = torch.cat([zeros, tensor], dim=1)
            official["backbone.cls_token"] = zeros.clone()
            continue
        target = translate_name(name, kind, to_ours=False)
        assert target is not None, f"{name} has no official counterpart"
        official[target] = tensor
    class_embed = "head.atm.class_embed.bias" if kind == "qu_atm" else "head.class_embed.bias"
    weight = torch.ones(state_dict[class_embed].shape[0])
    weight[-1] = no_object_weight
    official[LOSS_WEIGHTS] = weight
    if kind == "qu_atm":
        official["decode_head.atm.loss_decode.criterion.empty_weight"] = weight.clone()
    return official


def build_model(config: str, overrides=(), device: str = "cpu"):
    cfg = LazyConfig.apply_overrides(LazyConfig.load(str(REPO / config)), list(overrides))
    with torch.device(device):
        return instantiate(cfg.model)


def random_official(model) -> Dict[str, torch.Tensor]:
    """Official names and shapes for ``model``, filled with fresh random values."""
    return {
        k: torch.randn_like(v) for k, v in to_official_layout(model.state_dict(), model).items()
    }


# ----------------------------------------------------------------------------- the five layouts


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_released_layout_converts_and_loads_with_no_missing_or_unexpected_key(layout):
    listing = read_listing(layout)
    model = build_model(LAYOUTS[layout], device="meta")
    official = {name: torch.empty(shape, device="meta") for name, shape in listing.items()}

    conversion = convert_official_state_dict(official, model)

    dropped = {name for name, _ in conversion.dropped}
    expected_dropped = {"backbone.cls_token", "backbone.pos_embed[:, 0]", LOSS_WEIGHTS}
    if layout.startswith("shrunk"):
        expected_dropped.add("decode_head.atm.loss_decode.criterion.empty_weight")
    assert dropped == expected_dropped
    assert all(reason for _, reason in conversion.dropped)
    # every tensor of the file is either mapped or dropped (pos_embed: mapped minus its class row)
    assert len(conversion.mapped) == len(listing) - len(expected_dropped) + 1
    result = model.load_state_dict(conversion.state_dict, strict=True, assign=True)
    assert result.missing_keys == [] and result.unexpected_keys == []
    # and the inverse rebuilds exactly the listing: names and shapes
    back = to_official_layout(model.state_dict(), model)
    assert {name: tuple(t.shape) for name, t in back.items()} == listing


# ----------------------------------------------------------------------------- values


@pytest.mark.parametrize("config", [VIT_B, SHRUNK])
def test_round_trip_ours_official_ours_is_the_identity(config):
    model = build_model(config, SMALL[config])
    ours = model.state_dict()
    official = to_official_layout(ours, model)
    back = convert_official_state_dict(official, model).state_dict
    assert set(back) == set(ours)
    for name, tensor in ours.items():
        assert torch.equal(back[name], tensor), name


def test_tensors_land_where_they_belong():
    """Pairs written by hand from the official code (not from the converter's table)."""
    model = build_model(VIT_B, SMALL[VIT_B])
    ours = model.state_dict()
    official = to_official_layout(ours, model)
    pairs = {
        "backbone.patch_embed.projection.weight": "backbone.patch_embed.proj.weight",
        "backbone.layers.3.attn.attn.in_proj_weight": "backbone.blocks.3.attn.qkv.weight",
        "backbone.layers.3.attn.attn.out_proj.bias": "backbone.blocks.3.attn.proj.bias",
        "backbone.layers.11.ffn.layers.0.0.weight": "backbone.blocks.11.mlp.fc1.weight",
        "backbone.layers.11.ffn.layers.1.weight": "backbone.blocks.11.mlp.fc2.weight",
        "backbone.layers.0.ln2.bias": "backbone.blocks.0.norm2.bias",
        # official stage 1 (input_proj_1, decoder_1) reads the deepest block = our stage 0
        "decode_head.input_proj_1.weight": "head.input_proj.0.weight",
        "decode_head.proj_norm_3.bias": "head.proj_norm.2.bias",
        "decode_head.decoder_2.layers.2.multihead_attn.k.weight": (
            "head.decoders.1.2.cross_attn.k.weight"
        ),
        "decode_head.decoder_3.layers.0.self_attn.in_proj_weight": (
            "head.decoders.2.0.self_attn.in_proj_weight"
        ),
        "decode_head.decoder_1.layers.1.norm3.weight": "head.decoders.0.1.norm3.weight",
        "decode_head.q.weight": "head.query_embed.weight",
        "decode_head.class_embed.bias": "head.class_embed.bias",
    }
    for official_name, our_name in pairs.items():
        assert official[official_name] is ours[our_name], official_name
    torch.testing.assert_close(official["backbone.pos_embed"][:, 1:], ours["backbone.pos_embed"])

    shrunk = build_model(SHRUNK, SMALL[SHRUNK])
    ours = shrunk.state_dict()
    official = to_official_layout(ours, shrunk)
    pairs = {
        "decode_head.decoder_2.layers.0.multihead_attn.in_proj_weight": (
            "head.qu_decoders.1.0.multihead_attn.in_proj_weight"
        ),
        "decode_head.input_proj_1.bias": "head.input_proj.0.bias",
        "decode_head.q.weight": "head.qu_queries.weight",
        "decode_head.atm.decoder_1.layers.2.multihead_attn.proj.bias": (
            "head.atm.layers.2.cross_attn.proj.bias"
        ),
        "decode_head.atm.q.weight": "head.atm.query_embed.weight",
        "decode_head.atm.class_embed.weight": "head.atm.class_embed.weight",
    }
    for official_name, our_name in pairs.items():
        assert official[official_name] is ours[our_name], official_name


def linear(x, t, name):
    return F.linear(x, t[f"{name}.weight"], t[f"{name}.bias"])


def heads_split(x, heads):
    b, n, c = x.shape
    return x.reshape(b, n, heads, c // heads).transpose(1, 2)  # (B, heads, N, c/heads)


def heads_merge(x):
    b, h, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d)


def mha(query, key, t, name, heads):
    """nn.MultiheadAttention / mmcv MultiheadAttention: fused in_proj rows = q | k | v."""
    w, b = t[f"{name}.in_proj_weight"], t[f"{name}.in_proj_bias"]
    wq, wk, wv = w.chunk(3)
    bq, bk, bv = b.chunk(3)
    q = heads_split(F.linear(query, wq, bq), heads)
    k = heads_split(F.linear(key, wk, bk), heads)
    v = heads_split(F.linear(key, wv, bv), heads)
    attn = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-1)
    return linear(heads_merge(attn @ v), t, f"{name}.out_proj")


def test_vit_block_from_official_tensors_matches_mmseg_formula():
    model = build_model(VIT_B, SMALL[VIT_B]).eval()
    official = random_official(model)
    model.load_state_dict(convert_official_state_dict(official, model).state_dict)
    x = torch.randn(2, 20, 32)

    # mmseg 0.24 TransformerEncoderLayer (eval): x + attn(ln1(x)); x + ffn(ln2(x)); LN eps 1e-6
    p = "backbone.layers.4"

    def ln(y, norm):
        return F.layer_norm(
            y, (32,), official[f"{p}.{norm}.weight"], official[f"{p}.{norm}.bias"], 1e-6
        )

    h = x + mha(ln(x, "ln1"), ln(x, "ln1"), official, f"{p}.attn.attn", heads=2)
    hidden = F.gelu(linear(ln(h, "ln2"), official, f"{p}.ffn.layers.0.0"))  # layers.0.1 = GELU
    expected = h + linear(hidden, official, f"{p}.ffn.layers.1")

    with torch.no_grad():
        ours = model.backbone.blocks[4](x)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-4)


def test_atm_layer_from_official_tensors_matches_official_formula():
    model = build_model(VIT_B, SMALL[VIT_B]).eval()
    official = random_official(model)
    model.load_state_dict(convert_official_state_dict(official, model).state_dict)
    query, memory = torch.randn(2, 150, 16), torch.randn(2, 30, 16)

    # official TPN_DecoderLayer (eval, post-norm; LayerNorm eps 1e-5), layer 1 of stage 2
    p = "decode_head.decoder_2.layers.1"

    def ln(y, norm):
        return F.layer_norm(y, (16,), official[f"{p}.{norm}.weight"], official[f"{p}.{norm}.bias"])

    t = ln(query + mha(query, query, official, f"{p}.self_attn", heads=2), "norm1")
    q = heads_split(linear(t, official, f"{p}.multihead_attn.q"), 2)
    k = heads_split(linear(memory, official, f"{p}.multihead_attn.k"), 2)
    v = heads_split(linear(memory, official, f"{p}.multihead_attn.v"), 2)
    logits = q @ k.transpose(-2, -1) * 8**-0.5  # head_dim 8
    expected_mask = logits.sum(1) / 2  # attn_save.sum(dim=1) / num_heads
    out = linear(heads_merge(logits.softmax(-1) @ v), official, f"{p}.multihead_attn.proj")
    t = ln(t + out, "norm2")
    ffn = linear(F.relu(linear(t, official, f"{p}.linear1")), official, f"{p}.linear2")
    expected = ln(t + ffn, "norm3")

    with torch.no_grad():
        ours, mask = model.head.decoders[1][1](query, memory)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(mask, expected_mask, rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------- the tool

MMCV_META = {
    "mmcv_version": "1.4.4",
    "mmseg_version": "0.24.0+763137e",
    "time": "Thu Jul  7 10:20:31 2022",
    "env_info": "sys.platform: linux\nPython: 3.8.13\nCUDA available: True",
    "seed": np.int64(1234),
    "exp_name": "segvit_vit-b_jx_512x512_160k_ade20k.py",
    "config": "img_norm_cfg = dict(\n    mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, "
    "57.375], to_rgb=True)\n",
    "CLASSES": ("wall", "building", "sky"),
    "PALETTE": np.array([[120, 120, 120], [180, 120, 120], [6, 230, 230]], dtype=np.uint8),
    "epoch": 1,
    "iter": 160000,
    "hook_msgs": {"last_ckpt": "work_dirs/iter_160000.pth", "best_score": np.float64(0.513)},
}


def save_mmcv_checkpoint(path, state_dict, meta=MMCV_META, **pickle_options):
    """What mmcv's save_checkpoint writes: meta, state_dict (an OrderedDict) and optimizer."""
    optimizer = {
        "state": {0: {"step": torch.tensor(160000.0), "exp_avg": torch.zeros(3)}},
        "param_groups": [{"lr": 0.0, "betas": (0.9, 0.999), "weight_decay": 0.01, "params": [0]}],
    }
    checkpoint = {
        "meta": meta,
        "state_dict": collections.OrderedDict(state_dict),
        "optimizer": optimizer,
    }
    torch.save(checkpoint, path, **pickle_options)


@pytest.fixture(scope="module")
def tool():
    return load_script("tools", "convert_official_segvit")


@pytest.fixture
def small_vit_b_file(tmp_path):
    """A small official-layout mmcv file of the ViT-B config, and the model it came from."""
    model = build_model(VIT_B, SMALL[VIT_B])
    path = tmp_path / "ade_small.pth"
    save_mmcv_checkpoint(path, to_official_layout(model.state_dict(), model))
    return path, model


def convert(tool, source, output, *extra, config=VIT_B, overrides=None):
    overrides = SMALL[config] if overrides is None else overrides
    argv = ["--input", str(source), "--config", str(REPO / config), "--output", str(output)]
    return tool.main([*argv, *extra, *overrides])


def test_tool_converts_reports_and_detectron2_loads(tool, small_vit_b_file, tmp_path, capsys):
    source, original = small_vit_b_file
    output = tmp_path / "converted" / "segvit_b.pth"
    assert convert(tool, source, output) == 0
    report = capsys.readouterr().out
    assert "mapped:   360 tensors (backbone 147, head 213); pos-embed grid 32x32" in report
    assert "dropped:  backbone.cls_token: class token" in report
    assert f"dropped:  {LOSS_WEIGHTS}: the loss's constant class weights" in report
    assert "mmcv_version 1.4.4" in report and "(= the config's)" in report
    assert "0 missing, 0 unexpected" in report

    model = build_model(VIT_B, SMALL[VIT_B])  # fresh random weights
    saved = torch.load(output, weights_only=True)
    assert set(saved["model"]) == set(model.state_dict())
    DetectionCheckpointer(model).load(str(output))
    for name, tensor in original.state_dict().items():  # every value came back to its place
        assert torch.equal(model.state_dict()[name], tensor), name


def test_tool_converts_the_shrunk_layout(tool, tmp_path, capsys):
    model = build_model(SHRUNK, SMALL[SHRUNK])
    source = tmp_path / "ade_shrunk_small.pth"
    save_mmcv_checkpoint(source, to_official_layout(model.state_dict(), model))
    assert convert(tool, source, tmp_path / "out.pth", config=SHRUNK) == 0
    assert "decode_head.atm.loss_decode.criterion.empty_weight" in capsys.readouterr().out


def assert_nothing_written(folder: Path, keep):
    assert sorted(p.name for p in folder.iterdir()) == sorted(keep)


def test_wrong_shape_is_refused_naming_the_tensor_and_both_shapes(tool, tmp_path, capsys):
    model = build_model(VIT_B, SMALL[VIT_B])
    official = to_official_layout(model.state_dict(), model)
    official["backbone.layers.2.ln1.weight"] = torch.ones(31)
    source = tmp_path / "bad.pth"
    save_mmcv_checkpoint(source, official)
    assert convert(tool, source, tmp_path / "out.pth") == 1
    err = capsys.readouterr().err
    assert "backbone.layers.2.ln1.weight (31,) does not fit" in err
    assert "fit our backbone.blocks.2.norm1.weight (32,)" in err
    assert "nothing written" in err
    assert_nothing_written(tmp_path, ["bad.pth"])


def test_wrong_config_for_the_file_is_refused(tool, small_vit_b_file, tmp_path, capsys):
    source, _ = small_vit_b_file
    # 171 classes (COCO-Stuff) for a 150-class file
    assert convert(tool, source, tmp_path / "out.pth", "model.head.num_classes=171") == 1
    err = capsys.readouterr().err
    assert "decode_head.class_embed.weight (151, 16) does not fit" in err
    assert "fit our head.class_embed.weight (172, 16)" in err
    # a pos-embed grid of another crop: 32x32 in the file, 40x40 in the config
    assert convert(tool, source, tmp_path / "out.pth", "model.backbone.pretrain_img_size=640") == 1
    err = capsys.readouterr().err
    assert (
        "backbone.pos_embed (1, 1025, 32) does not fit our backbone.pos_embed (1, 1600, 32)" in err
    )
    assert "the file holds a 32x32 grid" in err and "gives 40x40" in err
    # a Shrunk checkpoint for the plain config: its QU / ATM tensors have no place
    shrunk = build_model(SHRUNK, SMALL[SHRUNK])
    shrunk_file = tmp_path / "shrunk.pth"
    save_mmcv_checkpoint(shrunk_file, to_official_layout(shrunk.state_dict(), shrunk))
    assert convert(tool, shrunk_file, tmp_path / "out.pth") == 1
    err = capsys.readouterr().err
    assert "The file is a Shrunk SegViT (official TPNATMHead" in err
    assert (
        "decode_head.decoder_1.layers.0.multihead_attn.in_proj_weight (48, 16) has no rule" in err
    )
    assert "our backbone.blocks.10.norm1.weight (32,) has no tensor in the file" in err
    assert_nothing_written(tmp_path, ["ade_small.pth", "shrunk.pth"])


def test_existing_output_is_kept_without_overwrite(tool, small_vit_b_file, tmp_path):
    source, _ = small_vit_b_file
    output = tmp_path / "mine.pth"
    output.write_bytes(b"a file the user made")
    with pytest.raises(SystemExit):
        convert(tool, source, output)
    assert output.read_bytes() == b"a file the user made"
    assert convert(tool, source, output, "--overwrite") == 0
    assert "model" in torch.load(output, weights_only=True)
    assert_nothing_written(tmp_path, ["ade_small.pth", "mine.pth"])  # no temporary file left


# ----------------------------------------------------------------------------- safe reading


def test_mmcv_meta_with_numpy_values_loads(tmp_path):
    path = tmp_path / "ckpt.pth"
    save_mmcv_checkpoint(path, {"backbone.cls_token": torch.zeros(1, 1, 4)})
    checkpoint = read_official_checkpoint(str(path))
    meta = checkpoint["meta"]
    assert meta["seed"] == 1234 and meta["CLASSES"] == MMCV_META["CLASSES"]
    assert np.array_equal(meta["PALETTE"], MMCV_META["PALETTE"])
    assert checkpoint["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert torch.equal(checkpoint["state_dict"]["backbone.cls_token"], torch.zeros(1, 1, 4))


class _CreatesAFile:
    """Unpickling this object would open (create) a file: what a hostile checkpoint can do."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


class MetaObject:
    """A class outside the allowed set (like mmcv's ConfigDict in a meta)."""


@pytest.mark.parametrize("legacy_format", [False, True])
def test_code_in_the_file_is_refused_with_the_reason(tmp_path, monkeypatch, legacy_format):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # must not weaken the reader
    marker = tmp_path / "was_run"
    path = tmp_path / "hostile.pth"
    meta = {**MMCV_META, "payload": _CreatesAFile(str(marker))}
    save_mmcv_checkpoint(path, {}, meta, _use_new_zipfile_serialization=not legacy_format)
    with pytest.raises(OfficialCheckpointError, match=r"refused: .*(io|builtins)\.open.*could run"):
        read_official_checkpoint(str(path))
    assert not marker.exists()


def test_other_types_in_the_meta_are_refused(tmp_path):
    path = tmp_path / "custom.pth"
    save_mmcv_checkpoint(path, {}, {**MMCV_META, "cfg": MetaObject()})
    with pytest.raises(OfficialCheckpointError, match=r"MetaObject.*re-save only its weights"):
        read_official_checkpoint(str(path))


def test_missing_and_non_checkpoint_files_are_named(tmp_path):
    with pytest.raises(OfficialCheckpointError, match="no such file"):
        read_official_checkpoint(str(tmp_path / "absent.pth"))
    path = tmp_path / "text.pth"
    path.write_text("not a checkpoint")
    with pytest.raises(OfficialCheckpointError, match=r"text\.pth is not a checkpoint: it is a"):
        read_official_checkpoint(str(path))


def test_typo_and_wrong_type_in_overrides_are_named_before_reading(
    tool, small_vit_b_file, tmp_path
):
    """Issue 23: the converter checks its overrides as train_net.py does; nothing is written."""
    source, _ = small_vit_b_file
    output = tmp_path / "out" / "converted.pth"
    with pytest.raises(ConfigOverrideError, match=r"Did you mean 'model\.head\.num_classes'\?"):
        convert(tool, source, output, "model.head.num_clases=150")
    with pytest.raises(ConfigOverrideError, match=r"train\.device must be of type str"):
        convert(tool, source, output, "train.device=[1,2]")
    assert not output.parent.exists()


def test_a_bare_state_dict_is_read(tmp_path):
    path = tmp_path / "bare.pth"
    torch.save({"backbone.cls_token": torch.zeros(1, 1, 4)}, path)
    assert "backbone.cls_token" in read_official_checkpoint(str(path))
