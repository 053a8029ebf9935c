"""Pictures a user can read (segvit/visualization.py): a legend of the classes drawn, a colour
bar beside the ATM masks, no class drawn in black, ignored pixels left uncoloured."""

import numpy as np

from segvit.data.datasets.folder import make_palette
from segvit.data.synthetic import SYNTHETIC_COLORS
from segvit.visualization import (
    colorbar,
    legend,
    overlay,
    overlay_with_legend,
    prediction_panel,
    visible_colors,
)

NAMES = [f"class{k}" for k in range(8)]


def _scene():
    rng = np.random.RandomState(0)
    image = (rng.rand(64, 96, 3) * 255).astype(np.uint8)
    pred = np.zeros((64, 96), np.int64)
    pred[10:40, 20:60] = 3
    gt = pred.copy()
    gt[:4] = 255
    gt[50:, 70:] = 6  # a class only in the ground truth
    return image, pred, gt


def test_no_class_colour_is_black():
    assert all(sum(c) > 0 for c in make_palette(256))
    colors = visible_colors([[0, 0, 0], [10, 10, 10]] + SYNTHETIC_COLORS[2:])
    assert all(sum(c) >= 60 for c in colors)
    assert len({tuple(c) for c in colors}) == len(colors)  # replacements are distinct
    assert colors[2:] == [list(c) for c in SYNTHETIC_COLORS[2:]]  # visible colours are kept


def test_panel_has_a_legend_row_with_the_classes_of_gt_and_prediction():
    image, pred, gt = _scene()
    colors = visible_colors(SYNTHETIC_COLORS)
    masks = np.random.RandomState(1).rand(8, 64, 96).astype(np.float32)
    panel = prediction_panel(image, pred, colors, NAMES, gt=gt, mask_probs=masks)
    title, row = 18, 64
    assert panel.shape[0] == title + row + 18  # one legend row under the tiles
    strip = panel[title + row :]
    for k in (0, 3, 6):  # background, predicted, ground-truth-only class: a swatch each
        assert (strip == colors[k]).all(axis=-1).sum() >= 50, f"no swatch for class {k}"
    assert not (strip == colors[5]).all(axis=-1).any()  # a class not drawn is not listed


def test_mask_tiles_end_with_a_colour_bar_from_0_to_1():
    bar = colorbar(100)
    top, bottom = bar[0, 6], bar[-1, 6]
    assert bar.shape == (100, 44, 3)
    assert top[1] > 200 and bottom[2] > bottom[1]  # viridis: yellow at 1, dark violet at 0
    image, pred, gt = _scene()
    masks = np.zeros((8, 64, 96), np.float32)
    with_masks = prediction_panel(image, pred, SYNTHETIC_COLORS, NAMES, mask_probs=masks)
    without = prediction_panel(image, pred, SYNTHETIC_COLORS, NAMES)
    assert with_masks.shape[1] > without.shape[1] + 44  # mask tiles plus the bar


def test_overlay_leaves_ignored_pixels_and_lists_classes_by_area():
    image, pred, gt = _scene()
    out = overlay(image, gt, SYNTHETIC_COLORS, alpha=0.7)
    assert (out[:4] == image[:4]).all()
    shown = overlay_with_legend(image, pred, SYNTHETIC_COLORS, NAMES)
    assert shown.shape[1] == 96 and shown.shape[0] > 64
    strip = legend([0, 3], NAMES, SYNTHETIC_COLORS, 96, ["80%", "20%"])
    assert strip.shape[1] == 96 and strip.shape[0] % 18 == 0
