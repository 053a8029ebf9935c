"""QU + ATM head (Shrunk head), the naive-Shrunk ATM head, and Shrunk SegViT end to end."""

import pytest
import torch
import torch.nn.functional as F
from detectron2.config import get_cfg
from detectron2.layers import ShapeSpec
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY
from modeling_helpers import random_inputs

from segvit.config import add_segvit_config
from segvit.modeling.backbone.shrunk_vit import ShrunkViT
from segvit.modeling.heads.atm_head import ATMSingleHead, ATMSingleStageHead
from segvit.modeling.heads.qu_head import QUATMHead
from segvit.modeling.losses.atm_criterion import ATMCriterion
from segvit.modeling.meta_arch.segvit import SegViT

NUM_CLASSES = 5


def tiny_qu_head(**kwargs) -> QUATMHead:
    args = dict(
        in_features=["block1", "block3"],
        in_channels=64,
        num_classes=NUM_CLASSES,
        query_grid=(4, 4),
        embed_dim=32,
        num_heads=4,
        qu_layers=2,
        atm_layers=3,
    )
    args.update(kwargs)
    return QUATMHead(**args)


def tiny_shrunk_segvit(head: str = "qu") -> SegViT:
    backbone = ShrunkViT(
        pretrain_img_size=64,
        patch_size=16,
        embed_dim=64,
        depth=4,
        num_heads=4,
        drop_path_rate=0.1,
        shrink_idx=2,
        out_indices=(1, 3) if head == "qu" else (3,),
    )
    if head == "qu":
        module = tiny_qu_head()
    else:
        module = ATMSingleStageHead(
            in_feature="block3", in_channels=64, num_classes=NUM_CLASSES, embed_dim=32, num_heads=4
        )
    return SegViT(
        backbone=backbone,
        head=module,
        criterion=ATMCriterion(num_classes=NUM_CLASSES),
        pixel_mean=[127.5] * 3,
        pixel_std=[127.5] * 3,
    )


def features(batch=2, shallow=(4, 4), deep=(2, 2)):
    return {
        "block1": torch.randn(batch, 64, *shallow),
        "block3": torch.randn(batch, 64, *deep),
    }


def test_output_contract():
    head = tiny_qu_head().eval()
    with torch.no_grad():
        out = head(features())
    assert out["pred_logits"].shape == (2, NUM_CLASSES, NUM_CLASSES + 1)
    assert out["pred_masks"].shape == (2, NUM_CLASSES, 4, 4)  # the 1/16 grid
    assert len(out["aux_outputs"]) == 2  # 3 ATM layers: 2 aux + final, masks not summed
    for aux in out["aux_outputs"]:
        assert aux["pred_masks"].shape == (2, NUM_CLASSES, 4, 4)


def test_query_grid_follows_the_input_size():
    head = tiny_qu_head().eval()
    torch.testing.assert_close(head.queries((4, 4))[0], head.qu_queries.weight)
    resized = head.queries((5, 7))  # another input size: 80x112 image
    grid = head.qu_queries.weight.T.reshape(1, 32, 4, 4)
    expected = F.interpolate(grid, size=(5, 7), mode="bicubic", align_corners=False)
    torch.testing.assert_close(resized[0], expected.flatten(2)[0].T)
    with torch.no_grad():
        out = head(features(batch=1, shallow=(5, 7), deep=(3, 4)))
    assert out["pred_masks"].shape == (1, NUM_CLASSES, 5, 7)


def test_shrunk_head_parameter_count_matches_the_paper_arithmetic():
    """zbwxp/SegVit decode_heads/tpn_atm_head.py:TPNATMHead, counted by hand: ViT-L (C 1024,
    d 512, 16 heads), ADE20K 640 (K 150)."""
    head = QUATMHead(
        in_features=["block7", "block23"],
        in_channels=1024,
        num_classes=150,
        query_grid=(40, 40),
        embed_dim=512,
        num_heads=16,
    )
    assert sum(p.numel() for p in head.parameters()) == 39_861_399


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="query_grid"):
        tiny_qu_head(query_grid=(0, 4))
    with pytest.raises(ValueError, match="in_features"):
        tiny_qu_head(in_features=[])


@pytest.mark.parametrize("head", ["qu", "naive"])
def test_shrunk_segvit_train_step_gives_every_parameter_a_gradient(head):
    model = tiny_shrunk_segvit(head).train()
    losses = model(random_inputs([(64, 96), (67, 93)], NUM_CLASSES))
    assert any(k.endswith("_0") for k in losses), "per-layer supervision is missing"
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"parameters without gradient: {missing}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("size", [(64, 64), (64, 96), (67, 93), (33, 17)])
def test_shrunk_segvit_infers_on_any_size(size):
    model = tiny_shrunk_segvit().eval()
    image = torch.randint(0, 256, (3, *size), dtype=torch.uint8)
    with torch.no_grad():
        (result,) = model([{"image": image, "height": size[0], "width": size[1]}])
    assert result["sem_seg"].shape == (NUM_CLASSES, *size)
    assert torch.isfinite(result["sem_seg"]).all()


def test_registry_builds_from_yacs():
    cfg = add_segvit_config(get_cfg())
    qu = cfg.MODEL.SEGVIT.QU
    qu.IN_FEATURES = ["block1", "block3"]
    qu.QUERY_GRID = [4, 4]
    qu.EMBED_DIM, qu.NUM_HEADS, qu.QU_LAYERS, qu.ATM_LAYERS = 32, 4, 1, 2
    qu.FFN_RATIO, qu.DROPOUT = 4, 0.1
    cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = NUM_CLASSES
    shapes = {
        "block1": ShapeSpec(channels=64, stride=16),
        "block3": ShapeSpec(channels=64, stride=32),
    }
    head = SEM_SEG_HEADS_REGISTRY.get("QUATMHead")(cfg, shapes)
    assert isinstance(head, QUATMHead) and head.query_grid == (4, 4)
    cfg.MODEL.SEGVIT.ATM.IN_FEATURES = ["block3"]
    single = SEM_SEG_HEADS_REGISTRY.get("ATMSingleHead")(cfg, shapes)  # the official name
    assert type(single) is ATMSingleStageHead is ATMSingleHead and single.in_feature == "block3"
    with pytest.raises(ValueError, match="MODEL.SEGVIT.ATM.IN_FEATURES.*block7"):
        cfg.MODEL.SEGVIT.ATM.IN_FEATURES = ["block7"]
        SEM_SEG_HEADS_REGISTRY.get("ATMSingleStageHead")(cfg, shapes)
