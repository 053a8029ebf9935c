"""Over-smoothness and class separation of per-pixel features (decoder-agnostic; docs/rsseg.md).

RSSeg's claim (arXiv 2212.13764, Fig. 1 caption) is that ViT features are over-smooth, "too close
to distinguish different categories", and that separating them while keeping intra-class variance
small helps. These statistics measure that on any feature map f (C, h, w) with labels:

- ``os``: label-free over-smoothness, the mean cosine between all pairs of cells,
  ``(||sum_i f_i/|f_i| ||^2 - N) / (N (N - 1))`` (the patch-similarity of Gong et al. 2021);
- ``intra``: cell-weighted mean cosine of a cell to its class mean direction mu_c (mean of the
  unit features): ``sum_c n_c |mu_c| / sum_c n_c``; ``inter``: mean cosine between the mu_c of the
  classes present; ``gap = intra - inter``;
- ``fisher``: ``tr(S_B) / tr(S_W)`` of the raw features (invariant to a common offset and scale);
- ``boundary``: mean cosine of 4-neighbour cell pairs with equal labels minus that of pairs with
  different labels; ``cross``: the latter alone (lower = sharper boundaries).

Every cosine statistic comes raw and per-image centred (f minus its mean over the image's cells),
since a large shared component inflates all cosines and a high-pass module can lower raw cosines
by removing it. Labels are reduced to the feature grid by majority per cell ("pure" cells: >= 75%
of the valid pixels agree); a class needs ``min_cells`` pure cells in an image to count. Images are
summarised one at a time (a few floats each, kept for the bootstrap) and dataset-level Fisher sums
are streamed, so no feature is held beyond its image.
"""

import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "METRICS",
    "cell_labels",
    "image_statistics",
    "bootstrap_ci",
    "SeparationAccumulator",
]

METRICS = ("os", "intra", "inter", "gap", "fisher", "boundary", "cross")
_EPS = 1e-12


