"""ATM criterion and mask losses: hand-computed values, ignore modes, errors, overfitting."""

import math

import pytest
import torch

from segvit.modeling.heads.atm_head import ATMHead
from segvit.modeling.losses import atm_criterion
from segvit.modeling.losses.atm_criterion import ATMCriterion
from segvit.modeling.losses.mask_losses import dice_loss, sigmoid_focal_loss

K = 3
IGNORE = 255
# One 2x2 image: classes 0 and 2 present, class 1 absent, one ignored pixel.
LABEL = [[0, 2], [IGNORE, 0]]
LOGITS = [[2.0, -1.0, 0.5, 0.0], [0.3, 0.1, -0.4, 1.5], [-0.2, 0.4, 1.0, -1.0]]
MASKS = [[[2.0, -1.0], [0.5, 1.5]], [[0.1, 0.2], [0.3, 0.4]], [[-1.5, 2.5], [-0.5, -2.0]]]
AUX_LOGITS = [[0.5, 0.5, -1.0, 0.2], [1.0, -2.0, 0.0, 0.0], [0.0, 0.3, 0.6, 0.9]]
AUX_MASKS = [0.7, -0.3, -1.2]  # 1x1 maps: upsampled to 2x2 they are constant


# ---- references written with explicit formulas (plain Python floats) ----
def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def _ref_focal(xs, ts, valid, alpha=0.25, gamma=2.0):
    losses = []
    for x, t, v in zip(xs, ts, valid):
        if not v:
            continue
        p = _sigmoid(x)
        bce = -(t * math.log(p) + (1 - t) * math.log(1 - p))
        p_t = p * t + (1 - p) * (1 - t)
        alpha_t = alpha * t + (1 - alpha) * (1 - t)
        losses.append(alpha_t * (1 - p_t) ** gamma * bce)
    return sum(losses) / len(losses)


def _ref_dice(xs, ts, valid):
    ps = [_sigmoid(x) for x, v in zip(xs, valid) if v]
    ts = [t for t, v in zip(ts, valid) if v]
    inter = sum(p * t for p, t in zip(ps, ts))
    return 1 - (2 * inter + 1) / (sum(ps) + sum(ts) + 1)


def _ref_ce(rows, targets, no_object_weight=0.1):
    num = den = 0.0
    for row, t in zip(rows, targets):
        log_softmax = row[t] - math.log(sum(math.exp(v) for v in row))
        w = no_object_weight if t == len(row) - 1 else 1.0
        num += -w * log_softmax
        den += w
    return num / den


def _ref_losses(logits, masks_per_class, valid, num_masks, class_targets):
    """Weighted losses for the image LABEL; masks_per_class: class -> 4 flattened logits."""
    flat_label = [v for row in LABEL for v in row]
    focal = dice = 0.0
    for k, xs in masks_per_class.items():
        ts = [1.0 if v == k else 0.0 for v in flat_label]
        focal += _ref_focal(xs, ts, valid)
        dice += _ref_dice(xs, ts, valid)
    return {
        "loss_ce": _ref_ce(logits, class_targets),
        "loss_focal": 20.0 * focal / num_masks,
        "loss_dice": 1.0 * dice / num_masks,
    }


def _outputs(batch_logits, batch_masks, batch_aux_logits, batch_aux_masks):
    return {
        "pred_logits": torch.tensor(batch_logits, dtype=torch.float64),
        "pred_masks": torch.tensor(batch_masks, dtype=torch.float64),
        "aux_outputs": [
            {
                "pred_logits": torch.tensor(batch_aux_logits, dtype=torch.float64),
                "pred_masks": torch.tensor(batch_aux_masks, dtype=torch.float64)[..., None, None],
            }
        ],
    }


def _expected(ignore_mode, num_masks=2.0, class_targets=(0, K, 2), logits=LOGITS):
    valid = [True, True, ignore_mode == "negative", True]  # pixel (1, 0) is ignored
    flat = [[v for row in m for v in row] for m in MASKS]
    final = _ref_losses(logits, {0: flat[0], 2: flat[2]}, valid, num_masks, class_targets)
    aux_flat = {k: [AUX_MASKS[k]] * 4 for k in (0, 2)}
    aux = _ref_losses(AUX_LOGITS, aux_flat, valid, num_masks, class_targets)
    return final, {f"{k}_0": v for k, v in aux.items()}


def _assert_losses(got, expected):
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key].item() == pytest.approx(value, rel=1e-9, abs=1e-12), key


