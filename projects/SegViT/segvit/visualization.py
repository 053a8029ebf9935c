"""Pictures of predictions: colour label maps, overlays and input|GT|prediction|masks panels,
with a legend of the classes drawn (colour swatch + name) and a colour bar for the mask maps.

All images are uint8 numpy arrays, RGB, (H, W, 3); label maps are (H, W) integers with 255 = ignore.
Ignored pixels are left uncoloured in overlays (the image shows through), and no class is drawn in
black (:func:`visible_colors`), which would darken an overlay wherever that class is.
"""

from typing import List, Optional, Sequence

import cv2
import numpy as np

from .data.datasets.folder import make_palette  # the VOC-style palette, never black

IGNORE_COLOR = (0, 0, 0)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_ROW = 18  # height of a legend row / title bar in pixels


def visible_colors(colors: Sequence[Sequence[int]]) -> List[List[int]]:
    """``colors`` with near-black entries (R + G + B < 60) replaced by distinct palette colours
    that are not black and not already used: a black class darkens every overlay it covers."""
    out = [list(map(int, c)) for c in colors]
    used = {tuple(c) for c in out}
    spare = (c for c in make_palette(256) if tuple(c) not in used)
    return [next(spare) if sum(c) < 60 else c for c in out]


def colorize(
    label: np.ndarray, colors: Sequence[Sequence[int]], ignore_label: int = 255
) -> np.ndarray:
    """(H, W) class indices -> (H, W, 3) RGB using ``colors[k]``; ignore is black."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[: len(colors)] = np.asarray(colors, dtype=np.uint8)[:256]
    palette[ignore_label] = IGNORE_COLOR
    return palette[label.astype(np.int64).clip(0, 255)]


def overlay(
    image: np.ndarray, label: np.ndarray, colors, alpha: float = 0.5, ignore_label: int = 255
) -> np.ndarray:
    """Blend a colourised label map over an RGB image (uint8 in and out, rounded); pixels of
    ``ignore_label`` keep the image.

    ``cv2.addWeighted`` blends in uint8 without float copies of the image: on a 6000x4000 photo
    the float32/float64 temporaries of a NumPy blend would take about 1.5 GB.
    """
    image = np.ascontiguousarray(image, dtype=np.uint8)
    blended = cv2.addWeighted(image, 1 - alpha, colorize(label, colors, ignore_label), alpha, 0.0)
    ignored = label == ignore_label
    if ignored.any():
        blended[ignored] = image[ignored]
    return blended


def heatmap(prob: np.ndarray) -> np.ndarray:
    """(H, W) probabilities in [0, 1] -> (H, W, 3) RGB heat map."""
    gray = (prob.clip(0, 1) * 255).astype(np.uint8)
    return cv2.applyColorMap(gray, cv2.COLORMAP_VIRIDIS)[..., ::-1]


def _titled(tile: np.ndarray, title: str) -> np.ndarray:
    bar = np.full((_ROW, tile.shape[1], 3), 255, dtype=np.uint8)
    cv2.putText(bar, title[:40], (3, 13), _FONT, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, tile], axis=0)


def legend(
    class_ids: Sequence[int],
    class_names: Sequence[str],
    colors: Sequence[Sequence[int]],
    width: int,
    notes: Optional[Sequence[str]] = None,
) -> np.ndarray:
    """A white strip ``width`` pixels wide: a colour swatch and the name of each class in
    ``class_ids`` (with ``notes[i]`` after it, e.g. its area), wrapped over as many rows as needed.

    Returns:
        (rows * 18, width, 3) uint8 RGB.
    """
    items = []
    for i, k in enumerate(class_ids):
        text = f"{k}: {class_names[k]}" + (f" {notes[i]}" if notes else "")
        text_w = cv2.getTextSize(text, _FONT, 0.4, 1)[0][0]
        items.append((k, text, 12 + 4 + text_w + 12))  # swatch, gap, text, spacing
    rows: List[List[tuple]] = [[]]
    used = 3
    for item in items:
        if rows[-1] and used + item[2] > width:
            rows.append([])
            used = 3
        rows[-1].append(item)
        used += item[2]
    strip = np.full((_ROW * len(rows), width, 3), 255, dtype=np.uint8)
    for r, row in enumerate(rows):
        x, y = 3, r * _ROW
        for k, text, w in row:
            color = tuple(int(c) for c in colors[k])
            cv2.rectangle(strip, (x, y + 3), (x + 11, y + 14), color, thickness=-1)
            cv2.rectangle(strip, (x, y + 3), (x + 11, y + 14), (90, 90, 90), thickness=1)
            cv2.putText(strip, text, (x + 16, y + 13), _FONT, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
            x += w
    return strip


def colorbar(height: int, width: int = 44) -> np.ndarray:
    """A vertical scale for :func:`heatmap` tiles: the colour of 1.0 at the top, 0.0 at the
    bottom, labelled 1, 0.5 and 0. Returns (height, width, 3) uint8 RGB."""
    ramp = np.linspace(1.0, 0.0, height, dtype=np.float32)[:, None].repeat(10, axis=1)
    bar = np.full((height, width, 3), 255, dtype=np.uint8)
    bar[:, 2:12] = heatmap(ramp)
    for value, y in ((1.0, 9), (0.5, height // 2 + 4), (0.0, height - 2)):
        cv2.putText(bar, f"{value:g}", (15, y), _FONT, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
    return bar


def top_classes(pred: np.ndarray, k: int, ignore_label: int = 255) -> List[int]:
    """The ``k`` classes covering the most pixels of a predicted label map."""
    values, counts = np.unique(pred[pred != ignore_label], return_counts=True)
    return [int(v) for v in values[np.argsort(-counts)][:k]]


def prediction_panel(
    image: np.ndarray,
    pred: np.ndarray,
    colors,
    class_names: Sequence[str],
    gt: Optional[np.ndarray] = None,
    mask_probs: Optional[np.ndarray] = None,
    num_masks: int = 3,
) -> np.ndarray:
    """One row: input | ground truth (if given) | prediction | ATM masks of the top classes and
    their colour bar; under it, a legend of the classes in the ground truth and the prediction.

    Args:
        image: (H, W, 3) RGB input.
        pred: (H, W) predicted classes.
        gt: (H, W) ground truth, 255 = ignore (left uncoloured).
        mask_probs: (K, H, W) sigmoid masks of the class queries (query k <-> class k).
    """
    colors = visible_colors(colors)
    tiles = [_titled(image, "input")]
    if gt is not None:
        tiles.append(_titled(overlay(image, gt, colors, 0.7), "ground truth"))
    tiles.append(_titled(overlay(image, pred, colors, 0.7), "prediction"))
    if mask_probs is not None:
        for k in top_classes(pred, num_masks):
            tiles.append(_titled(heatmap(mask_probs[k]), f"mask: {class_names[k]}"))
        tiles.append(_titled(colorbar(image.shape[0]), "prob."))
    gap = np.full((tiles[0].shape[0], 4, 3), 255, dtype=np.uint8)
    row = np.concatenate([t for tile in tiles for t in (tile, gap)][:-1], axis=1)
    shown = set(np.unique(pred).tolist())
    if gt is not None:
        shown |= set(np.unique(gt).tolist())
    ids = sorted(k for k in shown if 0 <= k < len(class_names))
    key = legend(ids, class_names, colors, row.shape[1])
    return np.concatenate([row, key], axis=0)


def overlay_with_legend(
    image: np.ndarray, label: np.ndarray, colors, class_names: Sequence[str], alpha: float = 0.5
) -> np.ndarray:
    """:func:`overlay` of a predicted label map with a legend strip under it: each class drawn,
    largest first, with its share of the pixels. Returns (H + legend, W, 3) uint8 RGB."""
    colors = visible_colors(colors)
    values, counts = np.unique(label, return_counts=True)
    order = [i for i in np.argsort(-counts) if 0 <= values[i] < len(class_names)]
    ids = [int(values[i]) for i in order]
    notes = [f"{100.0 * counts[i] / label.size:.1f}%" for i in order]
    width = image.shape[1]
    scale = max(1, round(width / 640))  # a legend as readable on a photo as on a small image
    key = legend(ids, class_names, colors, max(width // scale, 1), notes)
    if scale > 1:
        key = cv2.resize(key, (width, key.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
    return np.concatenate([overlay(image, label, colors, alpha), key], axis=0)
