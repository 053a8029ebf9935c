"""SegViT meta-architecture: training losses, inference shapes and modes, Detectron2 registries."""

import dataclasses

import pytest
import torch
from detectron2.config import get_cfg
from detectron2.modeling import build_model
from modeling_helpers import random_inputs as shared_random_inputs
from modeling_helpers import tiny_segvit as shared_tiny_segvit

from segvit import add_segvit_config
from segvit.modeling.meta_arch.inference import InferenceConfig, slide_windows
from segvit.modeling.meta_arch.postprocess import combine_masks_and_classes
from segvit.modeling.meta_arch.segvit import SegViT

NUM_CLASSES = 5


def tiny_segvit(inference=None) -> SegViT:
    return shared_tiny_segvit(NUM_CLASSES, inference)


def random_inputs(sizes, with_target=True):
    return shared_random_inputs(sizes, NUM_CLASSES, with_target)


def test_train_step_gives_every_parameter_a_gradient():
    model = tiny_segvit().train()
    losses = model(random_inputs([(64, 96), (67, 93)]))
    assert {"loss_ce", "loss_focal", "loss_dice"} <= set(losses)
    assert any(k.endswith("_0") for k in losses), "deep supervision losses are missing"
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"parameters without gradient: {missing}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("size", [(64, 64), (64, 96), (67, 93), (33, 17)])
def test_inference_returns_scores_at_the_original_size(size):
    model = tiny_segvit().eval()
    inputs = random_inputs([size], with_target=False)
    inputs[0]["height"], inputs[0]["width"] = size[0] * 2, size[1] + 3  # as after a test resize
    with torch.no_grad():
        (out,) = model(inputs)
    assert out["sem_seg"].shape == (NUM_CLASSES, size[0] * 2, size[1] + 3)
    assert torch.isfinite(out["sem_seg"]).all()


def test_slide_equals_whole_when_the_window_covers_the_image():
    model = tiny_segvit(InferenceConfig(mode="whole")).eval()
    inputs = random_inputs([(67, 93)], with_target=False)
    with torch.no_grad():
        whole = model(inputs)[0]["sem_seg"]
        model.inference = InferenceConfig(mode="slide", crop_size=(96, 96), stride=(64, 64))
        slide = model(inputs)[0]["sem_seg"]
    torch.testing.assert_close(slide, whole, atol=1e-6, rtol=0)


def test_slide_with_several_windows_and_multiscale_flip_run():
    model = tiny_segvit(InferenceConfig(mode="slide", crop_size=(48, 48), stride=(32, 32))).eval()
    inputs = random_inputs([(67, 93)], with_target=False)
    with torch.no_grad():
        slide = model(inputs)[0]["sem_seg"]
        model.inference = dataclasses.replace(model.inference, mode="ms_flip", scales=(0.75, 1.0))
        ms = model(inputs)[0]["sem_seg"]
    assert slide.shape == ms.shape == (NUM_CLASSES, 67, 93)
    assert not torch.allclose(slide, ms)


def test_slide_windows_follow_mmseg():
    assert slide_windows(512, 512, 341) == [0]
    assert slide_windows(300, 512, 341) == [0]
    assert slide_windows(683, 512, 341) == [0, 171]  # last window flush with the border
    assert slide_windows(1024, 512, 341) == [0, 341, 512]


def test_combination_sums_class_probabilities_times_masks_over_queries():
    logits = torch.randn(1, 3, 3)  # 3 queries, 2 classes + no-object
    masks = torch.randn(1, 3, 2, 2)
    expected = torch.zeros(1, 2, 2, 2)
    probs = logits.softmax(-1)
    for q in range(3):
        for k in range(2):
            expected[0, k] += probs[0, q, k] * masks[0, q].sigmoid()
    torch.testing.assert_close(combine_masks_and_classes(logits, masks), expected)


def test_bad_inference_mode_is_a_clear_error():
    with pytest.raises(ValueError, match="slide"):
        InferenceConfig(mode="sliding")


def test_yacs_build_model_through_registries():
    cfg = add_segvit_config(get_cfg())
    cfg.MODEL.META_ARCHITECTURE = "SegViT"
    cfg.MODEL.BACKBONE.NAME = "SegViTViT"
    cfg.MODEL.SEM_SEG_HEAD.NAME = "ATMHead"
    cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = NUM_CLASSES
    cfg.MODEL.DEVICE = "cpu"
    vit = cfg.MODEL.SEGVIT.VIT
    vit.PRETRAIN_IMG_SIZE, vit.EMBED_DIM, vit.DEPTH, vit.NUM_HEADS = 64, 64, 3, 4
    vit.OUT_INDICES = [0, 1, 2]
    cfg.MODEL.SEGVIT.ATM.IN_FEATURES = ["block2", "block1", "block0"]
    cfg.MODEL.SEGVIT.ATM.EMBED_DIM, cfg.MODEL.SEGVIT.ATM.NUM_HEADS = 32, 4
    cfg.MODEL.PIXEL_MEAN, cfg.MODEL.PIXEL_STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
    cfg.MODEL.SEGVIT.LOSS.PIXEL_CE_WEIGHT = 2.0
    cfg.MODEL.SEGVIT.LOSS.LOSS_STRIDE = 4
    model = build_model(cfg)
    assert isinstance(model, SegViT)
    assert model.criterion.pixel_ce_weight == 2.0 and model.criterion.mask_classes == "present"
    assert model.criterion.loss_stride == 4
    model.eval()
    with torch.no_grad():
        (out,) = model(random_inputs([(48, 80)], with_target=False))
    assert out["sem_seg"].shape == (NUM_CLASSES, 48, 80)