# ---- tests ----
@pytest.mark.parametrize("ignore_mode", ["negative", "exclude"])
def test_hand_computed_losses(ignore_mode):
    criterion = ATMCriterion(num_classes=K, ignore_mode=ignore_mode)
    got = criterion(_outputs([LOGITS], [MASKS], [AUX_LOGITS], [AUX_MASKS]), torch.tensor([LABEL]))
    final, aux = _expected(ignore_mode)
    _assert_losses(got, {**final, **aux})


@pytest.mark.parametrize("ignore_mode", ["negative", "exclude"])
def test_all_ignored_image_in_batch(ignore_mode):
    criterion = ATMCriterion(num_classes=K, ignore_mode=ignore_mode)
    other_logits = [[0.0, 1.0, 2.0, 3.0], [1.0, 0.0, 0.0, -1.0], [0.5, 0.5, 0.5, 0.5]]
    outputs = _outputs(
        [LOGITS, other_logits], [MASKS, MASKS], [AUX_LOGITS, AUX_LOGITS], [AUX_MASKS, AUX_MASKS]
    )
    targets = torch.tensor([LABEL, [[IGNORE, IGNORE], [IGNORE, IGNORE]]])
    got = criterion(outputs, targets)
    # Mask losses only see image 0 (2 masks); CE runs over all 6 queries, image 1 all no-object.
    final, aux = _expected(ignore_mode)
    final["loss_ce"] = _ref_ce(LOGITS + other_logits, [0, K, 2, K, K, K])
    aux["loss_ce_0"] = _ref_ce(AUX_LOGITS + AUX_LOGITS, [0, K, 2, K, K, K])
    _assert_losses(got, {**final, **aux})


def test_mask_classes_all_supervises_absent_classes_with_empty_masks():
    criterion = ATMCriterion(num_classes=K, mask_classes="all")
    got = criterion(_outputs([LOGITS], [MASKS], [AUX_LOGITS], [AUX_MASKS]), torch.tensor([LABEL]))
    valid = [True, True, True, True]  # "negative": the ignored pixel is a negative
    flat = [[v for row in m for v in row] for m in MASKS]
    final = _ref_losses(LOGITS, dict(enumerate(flat)), valid, 3.0, (0, K, 2))
    aux = _ref_losses(AUX_LOGITS, {k: [AUX_MASKS[k]] * 4 for k in range(K)}, valid, 3.0, (0, K, 2))
    _assert_losses(got, {**final, **{f"{k}_0": v for k, v in aux.items()}})
    with pytest.raises(ValueError, match="present.*all"):
        ATMCriterion(num_classes=K, mask_classes="some")


def _ref_pixel_ce(masks_per_pixel, labels):
    """Mean over non-ignored pixels of -log softmax across classes; masks_per_pixel: K lists."""
    terms = []
    for p, label in enumerate(labels):
        if label == IGNORE:
            continue
        column = [m[p] for m in masks_per_pixel]
        terms.append(math.log(sum(math.exp(v) for v in column)) - column[label])
    return sum(terms) / len(terms) if terms else 0.0


def test_pixel_ce_is_off_by_default_and_hand_computed_when_on():
    outputs = _outputs([LOGITS], [MASKS], [AUX_LOGITS], [AUX_MASKS])
    label = torch.tensor([LABEL])
    assert not any("pixel" in key for key in ATMCriterion(num_classes=K)(outputs, label))
    got = ATMCriterion(num_classes=K, pixel_ce_weight=5.0)(outputs, label)
    flat_label = [v for row in LABEL for v in row]
    final, aux = _expected("negative")
    final["loss_pixel_ce"] = 5.0 * _ref_pixel_ce(
        [[v for row in m for v in row] for m in MASKS], flat_label
    )
    aux["loss_pixel_ce_0"] = 5.0 * _ref_pixel_ce([[v] * 4 for v in AUX_MASKS], flat_label)
    _assert_losses(got, {**final, **aux})
    with pytest.raises(ValueError, match="pixel_ce_weight"):
        ATMCriterion(num_classes=K, pixel_ce_weight=-1.0)


def test_pixel_ce_of_an_all_ignored_batch_is_zero_with_finite_gradients():
    outputs = _outputs([LOGITS], [MASKS], [AUX_LOGITS], [AUX_MASKS])
    outputs["pred_masks"].requires_grad_(True)
    got = ATMCriterion(num_classes=K, pixel_ce_weight=1.0)(outputs, torch.full((1, 2, 2), IGNORE))
    assert got["loss_pixel_ce"].item() == 0 and got["loss_pixel_ce_0"].item() == 0
    sum(got.values()).backward()
    assert torch.isfinite(outputs["pred_masks"].grad).all()


