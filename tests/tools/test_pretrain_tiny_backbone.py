"""tools/pretrain_tiny_backbone.py: runs on the CPU, is reproducible, and its checkpoint loads
into every tiny decoder config through the checkpointer that ``train.init_checkpoint`` uses."""

import json
import logging

import pytest
import torch
from detectron2.config import LazyConfig, instantiate
from repo_scripts import REPO, load_script

from segvit.checkpoint import SafeCheckpointer
from segvit.checkpoint.safe_io import read_weights

TINY_CONFIGS = sorted(p.stem for p in (REPO / "configs/synthetic").glob("*_tiny.py"))


def pretrain(out, seed=0):
    tool = load_script("tools", "pretrain_tiny_backbone")
    parser = tool.get_parser()
    args = parser.parse_args(
        [
            f"--output-dir={out}",
            f"--config-file={REPO / 'configs/synthetic/segvit_tiny.py'}",
            "--iters=2",
            "--batch-size=2",
            "--num-train=4",
            "--num-val=3",
            "--log-period=1",
            f"--seed={seed}",
        ]
    )
    metrics = tool.run(tool.check_args(parser, args))
    return out / tool.CHECKPOINT_NAME, metrics


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return pretrain(tmp_path_factory.mktemp("pretrain"))


def test_pretraining_runs_on_cpu_and_reports_its_metric(checkpoint):
    path, metrics = checkpoint
    assert {"mAP", "F1"} <= set(metrics)
    saved = json.loads((path.parent / "metrics.json").read_text())
    assert saved["metrics"]["F1"] == metrics["F1"] and saved["args"]["iters"] == 2
    state = read_weights(str(path))["model"]
    assert all(k.startswith("backbone.") for k in state)
    assert {"backbone.cls_token", "backbone.norm.weight", "backbone.pos_embed"} <= set(state)


def test_pretraining_is_reproducible(checkpoint, tmp_path):
    again, _ = pretrain(tmp_path / "again")
    a, b = (read_weights(str(p))["model"] for p in (checkpoint[0], again))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    other, _ = pretrain(tmp_path / "other", seed=1)
    c = read_weights(str(other))["model"]
    assert not torch.equal(
        a["backbone.blocks.0.attn.qkv.weight"], c["backbone.blocks.0.attn.qkv.weight"]
    )


@pytest.mark.parametrize("name", TINY_CONFIGS)
def test_checkpoint_loads_every_backbone_tensor_of_each_tiny_config(name, checkpoint):
    cfg = LazyConfig.load(str(REPO / f"configs/synthetic/{name}.py"))
    model = instantiate(cfg.model)
    state = read_weights(str(checkpoint[0]))["model"]
    checkpointer = SafeCheckpointer(model)
    # the checkpointer's own logger (Detectron2's setup_logger may stop fvcore's propagation)
    records = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: records.append(record.getMessage())
    checkpointer.logger.addHandler(handler)
    try:
        checkpointer.load(str(checkpoint[0]), checkpointables=[])
    finally:
        checkpointer.logger.removeHandler(handler)
    incompatible = checkpointer.last_incompatible
    vit = "backbone.net." if hasattr(model.backbone, "net") else "backbone."
    vit_keys = [k for k in model.state_dict() if k.startswith(vit)]
    assert len(vit_keys) > 60
    assert not [k for k in incompatible.missing_keys if k.startswith(vit)]
    assert not incompatible.incorrect_shapes
    # what stays new: the decoder (and, for MaskFormer / Mask2Former, ViTDet's simple pyramid)
    new = set(incompatible.missing_keys)
    assert new == {
        k
        for k in model.state_dict()
        if not k.startswith(vit) and not k.endswith("num_batches_tracked")  # Detectron2 skips these
    }
    # unused: only the class token and final norm, for the decoders that do not use them
    assert set(incompatible.unexpected_keys) <= {
        vit + k for k in ("cls_token", "cls_pos_embed", "norm.weight", "norm.bias")
    }
    for key in vit_keys:
        loaded = model.state_dict()[key]
        assert torch.equal(loaded, state["backbone." + key[len(vit) :]]), key
    if name == "segvit_shrunk_tiny":
        # QD adds no parameter (as the official vit_shrink); the QU queries are new and named
        assert "head.qu_queries.weight" in new
        assert any("head.qu_queries.weight" in message for message in records)
