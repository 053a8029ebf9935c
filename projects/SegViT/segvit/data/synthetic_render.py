"""Drawing one sample of the synthetic dataset: textured background, overlapping shapes, labels.

A shape's class shows in its outline and in its fill texture (stripes, dots, ...: one per class,
turning with the shape), never in its colour alone: each hue fills two classes.

Pure functions of a numpy ``Generator``: :func:`render_sample` returns an RGB image and its
aligned label map. Writing to disk and registration live in :mod:`segvit.data.synthetic`.
"""

from typing import List, Tuple

import cv2
import numpy as np

__all__ = ["SYNTHETIC_CLASSES", "IGNORE_LABEL", "render_sample"]

SYNTHETIC_CLASSES = ["background", "disk", "square", "triangle", "ring", "cross", "star", "bar"]
IGNORE_LABEL = 255

_SIZE_RANGE = (128, 256)  # H and W each drawn in [128, 256], never equal
_SHAPE_SIZE = (0.28, 0.45)  # shape diameter as a fraction of the short image side
_MAX_SHAPES = 5
_MIN_CONTRAST = 70.0  # min RGB distance between a fill and the colours it is drawn over

# Image colours (RGB). The first 7 are hues: shape class k (1..7) fills with hues k - 1 and k
# (mod 7), so every hue is shared by exactly two shape classes, and backgrounds use every colour:
# colour narrows a pixel to "background or one of two shapes"; shape and context decide.
_PALETTE = np.array(
    [
        [220, 50, 50],
        [240, 150, 40],
        [230, 220, 60],
        [60, 180, 75],
        [40, 170, 170],
        [50, 90, 220],
        [140, 70, 200],
        [240, 120, 190],
        [140, 90, 50],
        [128, 128, 128],
        [230, 230, 230],
        [40, 40, 40],
    ],
    dtype=np.float32,
)
_NUM_HUES = 7
_CLASS_PALETTES = {k: [(k - 1) % _NUM_HUES, k % _NUM_HUES] for k in range(1, _NUM_HUES + 1)}
_BACKGROUND_PALETTE = list(range(len(_PALETTE)))

# Fill texture of each shape class, a 0/1 pattern that darkens the fill colour. Classes that share a
# hue (k and k + 1) always have different textures, so colour + texture, or the outline, decide.
_CLASS_TEXTURES = {
    "disk": "stripes",
    "square": "checkerboard",
    "triangle": "dots",
    "ring": "grid",
    "cross": "circles",
    "star": "thin_lines",
    "bar": "plain",
}
_TEXTURE_PERIOD = 14.0  # pixels at the original image size (7-14 px after resizing to 128)
_TEXTURE_DEPTH = 0.45  # a texture pixel keeps 55% of the fill colour


# ---------------------------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------------------------


def _polygon(cx: float, cy: float, radii: np.ndarray, angle: float) -> np.ndarray:
    """Polygon with vertices at evenly spaced angles and the given radii; (N, 2) int32 (x, y)."""
    theta = angle + np.arange(len(radii)) * 2 * np.pi / len(radii)
    pts = np.stack([cx + radii * np.cos(theta), cy + radii * np.sin(theta)], axis=1)
    return np.round(pts).astype(np.int32)


def _rectangle(cx: float, cy: float, half_len: float, half_wid: float, angle: float) -> np.ndarray:
    """Rotated rectangle; (4, 2) int32 (x, y) corners."""
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64)
    corners *= [half_len, half_wid]
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return np.round(corners @ rot.T + [cx, cy]).astype(np.int32)