def test_batch_without_any_class_gives_zero_mask_losses_and_no_nan():
    outputs = _outputs([LOGITS], [MASKS], [AUX_LOGITS], [AUX_MASKS])
    outputs["pred_masks"].requires_grad_(True)
    got = ATMCriterion(num_classes=K)(outputs, torch.full((1, 2, 2), IGNORE))
    assert got["loss_focal"].item() == 0 and got["loss_dice"].item() == 0
    assert got["loss_ce"].item() == pytest.approx(_ref_ce(LOGITS, [K, K, K]), rel=1e-9)
    sum(got.values()).backward()
    assert torch.isfinite(outputs["pred_masks"].grad).all()


def test_num_masks_is_averaged_over_processes(monkeypatch):
    def fake_all_reduce(tensor):  # another process holds 6 masks
        tensor += 6

    monkeypatch.setattr(atm_criterion.comm, "get_world_size", lambda: 2)
    monkeypatch.setattr(torch.distributed, "all_reduce", fake_all_reduce)
    got = ATMCriterion(num_classes=K)(
        _outputs([LOGITS], [MASKS], [AUX_LOGITS], [AUX_MASKS]), torch.tensor([LABEL])
    )
    final, aux = _expected("negative", num_masks=(2 + 6) / 2)
    _assert_losses(got, {**final, **aux})


