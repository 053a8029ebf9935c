"""ATMCriterion(num_points=N): focal, dice and pixel CE on importance-sampled label pixels.

What a user relies on: with every pixel taken it is the dense (official) loss; with fewer it is the
dense per-pixel loss at the sampled pixels, whose gradient reaches only those pixels; ignore pixels
follow ``ignore_mode``; any crop size; the Shrunk (QU) head trains with it.
"""

import pytest
import torch
import torch.nn.functional as F

from segvit.modeling.heads.qu_head import QUATMHead
from segvit.modeling.losses import atm_criterion
from segvit.modeling.losses.atm_criterion import ATMCriterion
from segvit.modeling.losses.mask_losses import dice_loss, sigmoid_focal_loss
from segvit.modeling.losses.point_sampling import logits_at_pixels, sample_pixels

K, IGNORE = 4, 255
SIZE = (13, 10)  # odd and not square


def _labels(seed=0, size=SIZE):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, K, (2, *size), generator=g)
    labels[0, :3] = IGNORE  # an ignored band
    labels[1][labels[1] == 3] = 1  # class 3 absent from image 1
    return labels


def _outputs(seed=0, grids=((4, 3), (4, 3), (2, 2)), requires_grad=False):
    g = torch.Generator().manual_seed(seed + 100)

    def one(h, w):
        masks = torch.randn(2, K, h, w, generator=g, dtype=torch.float64)
        return {
            "pred_logits": torch.randn(2, K, K + 1, generator=g, dtype=torch.float64),
            "pred_masks": masks.requires_grad_(requires_grad),
        }

    final, *aux = [one(*grid) for grid in grids]
    return {**final, "aux_outputs": aux}


@pytest.fixture
def recorded(monkeypatch):
    """The pixels every ``sample_pixels`` call of the criterion returned, in call order."""
    calls = []

    def record(*args, **kwargs):
        pixels = sample_pixels(*args, **kwargs)
        calls.append(pixels)
        return pixels

    monkeypatch.setattr(atm_criterion, "sample_pixels", record)
    return calls


@pytest.mark.parametrize("ignore_mode", ["negative", "exclude"])
@pytest.mark.parametrize("mask_classes", ["present", "all"])
@pytest.mark.parametrize("grids", [((4, 3), (4, 3), (2, 2)), (SIZE,)])
def test_every_pixel_taken_equals_the_dense_loss(ignore_mode, mask_classes, grids):
    labels, outputs = _labels(), _outputs(grids=grids)
    common = dict(num_classes=K, ignore_mode=ignore_mode, mask_classes=mask_classes)
    dense = ATMCriterion(**common, pixel_ce_weight=10.0)(outputs, labels)
    for num_points in (SIZE[0] * SIZE[1], 10_000):  # H*W or more: every pixel once
        points = ATMCriterion(**common, pixel_ce_weight=10.0, num_points=num_points)
        got = points(outputs, labels)
        assert got.keys() == dense.keys() and "loss_pixel_ce" in got.keys()
        for name, value in dense.items():
            assert got[name].item() == pytest.approx(value.item(), rel=1e-9, abs=1e-12), name


