"""Pictures of predictions: colour label maps, overlays and input|GT|prediction|masks panels.

All images are uint8 numpy arrays, RGB, (H, W, 3); label maps are (H, W) integers with 255 = ignore.
"""

from typing import List, Optional, Sequence

import cv2
import numpy as np

IGNORE_COLOR = (0, 0, 0)


def colorize(
    label: np.ndarray, colors: Sequence[Sequence[int]], ignore_label: int = 255
) -> np.ndarray:
    """(H, W) class indices -> (H, W, 3) RGB using ``colors[k]``; ignore is black."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[: len(colors)] = np.asarray(colors, dtype=np.uint8)[:256]
    palette[ignore_label] = IGNORE_COLOR
    return palette[label.astype(np.int64).clip(0, 255)]


def overlay(image: np.ndarray, label: np.ndarray, colors, alpha: float = 0.5) -> np.ndarray:
    """Blend a colourised label map over an RGB image (uint8 in and out, rounded).

    ``cv2.addWeighted`` blends in uint8 without float copies of the image: on a 6000x4000 photo
    the float32/float64 temporaries of a NumPy blend would take about 1.5 GB.
    """
    image = np.ascontiguousarray(image, dtype=np.uint8)
    return cv2.addWeighted(image, 1 - alpha, colorize(label, colors), alpha, 0.0)


def heatmap(prob: np.ndarray) -> np.ndarray:
    """(H, W) probabilities in [0, 1] -> (H, W, 3) RGB heat map."""
    gray = (prob.clip(0, 1) * 255).astype(np.uint8)
    return cv2.applyColorMap(gray, cv2.COLORMAP_VIRIDIS)[..., ::-1]


def _titled(tile: np.ndarray, title: str) -> np.ndarray:
    bar = np.full((18, tile.shape[1], 3), 255, dtype=np.uint8)
    cv2.putText(bar, title[:40], (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, tile], axis=0)


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
    """One row: input | ground truth (if given) | prediction | ATM masks of the top classes.

    Args:
        image: (H, W, 3) RGB input.
        pred: (H, W) predicted classes.
        gt: (H, W) ground truth, 255 = ignore.
        mask_probs: (K, H, W) sigmoid masks of the class queries (query k <-> class k).
    """
    tiles = [_titled(image, "input")]
    if gt is not None:
        tiles.append(_titled(overlay(image, gt, colors, 0.7), "ground truth"))
    tiles.append(_titled(overlay(image, pred, colors, 0.7), "prediction"))
    if mask_probs is not None:
        for k in top_classes(pred, num_masks):
            tiles.append(_titled(heatmap(mask_probs[k]), f"mask: {class_names[k]}"))
    gap = np.full((tiles[0].shape[0], 4, 3), 255, dtype=np.uint8)
    row = [t for tile in tiles for t in (tile, gap)][:-1]
    return np.concatenate(row, axis=1)
