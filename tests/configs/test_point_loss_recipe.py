"""The point-sampled ATM loss as a recipe: the tiny SegViT configs take the override
``model.criterion.num_points=N`` (the key exists, so train_net does not refuse it), and every
other config keeps the paper's dense loss."""

from pathlib import Path

import pytest
from detectron2.config import LazyConfig, get_cfg, instantiate
from detectron2.modeling import build_model
from omegaconf import OmegaConf

import segvit  # noqa: F401  (registers datasets and heads)
from segvit.config import add_segvit_config
from segvit.modeling.losses.atm_criterion import ATMCriterion

REPO = Path(__file__).resolve().parents[2]
TINY = ["configs/synthetic/segvit_tiny.py", "configs/synthetic/segvit_shrunk_tiny.py"]
POINT_KEYS = ("num_points", "oversample_ratio", "importance_sample_ratio")


@pytest.mark.parametrize("config", TINY)
def test_tiny_segvit_configs_take_num_points_as_an_override(config):
    cfg = LazyConfig.load(str(REPO / config))
    for key in POINT_KEYS:  # present, so `key=value` is an override, not a new key
        assert OmegaConf.select(cfg, f"model.criterion.{key}", default="missing") != "missing"
    assert instantiate(cfg.model.criterion).num_points == 0  # the default recipe is dense
    overrides = ["model.criterion.num_points=2048", "model.criterion.importance_sample_ratio=0.5"]
    criterion = instantiate(LazyConfig.apply_overrides(cfg, overrides).model.criterion)
    assert isinstance(criterion, ATMCriterion)
    assert (criterion.num_points, criterion.importance_sample_ratio) == (2048, 0.5)


def test_paper_configs_use_the_dense_loss():
    checked = 0
    for path in sorted((REPO / "configs").rglob("*.py")):
        if "common" in path.parts or "synthetic" in path.parts:
            continue
        node = LazyConfig.load(str(path)).model.get("criterion")
        if node is None or OmegaConf.select(node, "_target_") is not ATMCriterion:
            continue
        assert node.get("num_points", 0) == 0 and node.get("loss_stride", 1) == 1, path
        checked += 1
    assert checked >= 10  # the SegViT configs of ADE20K, COCO-Stuff and PASCAL Context


def test_yacs_config_sets_the_point_loss():
    cfg = add_segvit_config(get_cfg())
    assert cfg.MODEL.SEGVIT.LOSS.NUM_POINTS == 0
    cfg.MODEL.META_ARCHITECTURE = "SegViT"
    cfg.MODEL.BACKBONE.NAME = "SegViTViT"
    cfg.MODEL.SEM_SEG_HEAD.NAME = "ATMHead"
    cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = 4
    cfg.MODEL.DEVICE = "cpu"
    vit = cfg.MODEL.SEGVIT.VIT
    vit.PRETRAIN_IMG_SIZE, vit.EMBED_DIM, vit.DEPTH, vit.NUM_HEADS = 32, 32, 2, 2
    vit.OUT_INDICES = [0, 1]
    cfg.MODEL.SEGVIT.ATM.IN_FEATURES = ["block1", "block0"]
    cfg.MODEL.SEGVIT.ATM.EMBED_DIM, cfg.MODEL.SEGVIT.ATM.NUM_HEADS = 16, 2
    cfg.MODEL.SEGVIT.LOSS.NUM_POINTS = 1024
    cfg.MODEL.SEGVIT.LOSS.OVERSAMPLE_RATIO = 2.0
    criterion = build_model(cfg).criterion
    assert (criterion.num_points, criterion.oversample_ratio) == (1024, 2.0)
    assert criterion.importance_sample_ratio == 0.75
