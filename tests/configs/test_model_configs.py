"""Every experiment config loads, round-trips through LazyConfig.save, and its model builds and
runs after shrinking the widths (depths, tapped blocks and structure are kept)."""

import dataclasses
from pathlib import Path

import pytest
import torch
from detectron2.config import LazyConfig, instantiate
from detectron2.data import DatasetCatalog
from omegaconf import OmegaConf

import segvit  # noqa: F401  (registers datasets)
from segvit.modeling.backbone.vit import ViT
from segvit.modeling.heads.atm_head import ATMHead
from segvit.modeling.heads.qu_head import ATMSingleHead, QUATMHead
from segvit.modeling.heads.setr_head import SETRNaiveHead

REPO = Path(__file__).resolve().parents[2]
# Every experiment file; configs/common holds the fragments they import.
CONFIGS = sorted(
    str(p.relative_to(REPO))
    for p in (REPO / "configs").rglob("*.py")
    if "common" not in p.relative_to(REPO / "configs").parts
)
EXPERIMENT_NAMES = ("model", "dataloader", "optimizer", "lr_multiplier", "train")


def _target(node):
    target = node.get("_target_") if OmegaConf.is_dict(node) else None
    return target if isinstance(target, type) else None


def shrink(cfg) -> bool:
    """Tiny widths for the known SegViT/SETR parts, in place. False if the model is not known."""
    backbone, head = cfg.model.get("backbone"), cfg.model.get("head")
    backbone_cls, head_cls = _target(backbone), _target(head)
    if backbone_cls is None or not issubclass(backbone_cls, ViT) or head_cls is None:
        return False
    backbone.update(pretrain_img_size=32, embed_dim=32, num_heads=2, drop_path_rate=0.0)
    if issubclass(head_cls, (ATMHead, ATMSingleHead, QUATMHead)):
        head.update(embed_dim=16, num_heads=2)
    elif issubclass(head_cls, SETRNaiveHead):
        head.update(channels=8, norm="BN")
    else:
        return False
    return True


def test_configs_are_found():
    assert len(CONFIGS) >= 18, CONFIGS
    assert "configs/synthetic/segvit_tiny.py" in CONFIGS
    assert any(p.startswith("configs/pascal_context_59/") for p in CONFIGS)


@pytest.mark.parametrize("path", CONFIGS)
def test_config_loads_and_round_trips(path, tmp_path):
    cfg = LazyConfig.load(str(REPO / path))
    assert all(name in cfg for name in EXPERIMENT_NAMES), f"{path} misses one of {EXPERIMENT_NAMES}"
    saved = tmp_path / "config.yaml"
    LazyConfig.save(cfg, str(saved))
    reloaded = LazyConfig.load(str(saved))
    assert OmegaConf.to_container(reloaded.model.head, resolve=False) is not None
    assert reloaded.train.max_iter == cfg.train.max_iter
    for split in ("train", "test"):
        name = cfg.dataloader[split].dataset.names
        assert name in DatasetCatalog.list(), f"{path}: dataset {name!r} is not registered"


@pytest.mark.parametrize("path", CONFIGS)
def test_model_builds_and_runs_after_shrinking(path):
    cfg = LazyConfig.load(str(REPO / path))
    assert shrink(cfg), f"{path}: add a shrink rule for this model to this test"
    model = instantiate(cfg.model).eval()
    model.inference = dataclasses.replace(model.inference, mode="whole")
    image = torch.randint(0, 256, (3, 48, 80), dtype=torch.uint8)
    with torch.no_grad():
        (result,) = model([{"image": image, "height": 48, "width": 80}])
    assert result["sem_seg"].shape == (cfg.model.head.num_classes, 48, 80)
    cfg.optimizer.params.model = model
    assert instantiate(cfg.optimizer).param_groups