def _shape_mask(cls: int, hw: Tuple[int, int], cx: float, cy: float, r: float, angle: float):
    """Binary (H, W) uint8 mask of shape class ``cls`` (1..7) with bounding radius ``r``."""
    mask = np.zeros(hw, dtype=np.uint8)
    center = (int(round(cx)), int(round(cy)))
    name = SYNTHETIC_CLASSES[cls]
    if name == "disk":
        cv2.circle(mask, center, int(round(r)), 1, -1)
    elif name == "square":
        cv2.fillPoly(mask, [_rectangle(cx, cy, 0.72 * r, 0.72 * r, angle)], 1)
    elif name == "triangle":
        cv2.fillPoly(mask, [_polygon(cx, cy, np.full(3, 1.05 * r), angle)], 1)
    elif name == "ring":
        cv2.circle(mask, center, int(round(r)), 1, -1)
        cv2.circle(mask, center, int(round(0.55 * r)), 0, -1)
    elif name == "cross":
        cv2.fillPoly(mask, [_rectangle(cx, cy, r, 0.28 * r, angle)], 1)
        cv2.fillPoly(mask, [_rectangle(cx, cy, r, 0.28 * r, angle + np.pi / 2)], 1)
    elif name == "star":
        cv2.fillPoly(mask, [_polygon(cx, cy, np.tile([1.05 * r, 0.45 * r], 5), angle)], 1)
    elif name == "bar":
        cv2.fillPoly(mask, [_rectangle(cx, cy, 1.05 * r, 0.35 * r, angle)], 1)
    else:
        raise AssertionError(f"no drawing for class {name}")
    return mask


def _texture(name: str, hw: Tuple[int, int], cx: float, cy: float, angle: float) -> np.ndarray:
    """(H, W) float32 pattern in {0, 1} of the texture ``name``, in the shape's own frame (centred
    at (cx, cy), turned by ``angle``), so a texture tells the class but not the orientation."""
    ys, xs = np.mgrid[0 : hw[0], 0 : hw[1]].astype(np.float32)
    u = (xs - cx) * np.cos(angle) + (ys - cy) * np.sin(angle)
    v = -(xs - cx) * np.sin(angle) + (ys - cy) * np.cos(angle)
    phase_u, phase_v = (u / _TEXTURE_PERIOD) % 1.0, (v / _TEXTURE_PERIOD) % 1.0
    if name == "plain":
        pattern = np.zeros(hw, dtype=bool)
    elif name == "stripes":
        pattern = phase_u < 0.5
    elif name == "checkerboard":
        pattern = (phase_u < 0.5) ^ (phase_v < 0.5)
    elif name == "dots":
        pattern = (phase_u - 0.5) ** 2 + (phase_v - 0.5) ** 2 < 0.22**2
    elif name == "grid":
        pattern = (phase_u < 0.25) | (phase_v < 0.25)
    elif name == "circles":
        pattern = (np.hypot(u, v) / _TEXTURE_PERIOD) % 1.0 < 0.5
    elif name == "thin_lines":
        pattern = phase_u < 0.25
    else:
        raise AssertionError(f"no texture {name}")
    return pattern.astype(np.float32)


def _pick_color(
    rng: np.random.Generator, avoid: List[np.ndarray], candidates: List[int]
) -> np.ndarray:
    """A jittered colour (3,) of ``_PALETTE[candidates]``, at least ``_MIN_CONTRAST`` away from
    ``avoid`` if possible (else the most distant candidate)."""
    palette = _PALETTE[candidates]
    if avoid:
        dist = np.linalg.norm(palette[:, None] - np.stack(avoid)[None], axis=2).min(axis=1)
        ok = np.flatnonzero(dist >= _MIN_CONTRAST)
        idx = rng.choice(ok) if len(ok) else int(np.argmax(dist))
    else:
        idx = rng.integers(len(palette))
    return np.clip(palette[idx] + rng.uniform(-15, 15, 3), 0, 255).astype(np.float32)