def cell_labels(
    labels: Tensor,
    grid: Sequence[int],
    num_classes: int,
    ignore: int = 255,
    purity: float = 0.75,
    stride: Optional[Sequence[int]] = None,
) -> Tensor:
    """(H, W) pixel labels -> (h, w) cell labels of the feature grid, ``ignore`` where impure.

    A cell covers ``stride`` pixels (default ``ceil(H / h) x ceil(W / w)``) from the top-left (the
    model pads at the bottom and right); its label is the majority of its valid pixels if that
    majority holds at least ``purity`` of them.
    """
    h, w = int(grid[0]), int(grid[1])
    if stride is None:
        stride = (-(-labels.shape[0] // h), -(-labels.shape[1] // w))
    sh, sw = int(stride[0]), int(stride[1])
    labels = labels[: h * sh, : w * sw]
    lab = labels.long().clone()
    lab[(lab < 0) | (lab >= num_classes)] = num_classes  # ignore -> an extra bin
    lab = F.pad(lab, (0, w * sw - lab.shape[1], 0, h * sh - lab.shape[0]), value=num_classes)
    blocks = lab.reshape(h, sh, w, sw).permute(0, 2, 1, 3).reshape(h * w, sh * sw)
    counts = torch.zeros(h * w, num_classes + 1, dtype=torch.long)
    counts.scatter_add_(1, blocks, torch.ones_like(blocks))
    valid = counts[:, :num_classes]
    top, arg = valid.max(dim=1)
    total = valid.sum(dim=1)
    keep = (total > 0) & (top >= purity * total)
    return torch.where(keep, arg, torch.full_like(arg, ignore)).reshape(h, w)


def _cosine_stats(f: Tensor, labels: Tensor, present: Tensor, ignore: int) -> Dict[str, float]:
    """os, intra, inter, gap, boundary, cross of features f (h, w, C) and cell labels (h, w)."""
    unit = f / f.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    n = unit.shape[0] * unit.shape[1]
    total = unit.reshape(n, -1).sum(dim=0)
    stats = {"os": float((total.dot(total) - n) / max(n * (n - 1), 1))}
    flat, lab = unit.reshape(n, -1), labels.reshape(n)
    mus, counts = [], []
    for c in present.tolist():
        members = flat[lab == c]
        mus.append(members.mean(dim=0))
        counts.append(members.shape[0])
    if mus:
        mu = torch.stack(mus)  # (P, C)
        cnt = torch.tensor(counts, dtype=mu.dtype)
        stats["intra"] = float((cnt * mu.norm(dim=1)).sum() / cnt.sum())
    else:
        stats["intra"] = math.nan
    if len(mus) >= 2:
        dirs = mu / mu.norm(dim=1, keepdim=True).clamp_min(_EPS)
        cos = dirs @ dirs.T
        iu = torch.triu_indices(len(mus), len(mus), offset=1)
        stats["inter"] = float(cos[iu[0], iu[1]].mean())
        stats["gap"] = stats["intra"] - stats["inter"]
    else:
        stats["inter"] = stats["gap"] = math.nan
    same, diff = [], []
    for a, b, la, lb in (
        (unit[:, :-1], unit[:, 1:], labels[:, :-1], labels[:, 1:]),
        (unit[:-1], unit[1:], labels[:-1], labels[1:]),
    ):
        cos = (a * b).sum(dim=-1)
        both = (la != ignore) & (lb != ignore)
        same.append(cos[both & (la == lb)])
        diff.append(cos[both & (la != lb)])
    same_t, diff_t = torch.cat(same), torch.cat(diff)
    stats["cross"] = float(diff_t.mean()) if diff_t.numel() else math.nan
    ok = same_t.numel() and diff_t.numel()
    stats["boundary"] = float(same_t.mean() - diff_t.mean()) if ok else math.nan
    return stats


def _class_sums(f: Tensor, labels: Tensor, present: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """Per present class: sum of f (P, C), sum of |f|^2 (P,), count (P,)."""
    flat, lab = f.reshape(-1, f.shape[-1]), labels.reshape(-1)
    sums, sq, cnt = [], [], []
    for c in present.tolist():
        members = flat[lab == c]
        sums.append(members.sum(dim=0))
        sq.append(members.pow(2).sum())
        cnt.append(members.shape[0])
    if not sums:
        empty = f.new_zeros(0)
        return f.new_zeros(0, f.shape[-1]), empty, empty
    return torch.stack(sums), torch.stack(sq), f.new_tensor(cnt)


def fisher_from_sums(sums: Tensor, sq: Tensor, counts: Tensor) -> float:
    """tr(S_B) / tr(S_W) from per-class sums (P, C), squared-norm sums (P,), counts (P,);
    ``inf`` when the within-class scatter vanishes (perfectly separated), NaN with < 2 classes."""
    if counts.numel() < 2:
        return math.nan
    within = (sq - sums.pow(2).sum(dim=1) / counts).sum()
    total_sum = sums.sum(dim=0)
    total = sq.sum() - total_sum.dot(total_sum) / counts.sum()
    between = total - within
    if within <= 1e-9 * max(float(total), _EPS):
        return math.inf
    return float(between / within)


def image_statistics(
    features: Tensor, labels: Tensor, ignore: int = 255, min_cells: int = 16
) -> Dict[str, Dict[str, float]]:
    """Statistics of one image: {"raw": {metric: value}, "centred": {...}}.

    Args:
        features: (C, h, w) feature map (any dtype; computed in float64).
        labels: (h, w) cell labels (:func:`cell_labels`), ``ignore`` where unusable.
        min_cells: pure cells a class needs to count.
    """
    f = features.detach().double().permute(1, 2, 0)  # (h, w, C)
    lab = labels.clone()
    classes, counts = torch.unique(lab[lab != ignore], return_counts=True)
    for c in classes[counts < min_cells].tolist():
        lab[lab == c] = ignore
    present = classes[counts >= min_cells]
    out = {}
    for variant, g in (("raw", f), ("centred", f - f.reshape(-1, f.shape[-1]).mean(dim=0))):
        stats = _cosine_stats(g, lab, present, ignore)
        stats["fisher"] = fisher_from_sums(*_class_sums(g, lab, present))
        out[variant] = stats
    return out


def bootstrap_ci(
    values: Sequence[float], resamples: int = 1000, level: float = 0.95, seed: int = 0
) -> Dict[str, float]:
    """Mean over images and its percentile bootstrap interval (images resampled with
    replacement); NaN values (metric undefined on that image) are left out first."""
    arr = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    if arr.size == 0:
        return {"mean": math.nan, "lo": math.nan, "hi": math.nan, "n": 0}
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, arr.size, size=(resamples, arr.size))].mean(axis=1)
    tail = (1.0 - level) / 2 * 100
    with np.errstate(invalid="ignore"):
        lo, hi = np.percentile(means, [tail, 100 - tail])
    return {"mean": float(arr.mean()), "lo": float(lo), "hi": float(hi), "n": int(arr.size)}


class SeparationAccumulator:
    """Streams images for any number of named features; keeps per-image statistics (a few floats
    each) and per-class sums for a dataset-level Fisher ratio, never the features."""

    def __init__(self, num_classes: int, ignore: int = 255, min_cells: int = 16):
        self.num_classes, self.ignore, self.min_cells = num_classes, ignore, min_cells
        self.per_image: Dict[str, Dict[str, Dict[str, List[float]]]] = {}
        self._sums: Dict[str, Tuple[Tensor, Tensor, Tensor]] = {}

    def update(
        self,
        name: str,
        features: Tensor,
        pixel_labels: Tensor,
        stride: Optional[Sequence[int]] = None,
    ) -> None:
        """Add one image: ``features`` (C, h, w) of the padded image, ``pixel_labels`` (H, W) of
        the image. With the feature ``stride`` (pixels per cell), cells wholly in the padding are
        dropped first, so that the label-free ``os`` sees the image only."""
        if stride is not None:
            rows = -(-pixel_labels.shape[0] // int(stride[0]))
            cols = -(-pixel_labels.shape[1] // int(stride[1]))
            features = features[:, :rows, :cols]
        labels = cell_labels(
            pixel_labels, features.shape[-2:], self.num_classes, self.ignore, stride=stride
        )
        stats = image_statistics(features, labels, self.ignore, self.min_cells)
        record = self.per_image.setdefault(name, {})
        for variant, values in stats.items():
            for metric, value in values.items():
                record.setdefault(variant, {}).setdefault(metric, []).append(value)
        f = features.detach().double().permute(1, 2, 0).reshape(-1, features.shape[0])
        lab = labels.reshape(-1)
        keep = lab != self.ignore
        onehot = F.one_hot(lab[keep], self.num_classes).double()  # (n, K)
        sums = onehot.T @ f[keep]
        sq = onehot.T @ f[keep].pow(2).sum(dim=1)
        cnt = onehot.sum(dim=0)
        if name in self._sums:
            old = self._sums[name]
            sums, sq, cnt = old[0] + sums, old[1] + sq, old[2] + cnt
        self._sums[name] = (sums, sq, cnt)

    def dataset_fisher(self, name: str) -> float:
        """tr(S_B) / tr(S_W) over every pure cell of every image seen (raw features)."""
        sums, sq, cnt = self._sums[name]
        seen = cnt > 0
        return fisher_from_sums(sums[seen], sq[seen], cnt[seen])

    def summary(self, resamples: int = 1000, seed: int = 0) -> Dict[str, Dict]:
        """{feature: {"raw": {metric: ci}, "centred": {...}, "dataset_fisher": J}}."""
        out: Dict[str, Dict] = {}
        for name, variants in self.per_image.items():
            out[name] = {
                variant: {m: bootstrap_ci(v, resamples, seed=seed) for m, v in metrics.items()}
                for variant, metrics in variants.items()
            }
            out[name]["dataset_fisher"] = self.dataset_fisher(name)
        return out

    def names(self) -> Optional[List[str]]:
        return list(self.per_image)