@pytest.mark.parametrize("ignore_mode", ["negative", "exclude"])
def test_sampled_losses_are_the_dense_per_pixel_losses_at_the_sampled_pixels(ignore_mode, recorded):
    torch.manual_seed(0)
    labels, outputs = _labels(), _outputs(grids=((4, 3),))
    criterion = ATMCriterion(
        num_classes=K, ignore_mode=ignore_mode, pixel_ce_weight=10.0, num_points=40
    )
    got = criterion(outputs, labels)
    (pixels,) = recorded  # (B, 40): one point set per image, for its K masks and the pixel CE
    assert pixels.shape == (2, 40)
    flat_labels = labels.flatten(1)
    assert bool(flat_labels[0, pixels[0]].eq(IGNORE).any())  # an ignore pixel was sampled
    # Reference: the official upsampling to the label size, read at the sampled pixels.
    full = F.interpolate(outputs["pred_masks"], size=SIZE, mode="bilinear", align_corners=False)
    x = full.flatten(2).gather(2, pixels[:, None].expand(-1, K, -1))  # (B, K, 40)
    lab = flat_labels.gather(1, pixels)  # (B, 40)
    present = [(b, k) for b in range(2) for k in range(K) if (labels[b] == k).any()]
    assert len(present) == 7
    focal = dice = 0.0
    for b, k in present:
        valid = lab[b : b + 1] != IGNORE if ignore_mode == "exclude" else None
        target = (lab[b : b + 1] == k).double()
        focal = focal + sigmoid_focal_loss(x[b, k][None], target, valid=valid).sum()
        dice = dice + dice_loss(x[b, k][None], target, valid=valid).sum()
    pixel_ce = F.cross_entropy(x, lab, ignore_index=IGNORE)
    assert got["loss_focal"].item() == pytest.approx(20.0 * focal.item() / 7, rel=1e-9)
    assert got["loss_dice"].item() == pytest.approx(dice.item() / 7, rel=1e-9)
    assert got["loss_pixel_ce"].item() == pytest.approx(10.0 * pixel_ce.item(), rel=1e-9)


@pytest.mark.parametrize("ignore_mode", ["negative", "exclude"])
@pytest.mark.parametrize("mask_classes", ["present", "all"])
def test_gradient_reaches_the_sampled_pixels_of_the_supervised_masks_only(
    ignore_mode, mask_classes, recorded
):
    torch.manual_seed(1)
    labels = _labels()
    outputs = _outputs(grids=(SIZE,), requires_grad=True)  # masks at label size: one pixel each
    criterion = ATMCriterion(
        num_classes=K, ignore_mode=ignore_mode, mask_classes=mask_classes, num_points=30
    )
    losses = criterion(outputs, labels)
    (losses["loss_focal"] + losses["loss_dice"]).backward()
    grad = outputs["pred_masks"].grad.flatten(2)  # (B, K, H*W)
    (pixels,) = recorded  # (B, 30)
    sampled = torch.zeros(2, SIZE[0] * SIZE[1], dtype=torch.bool).scatter_(1, pixels, True)
    if ignore_mode == "exclude":  # sampled ignore pixels do not count
        sampled &= labels.flatten(1) != IGNORE
    supervised = torch.ones(2, K, dtype=torch.bool)
    if mask_classes == "present":
        supervised = torch.stack([(labels == k).flatten(1).any(1) for k in range(K)], dim=1)
        assert not supervised.all()  # class 3 is absent from image 1: its mask gets nothing
    expected = sampled[:, None] & supervised[..., None]  # (B, K, H*W)
    assert expected.sum() > 0 and (~expected).sum() > 0
    assert torch.equal(grad != 0, expected)


def test_pixel_ce_gradient_reaches_the_sampled_non_ignored_pixels_of_all_classes(recorded):
    torch.manual_seed(2)
    labels = _labels()
    outputs = _outputs(grids=(SIZE,), requires_grad=True)
    criterion = ATMCriterion(num_classes=K, pixel_ce_weight=1.0, num_points=25)
    criterion(outputs, labels)["loss_pixel_ce"].backward()
    (pixels,) = recorded  # (B, 25)
    expected = torch.zeros(2, SIZE[0] * SIZE[1], dtype=torch.bool).scatter_(1, pixels, True)
    expected &= labels.flatten(1) != IGNORE
    got = outputs["pred_masks"].grad.flatten(2) != 0  # (B, K, H*W)
    assert torch.equal(got, expected[:, None].expand(-1, K, -1))


def test_importance_sampling_picks_the_pixels_where_a_class_mask_is_uncertain():
    torch.manual_seed(0)
    logits = torch.full((1, 3, 16, 16), 10.0)
    logits[:, 1, :, :8] = 0.0  # class 1's mask uncertain on the left half, the others sure
    pixels = sample_pixels(
        logits, (16, 16), num_points=32, oversample_ratio=3.0, importance_sample_ratio=1.0
    )
    assert pixels.shape == (1, 32) and bool((pixels % 16 < 8).all())
    uniform = sample_pixels(
        logits, (16, 16), num_points=200, oversample_ratio=3.0, importance_sample_ratio=0.0
    )
    assert bool((uniform % 16 >= 8).any())