def _background(rng: np.random.Generator, h: int, w: int) -> Tuple[np.ndarray, List[np.ndarray]]:
    """A textured (H, W, 3) float32 background and the colours it is made of."""
    c1 = _pick_color(rng, [], _BACKGROUND_PALETTE)
    c2 = _pick_color(rng, [c1], _BACKGROUND_PALETTE)
    kind = rng.integers(3)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    proj = xs * np.cos(angle) + ys * np.sin(angle)  # (H, W)
    if kind == 0:  # linear gradient
        t = (proj - proj.min()) / max(float(np.ptp(proj)), 1.0)
    elif kind == 1:  # soft stripes
        t = 0.5 + 0.5 * np.sin(2 * np.pi * proj / rng.uniform(8, 24) + rng.uniform(0, 2 * np.pi))
    else:  # smooth low-frequency noise
        grid = rng.uniform(0, 1, (int(rng.integers(3, 7)), int(rng.integers(3, 7))))
        t = cv2.resize(grid.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
        t = np.clip(t, 0, 1)
    img = c1 * (1 - t[..., None]) + c2 * t[..., None]
    return img.astype(np.float32), [c1, c2]


def _place(rng, h: int, w: int, r: float, placed: List[Tuple[float, float, float]]):
    """Centre (cx, cy) for a shape of radius ``r`` that overlaps placed shapes only a little."""
    for _ in range(30):
        cx = rng.uniform(0.7 * r, w - 0.7 * r)
        cy = rng.uniform(0.7 * r, h - 0.7 * r)
        if all(np.hypot(cx - px, cy - py) >= 0.75 * (r + pr) for px, py, pr in placed):
            return cx, cy
    return None


def render_sample(rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """Draw one sample.

    Returns:
        image (np.ndarray): (H, W, 3) uint8 RGB.
        label (np.ndarray): (H, W) uint8 class ids, ``IGNORE_LABEL`` on 2-pixel class boundaries.
    """
    while True:
        h, w = (int(v) for v in rng.integers(_SIZE_RANGE[0], _SIZE_RANGE[1] + 1, 2))
        if h != w:
            break
    image, bg_colors = _background(rng, h, w)  # (H, W, 3) float32
    label = np.zeros((h, w), dtype=np.uint8)
    placed: List[Tuple[float, float, float]] = []
    colors: List[np.ndarray] = []
    for _ in range(int(rng.integers(1, _MAX_SHAPES + 1))):
        r = 0.5 * min(h, w) * rng.uniform(*_SHAPE_SIZE)
        center = _place(rng, h, w, r, placed)
        if center is None:
            continue
        cls = int(rng.integers(1, len(SYNTHETIC_CLASSES)))
        angle = rng.uniform(0, 2 * np.pi)
        mask = _shape_mask(cls, (h, w), center[0], center[1], r, angle)
        if not mask.any():
            continue
        near = [  # colours of the placed shapes this one may overlap
            c
            for c, (px, py, pr) in zip(colors, placed)
            if np.hypot(center[0] - px, center[1] - py) < r + pr
        ]
        color = _pick_color(rng, bg_colors + near, _CLASS_PALETTES[cls])
        # Gentle linear shading across the shape, so fills are not perfectly flat.
        shade = rng.uniform(-0.15, 0.15) * (np.arange(w, dtype=np.float32) - center[0]) / r
        fill = np.clip(color[None, None] + shade[None, :, None] * 60, 0, 255)  # (1, W, 3)
        texture = _texture(_CLASS_TEXTURES[SYNTHETIC_CLASSES[cls]], (h, w), *center, angle)
        fill = fill * (1 - _TEXTURE_DEPTH * texture[..., None])  # (H, W, 3)
        sel = mask.astype(bool)
        image[sel] = fill[sel]
        label[sel] = cls
        placed.append((center[0], center[1], r))
        colors.append(color)
    # 2-pixel ignore band on every class boundary, from the same label map: exactly aligned.
    kernel = np.ones((3, 3), dtype=np.uint8)
    boundary = cv2.dilate(label, kernel) != cv2.erode(label, kernel)
    label[boundary] = IGNORE_LABEL
    image += rng.normal(0, 6, image.shape).astype(np.float32)
    return np.clip(np.round(image), 0, 255).astype(np.uint8), label
