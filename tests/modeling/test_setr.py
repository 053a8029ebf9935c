"""SETR-naive baseline: head shapes, training step, inference modes, Detectron2 registries."""

import dataclasses

import pytest
import torch
from detectron2.modeling import build_model
from modeling_helpers import random_inputs as shared_random_inputs
from modeling_helpers import tiny_per_pixel_model
from yacs_helpers import tiny_setr_yacs_cfg

from segvit.modeling.heads.setr_head import SETRNaiveHead
from segvit.modeling.meta_arch.inference import InferenceConfig
from segvit.modeling.meta_arch.setr import SETR, PerPixelSegmentor

NUM_CLASSES = 5


def tiny_setr(inference=None) -> PerPixelSegmentor:
    return tiny_per_pixel_model("setr", NUM_CLASSES, inference)


def random_inputs(sizes, with_target=True):
    return shared_random_inputs(sizes, NUM_CLASSES, with_target)


@pytest.mark.parametrize("up_scale", [1, 4])
def test_head_output_shape(up_scale):
    head = SETRNaiveHead(
        in_feature="x", in_channels=64, num_classes=NUM_CLASSES, channels=16, up_scale=up_scale
    ).eval()
    with torch.no_grad():
        out = head({"x": torch.randn(2, 64, 5, 7)})
    assert out.shape == (2, NUM_CLASSES, 5 * up_scale, 7 * up_scale)


def test_train_step_gives_every_parameter_a_gradient():
    model = tiny_setr().train()
    losses = model(random_inputs([(64, 96), (67, 93)]))
    assert set(losses) == {"loss_sem_seg"}
    assert torch.isfinite(losses["loss_sem_seg"])
    losses["loss_sem_seg"].backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"parameters without gradient: {missing}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_all_ignored_target_gives_a_zero_loss():
    model = tiny_setr().train()
    inputs = random_inputs([(64, 64)])
    inputs[0]["sem_seg"][:] = 255
    loss = model(inputs)["loss_sem_seg"]
    assert loss.item() == 0.0


@pytest.mark.parametrize("size", [(64, 64), (67, 93), (33, 17)])
def test_inference_returns_probabilities_at_the_original_size(size):
    model = tiny_setr().eval()
    with torch.no_grad():
        (result,) = model(random_inputs([size], with_target=False))
    scores = result["sem_seg"]
    assert scores.shape == (NUM_CLASSES, *size)
    torch.testing.assert_close(scores.sum(0), torch.ones(size), rtol=1e-4, atol=1e-4)


def test_slide_equals_whole_when_the_window_covers_the_image():
    inputs = random_inputs([(64, 80)], with_target=False)
    model = tiny_setr().eval()
    with torch.no_grad():
        whole = model(inputs)[0]["sem_seg"]
        model.inference = InferenceConfig(mode="slide", crop_size=(64, 80), stride=(48, 48))
        slide = model(inputs)[0]["sem_seg"]
        model.inference = dataclasses.replace(model.inference, mode="ms_flip", scales=(1.0,))
        ms = model(inputs)[0]["sem_seg"]
    torch.testing.assert_close(whole, slide)
    assert ms.shape == whole.shape


def test_build_model_from_yacs():
    cfg = tiny_setr_yacs_cfg("SETRNaiveHead", NUM_CLASSES)
    cfg.MODEL.SEM_SEG_HEAD.CONVS_DIM, cfg.MODEL.SEM_SEG_HEAD.NORM = 16, "BN"
    model = build_model(cfg).eval()
    assert isinstance(model, PerPixelSegmentor) and isinstance(model.head, SETRNaiveHead)
    assert SETR is PerPixelSegmentor  # the old name, kept for yacs and LazyConfig files
    with torch.no_grad():
        (result,) = model(random_inputs([(48, 64)], with_target=False))
    assert result["sem_seg"].shape == (NUM_CLASSES, 48, 64)
