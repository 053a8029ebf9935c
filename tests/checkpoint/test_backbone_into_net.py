"""SafeCheckpointer loads a ViT checkpoint (``backbone.<key>``) into a ViT wrapped by
SimpleFeaturePyramid (``backbone.net.<key>``), and leaves matching layouts alone."""

import logging

import torch
from torch import nn

from segvit.checkpoint import SafeCheckpointer


class Wrapped(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Module()
        self.backbone.net = nn.Linear(2, 2)  # the ViT
        self.backbone.neck = nn.Linear(2, 2)  # new (ViTDet's simple pyramid)


class Plain(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(2, 2)


def save(tmp_path, state):
    path = tmp_path / "ckpt.pth"
    torch.save({"model": state}, path)
    return str(path)


def test_backbone_keys_load_into_backbone_net(tmp_path):
    weights = {"backbone.weight": torch.ones(2, 2), "backbone.bias": torch.ones(2)}
    model = Wrapped()
    # the module's own logger: Detectron2's setup_logger may stop "segvit" from propagating
    logger = logging.getLogger("segvit.checkpoint.checkpointer")
    records = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: records.append(record.getMessage())
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        checkpointer = SafeCheckpointer(model)
        checkpointer.load(save(tmp_path, weights), checkpointables=[])
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert torch.equal(model.backbone.net.weight, torch.ones(2, 2))
    assert torch.equal(model.backbone.net.bias, torch.ones(2))
    assert set(checkpointer.last_incompatible.missing_keys) == {
        "backbone.neck.weight",
        "backbone.neck.bias",
    }
    assert not checkpointer.last_incompatible.unexpected_keys
    assert any("backbone.net." in message for message in records)


def test_matching_layouts_are_not_renamed(tmp_path):
    weights = {"backbone.weight": torch.ones(2, 2), "backbone.bias": torch.ones(2)}
    model = Plain()
    checkpointer = SafeCheckpointer(model)
    checkpointer.load(save(tmp_path, weights), checkpointables=[])
    assert torch.equal(model.backbone.weight, torch.ones(2, 2))
    assert not checkpointer.last_incompatible.missing_keys
    # a checkpoint already in the backbone.net. layout loads as it is
    net_weights = {"backbone.net.weight": torch.full((2, 2), 2.0)}
    wrapped = Wrapped()
    SafeCheckpointer(wrapped).load(save(tmp_path, net_weights), checkpointables=[])
    assert torch.equal(wrapped.backbone.net.weight, torch.full((2, 2), 2.0))