def test_logits_at_pixels_match_bilinear_upsampling_at_any_size():
    logits = torch.randn(3, 2, 5, 7, dtype=torch.float64)
    for size in ((13, 10), (5, 7), (1, 1), (64, 9)):
        pixels = torch.randint(0, size[0] * size[1], (3, 11))
        full = F.interpolate(logits, size=size, mode="bilinear", align_corners=False).flatten(2)
        expected = full.gather(2, pixels[:, None].expand(-1, 2, -1))
        torch.testing.assert_close(logits_at_pixels(logits, pixels, size), expected)


@pytest.mark.parametrize("ignore_mode", ["negative", "exclude"])
@pytest.mark.parametrize("mask_classes", ["present", "all"])
def test_all_ignored_crop_gives_finite_losses_and_gradients(ignore_mode, mask_classes):
    outputs = _outputs(requires_grad=True)
    labels = torch.full((2, *SIZE), IGNORE)
    criterion = ATMCriterion(
        num_classes=K,
        ignore_mode=ignore_mode,
        mask_classes=mask_classes,
        pixel_ce_weight=1.0,
        num_points=20,
    )
    losses = criterion(outputs, labels)
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert torch.isfinite(outputs["pred_masks"].grad).all()
    assert losses["loss_pixel_ce"].item() == 0.0


def test_bad_point_settings_fail_with_the_fix():
    with pytest.raises(ValueError, match="num_points"):
        ATMCriterion(num_classes=K, num_points=-1)
    with pytest.raises(ValueError, match="num_points"):
        ATMCriterion(num_classes=K, num_points=512.0)
    with pytest.raises(ValueError, match="loss_stride=1"):
        ATMCriterion(num_classes=K, num_points=512, loss_stride=4)
    with pytest.raises(ValueError, match="oversample_ratio"):
        ATMCriterion(num_classes=K, num_points=512, oversample_ratio=0.5)
    with pytest.raises(ValueError, match="importance_sample_ratio"):
        ATMCriterion(num_classes=K, num_points=512, importance_sample_ratio=1.5)


def _train_qu_head(criterion, steps=80):
    """A tiny QU + ATM head trained on fixed features; returns (dense loss before, after, keys)."""
    torch.manual_seed(0)
    head = QUATMHead(
        in_features=["block1", "block3"],
        in_channels=32,
        num_classes=K,
        query_grid=(4, 4),
        embed_dim=32,
        num_heads=4,
        qu_layers=1,
        atm_layers=2,
    )
    features = {"block1": torch.randn(2, 32, 4, 4), "block3": torch.randn(2, 32, 2, 2)}
    labels = torch.randint(0, K, (2, 4, 4)).repeat_interleave(8, 1).repeat_interleave(8, 2)
    dense = ATMCriterion(num_classes=K, pixel_ce_weight=1.0)

    def dense_loss():
        with torch.no_grad():
            return sum(dense(head(features), labels).values()).item()

    before = dense_loss()
    optimizer = torch.optim.Adam(head.parameters(), lr=3e-3)
    for _ in range(steps):
        losses = criterion(head(features), labels)
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
    return before, dense_loss(), set(losses)


def test_qu_head_trains_with_the_point_loss_as_with_the_dense_one():
    dense = ATMCriterion(num_classes=K, pixel_ce_weight=1.0)
    points = ATMCriterion(num_classes=K, pixel_ce_weight=1.0, num_points=64)  # of 32x32
    before, after_dense, _ = _train_qu_head(dense)
    _, after_points, keys = _train_qu_head(points)
    assert "loss_focal_0" in keys and "loss_pixel_ce_0" in keys  # every ATM layer supervised
    assert after_points < 0.6 * before, (before, after_points)
    assert after_points < 1.1 * after_dense, (after_dense, after_points)
