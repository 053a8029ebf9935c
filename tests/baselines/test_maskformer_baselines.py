"""MaskFormer / Mask2Former baselines (maskformer2) and SegViT on Swin-T, on CPU with tiny models.

Every config is the real one from ``configs/common/models`` with its dimensions shrunk; the tests
build it with ``instantiate``, train one step and run inference on a non-square image.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from baseline_helpers import NUM_CLASSES, shrink_baseline
from detectron2.config import LazyConfig, instantiate

import segvit.baselines  # noqa: F401  (installs the fast_eval_api fallback first)
from segvit.analysis.flop_handles import FLOP_HANDLES
from segvit.baselines import (
    SwinBackbone,
    build_mask2former_criterion,
    build_maskformer_criterion,
    sem_seg_to_targets,
)
from segvit.baselines.criterion import batch_sigmoid_focal_cost
from segvit.modeling.losses.mask_losses import sigmoid_focal_loss

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs" / "common" / "models"

# Parameters whose gradient is exactly zero at initialisation, by construction of maskformer2's
# modules (all of them get a gradient tensor, and a non-zero one after the first update):
# - DETR decoder layer 0 self-attends over all-zero targets with zero-initialised biases, so its
#   value path and attention weights have no effect yet (MaskFormer);
# - the deformable encoder's level embedding only enters through the sampling-offset and
#   attention-weight projections, whose weights are initialised to zero (Mask2Former, SegViT-Swin).
ZERO_GRAD_AT_INIT = {
    "maskformer": {
        "sem_seg_head.predictor.transformer.decoder.layers.0.self_attn.in_proj_weight",
        "sem_seg_head.predictor.transformer.decoder.layers.0.self_attn.out_proj.weight",
        "sem_seg_head.predictor.transformer.decoder.layers.0.norm1.weight",
    },
    "mask2former": {"sem_seg_head.pixel_decoder.transformer.level_embed"},
    "segvit_swin": {"backbone.pixel_decoder.transformer.level_embed"},
}
ZERO_GRAD_AT_INIT["maskformer_vit"] = ZERO_GRAD_AT_INIT["maskformer"]
ZERO_GRAD_AT_INIT["mask2former_vit"] = ZERO_GRAD_AT_INIT["mask2former"]


def tiny_config(name: str):
    """The model config ``configs/common/models/{name}.py`` with tiny dimensions."""
    m = LazyConfig.load(str(CONFIGS / f"{name}.py")).model
    shrink_baseline(m)
    return m


def _train_batch():
    batch = []
    for _ in range(2):
        sem_seg = torch.randint(0, NUM_CLASSES, (64, 96))
        sem_seg[:8] = 255  # some ignored pixels
        image = torch.randint(0, 256, (3, 64, 96), dtype=torch.uint8)
        batch.append({"image": image, "sem_seg": sem_seg, "height": 64, "width": 96})
    return batch


def _module_grad(model, prefix: str) -> float:
    return sum(
        p.grad.abs().sum().item()
        for n, p in model.named_parameters()
        if n.startswith(prefix) and p.grad is not None
    )


GRAD_GROUPS = {
    "maskformer": {
        "backbone": "backbone.",
        "pixel decoder": "sem_seg_head.pixel_decoder.",
        "transformer decoder": "sem_seg_head.predictor.transformer.",
        "queries": "sem_seg_head.predictor.query_embed.",
    },
    "mask2former": {
        "backbone": "backbone.",
        "pixel decoder": "sem_seg_head.pixel_decoder.",
        "transformer decoder": "sem_seg_head.predictor.transformer_cross_attention_layers.",
        "query features": "sem_seg_head.predictor.query_feat.",
        "query positions": "sem_seg_head.predictor.query_embed.",
    },
    "segvit_swin": {
        "backbone": "backbone.net.",
        "neck": "backbone.pixel_decoder.",
        "ATM decoder": "head.decoders.",
        "class queries": "head.query_embed.",
    },
}
GRAD_GROUPS["maskformer_vit"] = GRAD_GROUPS["maskformer"]
GRAD_GROUPS["mask2former_vit"] = GRAD_GROUPS["mask2former"]


@pytest.mark.parametrize("name", sorted(GRAD_GROUPS))
def test_config_builds_trains_and_infers(name):
    model = instantiate(tiny_config(name))
    model.train()
    losses = model(_train_batch())
    loss = sum(losses.values())
    assert torch.isfinite(loss), losses
    loss.backward()

    params = dict(model.named_parameters())
    assert [n for n, p in params.items() if p.grad is None] == []
    zero = {n for n, p in params.items() if not p.grad.abs().sum() > 0}
    assert zero == ZERO_GRAD_AT_INIT.get(name, set())
    for group, prefix in GRAD_GROUPS[name].items():
        assert _module_grad(model, prefix) > 0, group

    model.eval()
    image = torch.randint(0, 256, (3, 70, 100), dtype=torch.uint8)
    with torch.no_grad():
        (out,) = model([{"image": image, "height": 70, "width": 100}])
    assert out["sem_seg"].shape == (NUM_CLASSES, 70, 100)
    assert torch.isfinite(out["sem_seg"]).all()


def test_output_is_resized_to_height_width():
    model = instantiate(tiny_config("mask2former")).eval()
    image = torch.randint(0, 256, (3, 70, 100), dtype=torch.uint8)
    with torch.no_grad():
        (out,) = model([{"image": image, "height": 35, "width": 50}])
    assert out["sem_seg"].shape == (NUM_CLASSES, 35, 50)


def test_loss_keys_and_weights_follow_the_decoder_depth():
    model = instantiate(tiny_config("mask2former")).train()
    losses = model(_train_batch())
    # 2 decoder layers + the prediction from the learnable queries: 2 auxiliary sets.
    expected = {f"loss_{k}{s}" for k in ("ce", "mask", "dice") for s in ("", "_0", "_1")}
    assert set(losses) == expected

    cfg = tiny_config("mask2former")
    cfg.criterion.dec_layers = 1  # fewer auxiliary weights than the decoder has outputs
    model = instantiate(cfg).train()
    with pytest.raises(ValueError, match="without a weight"):
        model(_train_batch())


def test_training_without_targets_fails_loudly():
    model = instantiate(tiny_config("maskformer")).train()
    batch = [{"image": torch.zeros(3, 64, 96, dtype=torch.uint8)}]
    with pytest.raises(ValueError, match="sem_seg"):
        model(batch)


def test_sem_seg_to_targets():
    sem_seg = torch.tensor([[0, 0, 255], [3, 3, 0]])
    targets = sem_seg_to_targets(sem_seg, ignore_value=255, padded_size=(3, 4))
    assert targets["labels"].tolist() == [0, 3]
    expected = torch.zeros(2, 3, 4, dtype=torch.bool)
    expected[0, :2, :3] = torch.tensor([[1, 1, 0], [0, 0, 1]], dtype=torch.bool)
    expected[1, :2, :3] = torch.tensor([[0, 0, 0], [1, 1, 0]], dtype=torch.bool)
    assert torch.equal(targets["masks"], expected)

    empty = sem_seg_to_targets(torch.full((2, 2), 255), ignore_value=255)
    assert empty["labels"].numel() == 0 and empty["masks"].shape == (0, 2, 2)


def test_criterion_builders():
    mf = build_maskformer_criterion(NUM_CLASSES, dec_layers=6)
    assert mf.weight_dict["loss_mask"] == 20.0 and mf.weight_dict["loss_dice"] == 1.0
    assert sorted(k for k in mf.weight_dict if k.startswith("loss_ce")) == ["loss_ce"] + [
        f"loss_ce_{i}" for i in range(5)
    ]
    m2f = build_mask2former_criterion(NUM_CLASSES, dec_layers=9)
    assert m2f.weight_dict["loss_ce"] == 2.0 and m2f.num_points == 12544
    assert f"loss_ce_{8}" in m2f.weight_dict and "loss_ce_9" not in m2f.weight_dict
    assert m2f.empty_weight[-1] == 0.1
    with pytest.raises(ValueError, match="num_points"):
        build_mask2former_criterion(NUM_CLASSES, num_points=0)


def test_maskformer_focal_match_cost_is_pairwise_focal_loss():
    logits, targets = torch.randn(4, 30), (torch.rand(3, 30) > 0.5).float()
    cost = batch_sigmoid_focal_cost(logits, targets)
    for i in range(4):
        pair = sigmoid_focal_loss(logits[i].expand(3, -1), targets)
        torch.testing.assert_close(cost[i], pair)


def test_maskformer_mask_loss_is_full_resolution_focal_and_dice():
    criterion = build_maskformer_criterion(2, dec_layers=1)
    pred = torch.randn(1, 3, 4, 4)  # (B, Q, h, w), upsampled x2 to the 8x8 target
    target_masks = torch.zeros(1, 8, 8)
    target_masks[0, :4] = 1
    targets = [{"labels": torch.tensor([1]), "masks": target_masks}]
    indices = [(torch.tensor([2]), torch.tensor([0]))]
    losses = criterion.loss_masks({"pred_masks": pred}, targets, indices, num_masks=1.0)
    up = F.interpolate(pred[:, 2:3], size=(8, 8), mode="bilinear", align_corners=False)
    prob, t = up.flatten().sigmoid(), target_masks.flatten()
    bce = F.binary_cross_entropy_with_logits(up.flatten(), t, reduction="none")
    p_t = prob * t + (1 - prob) * (1 - t)
    focal = ((0.25 * t + 0.75 * (1 - t)) * (1 - p_t) ** 2 * bce).mean()
    dice = 1 - (2 * (prob * t).sum() + 1) / (prob.sum() + t.sum() + 1)
    torch.testing.assert_close(losses["loss_mask"], focal)
    torch.testing.assert_close(losses["loss_dice"], dice)


def test_msdeformattn_runs_the_pure_pytorch_path_on_cpu(monkeypatch):
    from mask2former.modeling.pixel_decoder.ops.modules import ms_deform_attn as module

    calls = []
    original = module.ms_deform_attn_core_pytorch

    def spy(*args, **kwargs):
        calls.append(args[0].device)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, "ms_deform_attn_core_pytorch", spy)
    attn = module.MSDeformAttn(d_model=32, n_levels=2, n_heads=2, n_points=2)
    shapes = torch.tensor([[4, 6], [2, 3]])
    start = torch.tensor([0, 24])
    tokens = torch.randn(1, 30, 32, requires_grad=True)
    ref = torch.rand(1, 30, 2, 2)
    out = attn(tokens, ref, tokens, shapes, start)
    assert calls == [torch.device("cpu")]
    assert out.shape == (1, 30, 32) and torch.isfinite(out).all()
    out.sum().backward()
    assert attn.value_proj.weight.grad.abs().sum() > 0


def test_swin_backbone_names_and_odd_sizes():
    swin = SwinBackbone(embed_dim=32, depths=(1, 1, 1, 1), num_heads=(1, 2, 4, 8))
    assert swin.size_divisibility == 32
    shapes = swin.output_shape()
    assert list(shapes) == ["res2", "res3", "res4", "res5"]
    assert [s.stride for s in shapes.values()] == [4, 8, 16, 32]
    assert [s.channels for s in shapes.values()] == [32, 64, 128, 256]
    features = swin(torch.randn(1, 3, 70, 100))
    assert features["res2"].shape == (1, 32, 18, 25) and features["res5"].shape == (1, 256, 3, 4)


def test_neck_rejects_an_fpn_level():
    cfg = tiny_config("segvit_swin")
    cfg.backbone.pixel_decoder.common_stride = 4  # would add a stride-4 FPN level
    with pytest.raises(ValueError, match="common_stride"):
        instantiate(cfg.backbone)


def test_flop_handles_count_sampling_and_baddbmm():
    from fvcore.nn import FlopCountAnalysis

    class Ops(torch.nn.Module):
        def forward(self, x, grid, a, b1, b2):
            bilinear = F.grid_sample(x, grid, mode="bilinear", align_corners=False)
            nearest = F.grid_sample(x, grid, mode="nearest", align_corners=False)
            return bilinear, nearest, torch.baddbmm(a, b1, b2)

    inputs = (
        torch.randn(2, 3, 5, 5),
        torch.rand(2, 4, 6, 2) * 2 - 1,  # 2 x 3 channels x 24 samples = 144 outputs per call
        torch.randn(2, 4, 7),
        torch.randn(2, 4, 5),
        torch.randn(2, 5, 7),
    )
    analysis = FlopCountAnalysis(Ops(), inputs).set_op_handle(**FLOP_HANDLES)
    analysis.unsupported_ops_warnings(False)
    by_op = analysis.by_operator()
    assert by_op["grid_sampler"] == 144 * 4 + 144 * 1
    assert by_op["baddbmm"] == 2 * 4 * 5 * 7


@pytest.mark.parametrize("name", sorted(GRAD_GROUPS))
def test_config_round_trips_through_save(name, tmp_path):
    cfg = LazyConfig.load(str(CONFIGS / f"{name}.py"))
    LazyConfig.save(cfg, str(tmp_path / "config.yaml"))
    reloaded = LazyConfig.load(str(tmp_path / "config.yaml"))
    assert reloaded.model.criterion.num_classes == cfg.model.criterion.num_classes


def test_import_without_compiled_ops_in_a_fresh_process():
    """``import segvit.baselines`` makes maskformer2 importable and ``COCOeval_opt`` resolvable."""
    code = (
        "import segvit.baselines, mask2former\n"
        "from detectron2.evaluation.fast_eval_api import COCOeval_opt\n"
        "try:\n"
        "    from detectron2 import _C  # noqa: F401\n"
        "    compiled = True\n"
        "except ImportError:\n"
        "    compiled = False\n"
        "from pycocotools.cocoeval import COCOeval\n"
        "assert compiled or COCOeval_opt is COCOeval, COCOeval_opt\n"
        "print('ok', compiled)\n"
    )
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("ok")


def test_fallback_leaves_a_real_module_alone(monkeypatch):
    import types

    from segvit.baselines._compat import install_fast_eval_api_fallback

    real = types.ModuleType("detectron2.evaluation.fast_eval_api")
    real.COCOeval_opt = object()
    monkeypatch.setitem(sys.modules, "detectron2.evaluation.fast_eval_api", real)
    assert install_fast_eval_api_fallback() is False
    assert sys.modules["detectron2.evaluation.fast_eval_api"] is real