def test_mask_loss_functions():
    logits = torch.tensor([[20.0, -20.0, 20.0], [0.0, 0.0, 0.0]])
    targets = torch.tensor([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    assert dice_loss(logits, targets)[0].item() == pytest.approx(0.0, abs=1e-6)
    assert dice_loss(logits, targets)[1].item() == pytest.approx(1 - 2 / 3.5)
    everything = torch.ones_like(targets, dtype=torch.bool)
    torch.testing.assert_close(
        sigmoid_focal_loss(logits, targets), sigmoid_focal_loss(logits, targets, valid=everything)
    )
    # alpha < 0 turns off alpha weighting: plain (1 - p_t)^2 BCE; at x = 0 that is 0.25 log 2.
    unweighted = sigmoid_focal_loss(logits[1:], targets[1:], alpha=-1)
    assert unweighted.item() == pytest.approx(0.25 * math.log(2))


@pytest.mark.parametrize("bad", [K, 7, -1])
def test_bad_label_value(bad):
    label = torch.tensor([[[0, bad], [IGNORE, 0]]])
    outputs = _outputs([LOGITS], [MASKS], [AUX_LOGITS], [AUX_MASKS])
    with pytest.raises(ValueError, match=rf"{bad}.*num_classes"):
        ATMCriterion(num_classes=K)(outputs, label)


def test_bad_arguments():
    with pytest.raises(ValueError, match="negative.*exclude"):
        ATMCriterion(num_classes=K, ignore_mode="mask")
    outputs = _outputs([LOGITS], [MASKS], [AUX_LOGITS], [AUX_MASKS])
    with pytest.raises(ValueError, match="pred_logits"):
        ATMCriterion(num_classes=K + 1)(outputs, torch.tensor([LABEL]))


def test_overfits_one_batch():
    c, k = 64, 5
    head = ATMHead(
        in_features=["a", "b", "c"],
        in_channels=c,
        num_classes=k,
        embed_dim=32,
        num_heads=4,
        dropout=0.0,
    )
    criterion = ATMCriterion(num_classes=k)
    features = {name: torch.randn(2, c, 4, 6) for name in ("a", "b", "c")}
    # Blocky 16x24 labels (4x4 blocks) so that 4x-upsampled 4x6 masks can fit them.
    target = torch.randint(0, k, (2, 4, 6)).repeat_interleave(4, 1).repeat_interleave(4, 2)
    target[1, :4] = IGNORE
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-3)
    history = []
    for _ in range(200):
        loss = sum(criterion(head(features), target).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    assert history[-1] < history[0] / 10, (history[0], history[-1])


def _strided_reference(outputs, labels, stride, num_classes, pixel_ce_weight):
    """The official losses restricted to the label pixels (o + s i, o + s j), o = s // 2, written
    the straightforward way: upsample the masks to the full label size, then take those pixels;
    which classes are present comes from every pixel."""
    o = stride // 2
    sampled = labels[:, o::stride, o::stride]
    present = [[bool((lab == k).any()) for k in range(num_classes)] for lab in labels]
    num_masks = max(sum(map(sum, present)), 1)
    expected = {}
    heads = [("", outputs)] + [(f"_{i}", a) for i, a in enumerate(outputs["aux_outputs"])]
    for suffix, out in heads:
        full = torch.nn.functional.interpolate(
            out["pred_masks"], size=labels.shape[-2:], mode="bilinear", align_corners=False
        )[..., o::stride, o::stride]
        classes = torch.tensor(
            [[k if p[k] else num_classes for k in range(num_classes)] for p in present]
        )
        weight = torch.ones(num_classes + 1, dtype=torch.float64)
        weight[-1] = 0.1
        ce = torch.nn.functional.cross_entropy(
            out["pred_logits"].transpose(1, 2), classes, weight=weight
        )
        focal = dice = 0.0
        for b in range(labels.shape[0]):
            for k in range(num_classes):
                if present[b][k]:
                    x = full[b, k].flatten()[None]
                    t = (sampled[b] == k).flatten()[None].double()
                    focal = focal + sigmoid_focal_loss(x, t).sum()
                    dice = dice + dice_loss(x, t).sum()
        pixel = torch.nn.functional.cross_entropy(full, sampled.long(), ignore_index=IGNORE)
        expected.update(
            {
                f"loss_ce{suffix}": ce,
                f"loss_focal{suffix}": 20.0 * focal / num_masks,
                f"loss_dice{suffix}": dice / num_masks,
                f"loss_pixel_ce{suffix}": pixel_ce_weight * pixel,
            }
        )
    return expected


@pytest.mark.parametrize("stride", [2, 3, 4])
def test_loss_stride_equals_the_official_losses_on_the_sampled_pixels(stride):
    g = torch.Generator().manual_seed(stride)
    k, size = 4, (13, 10)  # sizes that the stride does not divide
    labels = torch.randint(0, k, (2, *size), generator=g)
    labels[0, :3] = IGNORE
    labels[1, 0, 0] = 3  # class 3 only where no sampled pixel is: still "present" in image 1
    labels[1][labels[1] == 3] = 2
    labels[1, 0, 0] = 3

    def output(h, w):
        return {
            "pred_logits": torch.randn(2, k, k + 1, generator=g, dtype=torch.float64),
            "pred_masks": torch.randn(2, k, h, w, generator=g, dtype=torch.float64),
        }

    outputs = {**output(4, 3), "aux_outputs": [output(4, 3), output(2, 2)]}
    crit = ATMCriterion(num_classes=k, pixel_ce_weight=10.0, loss_stride=stride)
    got = crit(outputs, labels)
    expected = _strided_reference(outputs, labels, stride, k, 10.0)
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert got[name].item() == pytest.approx(value.item(), rel=1e-9, abs=1e-12), name
    # Without the pixel CE the same path serves focal and dice.
    got = ATMCriterion(num_classes=k, loss_stride=stride)(outputs, labels)
    for name in ("loss_focal", "loss_dice_1", "loss_ce_0"):
        assert got[name].item() == pytest.approx(expected[name].item(), rel=1e-9), name


def test_loss_stride_one_is_the_paper_loss_and_bad_strides_fail():
    outputs = _outputs([LOGITS], [MASKS], [AUX_LOGITS], [AUX_MASKS])
    label = torch.tensor([LABEL])
    plain = ATMCriterion(num_classes=K, pixel_ce_weight=2.0)(outputs, label)
    strided = ATMCriterion(num_classes=K, pixel_ce_weight=2.0, loss_stride=1)(outputs, label)
    assert {n: v.item() for n, v in plain.items()} == {n: v.item() for n, v in strided.items()}
    for bad in (0, -2, 2.0):
        with pytest.raises(ValueError, match="loss_stride"):
            ATMCriterion(num_classes=K, loss_stride=bad)


def test_upsample_at_stride_matches_interpolate_then_subsample():
    masks = torch.randn(2, 3, 16, 12, dtype=torch.float64)
    for stride, size in ((1, (128, 96)), (4, (128, 96)), (3, (130, 97)), (8, (50, 40))):
        o = stride // 2
        full = torch.nn.functional.interpolate(
            masks, size=size, mode="bilinear", align_corners=False
        )[..., o::stride, o::stride]
        got = atm_criterion.upsample_at_stride(masks, size, stride)
        assert got.shape == full.shape
        torch.testing.assert_close(got, full, rtol=0, atol=1e-12)
