"""Every experiment config loads, round-trips through LazyConfig.save, and its model builds and
runs after shrinking the widths (depths, tapped blocks and structure are kept)."""

import dataclasses
from pathlib import Path

import pytest
import torch
from baseline_helpers import is_baseline, shrink_baseline, target_of
from detectron2.config import LazyConfig, instantiate
from detectron2.data import DatasetCatalog

import segvit  # noqa: F401  (registers datasets)
from segvit.modeling.backbone.vit import ViT
from segvit.modeling.heads.atm_head import ATMHead, ATMSingleStageHead
from segvit.modeling.heads.depict_head import DEPICTHead
from segvit.modeling.heads.qu_head import QUATMHead
from segvit.modeling.heads.rsseg_r_head import RSSegRHead
from segvit.modeling.heads.segmenter_head import SegmenterMaskHead
from segvit.modeling.heads.setr_head import SETRNaiveHead

REPO = Path(__file__).resolve().parents[2]
# Every experiment file; configs/common holds the fragments they import.
CONFIGS = sorted(
    str(p.relative_to(REPO))
    for p in (REPO / "configs").rglob("*.py")
    if "common" not in p.relative_to(REPO / "configs").parts
)
EXPERIMENT_NAMES = ("model", "dataloader", "optimizer", "lr_multiplier", "train")


def shrink(cfg) -> bool:
    """Tiny widths for the known models, in place. False if the model is not known."""
    if is_baseline(cfg.model):
        shrink_baseline(cfg.model, num_classes=num_classes(cfg))
        return True
    backbone, head = cfg.model.get("backbone"), cfg.model.get("head")
    backbone_cls, head_cls = target_of(backbone), target_of(head)
    if backbone_cls is None or not issubclass(backbone_cls, ViT) or head_cls is None:
        return False
    backbone.update(pretrain_img_size=32, embed_dim=32, num_heads=2, drop_path_rate=0.0)
    if issubclass(head_cls, (ATMHead, ATMSingleStageHead, QUATMHead)):
        head.update(embed_dim=16, num_heads=2)
    elif issubclass(head_cls, SETRNaiveHead):
        head.update(channels=8, norm="BN")
    elif issubclass(head_cls, SegmenterMaskHead):
        head.update(num_heads=2)  # d_model follows the backbone width
    elif issubclass(head_cls, DEPICTHead):
        head.update(head_dim=8, cross_head_dim=4)
    elif issubclass(head_cls, RSSegRHead):
        head.update(channels=8, dca_heads=2, norm="BN")
    else:
        return False
    return True


def num_classes(cfg) -> int:
    """Classes predicted by the model of an experiment config (SegViT/SETR or a baseline)."""
    head = cfg.model.get("head") or cfg.model.get("sem_seg_head")
    return head.num_classes


def load_experiment(path: str):
    """The config of ``path``; a config of the user's folders (``configs/custom``, classes from
    ``custom.class_names``) gets three example class names, as its overrides would give."""
    cfg = LazyConfig.load(str(REPO / path))
    if "custom" in cfg:
        cfg.custom.class_names = ["background", "square", "disc"]
    return cfg


def test_configs_are_found():
    assert len(CONFIGS) >= 18, CONFIGS
    assert "configs/synthetic/segvit_tiny.py" in CONFIGS
    assert any(p.startswith("configs/pascal_context_59/") for p in CONFIGS)


@pytest.mark.parametrize("path", CONFIGS)
def test_config_loads_and_round_trips(path, tmp_path):
    cfg = load_experiment(path)
    assert all(name in cfg for name in EXPERIMENT_NAMES), f"{path} misses one of {EXPERIMENT_NAMES}"
    saved = tmp_path / "config.yaml"
    LazyConfig.save(cfg, str(saved))
    reloaded = LazyConfig.load(str(saved))
    assert num_classes(reloaded) == num_classes(cfg)
    assert reloaded.train.max_iter == cfg.train.max_iter
    for split in ("train", "test"):
        name = cfg.dataloader[split].dataset.names
        if "custom" in cfg:  # registered from the folders when built (tests/docs covers it)
            saved_names = reloaded.dataloader[split].dataset.names
            assert saved_names._target_.endswith("folder_dataset")
            assert saved_names.image_root == name.image_root  # "${custom.<split>_images}"
            continue
        assert name in DatasetCatalog.list(), f"{path}: dataset {name!r} is not registered"


@pytest.mark.parametrize("path", CONFIGS)
def test_model_builds_and_runs_after_shrinking(path):
    cfg = load_experiment(path)
    assert shrink(cfg), f"{path}: add a shrink rule for this model to this test"
    model = instantiate(cfg.model).eval()
    if hasattr(model, "inference"):  # SegViT / SETR: one whole-image pass
        model.inference = dataclasses.replace(model.inference, mode="whole")
    image = torch.randint(0, 256, (3, 48, 80), dtype=torch.uint8)
    with torch.no_grad():
        (result,) = model([{"image": image, "height": 48, "width": 80}])
    assert result["sem_seg"].shape == (num_classes(cfg), 48, 80)
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)
    assert optimizer.param_groups
    # ... and trains a step: finite losses, and the step changes the weights
    model.train()
    label = torch.randint(0, num_classes(cfg), (48, 80))
    losses = model([{"image": image, "sem_seg": label, "height": 48, "width": 80}])
    total = sum(losses.values())
    assert torch.isfinite(total), f"{path}: {losses}"
    before = [p.detach().clone() for p in model.parameters() if p.requires_grad]
    total.backward()
    optimizer.step()
    after = [p for p in model.parameters() if p.requires_grad]
    assert any(not torch.equal(a, b) for a, b in zip(after, before)), path
