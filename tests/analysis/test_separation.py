"""The separation statistics' arithmetic on constructed features (one-hot, random, scaled,
shifted), the cell labels, the streaming dataset Fisher ratio, the bootstrap, and the tool on a
tiny model."""

import math

import numpy as np
import pytest
import torch
from repo_scripts import REPO, load_script

from segvit.analysis.separation import (
    SeparationAccumulator,
    bootstrap_ci,
    cell_labels,
    fisher_from_sums,
    image_statistics,
)
from segvit.engine.cli import ConfigOverrideError

analyze_tool = load_script("tools", "analyze_separation")


def stripes(h=8, w=12, k=3):
    """(h, w) labels: k vertical stripes."""
    return (torch.arange(w) * k // w).expand(h, w).clone()


def test_one_hot_features_are_perfectly_separated():
    labels = stripes()
    features = torch.nn.functional.one_hot(labels, 3).permute(2, 0, 1).float()
    stats = image_statistics(features, labels, min_cells=4)["raw"]
    assert stats["intra"] == pytest.approx(1.0)
    assert stats["inter"] == pytest.approx(0.0)
    assert stats["gap"] == pytest.approx(1.0)
    assert stats["fisher"] == math.inf  # no within-class scatter
    assert stats["boundary"] == pytest.approx(1.0) and stats["cross"] == pytest.approx(0.0)
    n = labels.numel()
    same_pairs = sum(int((labels == c).sum()) ** 2 - int((labels == c).sum()) for c in range(3))
    assert stats["os"] == pytest.approx(same_pairs / (n * (n - 1)))


def test_random_features_are_not_separated():
    torch.manual_seed(0)
    k, h, w, c = 4, 16, 16, 512
    labels = (torch.arange(h * w) % k).reshape(h, w)
    stats = image_statistics(torch.randn(c, h, w), labels, min_cells=4)["raw"]
    assert abs(stats["os"]) < 0.01 and abs(stats["inter"]) < 0.1
    assert stats["intra"] == pytest.approx(1 / math.sqrt(h * w / k), rel=0.1)  # |mean of units|
    n = h * w
    assert stats["fisher"] == pytest.approx((k - 1) / (n - k), rel=0.25)
    assert abs(stats["boundary"]) < 0.05


@pytest.mark.parametrize("scale", [1e-3, 7.0])
def test_scale_invariance_and_fisher_shift_invariance(scale):
    torch.manual_seed(1)
    labels = stripes(10, 10, 2)
    features = torch.randn(6, 10, 10) + labels.float() * 0.7
    base = image_statistics(features, labels, min_cells=4)
    scaled = image_statistics(features * scale, labels, min_cells=4)
    shifted = image_statistics(features + 5.0, labels, min_cells=4)
    for variant in ("raw", "centred"):
        for metric, value in base[variant].items():
            assert scaled[variant][metric] == pytest.approx(value, rel=1e-6, abs=1e-9), metric
    assert shifted["raw"]["fisher"] == pytest.approx(base["raw"]["fisher"], rel=1e-6)
    assert base["centred"]["fisher"] == pytest.approx(base["raw"]["fisher"], rel=1e-6)
    # a shared offset inflates raw cosines only; centring removes it
    assert shifted["raw"]["os"] > base["raw"]["os"] + 0.3
    assert shifted["centred"]["os"] == pytest.approx(base["centred"]["os"], abs=1e-9)


def test_cell_labels_majority_purity_and_ignore():
    labels = torch.zeros(8, 8, dtype=torch.long)
    labels[:4, 4:] = 1
    labels[4:, :4] = 255
    labels[4:, 4:6] = 2  # cell (1, 1): half class 2, half class 0 -> impure
    cells = cell_labels(labels, (2, 2), num_classes=3, purity=0.75)
    assert cells.tolist() == [[0, 1], [255, 255]]
    cells = cell_labels(labels, (2, 2), num_classes=3, purity=0.5)
    assert cells[1, 1] in (0, 2)
    # a non-divisible grid with an explicit stride: cells past the labels are all ignore
    cells = cell_labels(labels[:7, :5], (2, 2), num_classes=3, stride=(4, 4))
    assert cells.shape == (2, 2) and cells[0, 0] == 0


def test_classes_below_min_cells_are_left_out():
    labels = stripes(8, 8, 2)
    labels[0, 0] = 2  # one cell of class 2
    features = torch.nn.functional.one_hot(labels, 3).permute(2, 0, 1).float()
    stats = image_statistics(features, labels, min_cells=4)["raw"]
    assert stats["inter"] == pytest.approx(0.0) and stats["intra"] == pytest.approx(1.0)
    single = image_statistics(features, torch.zeros(8, 8, dtype=torch.long), min_cells=4)["raw"]
    assert math.isnan(single["inter"]) and math.isnan(single["fisher"])


def test_streamed_dataset_fisher_equals_pooled():
    torch.manual_seed(2)
    acc = SeparationAccumulator(num_classes=3, min_cells=1)
    pooled_f, pooled_l = [], []
    for _ in range(3):
        labels = torch.randint(0, 3, (6, 6))
        features = torch.randn(5, 6, 6) + labels.float()
        acc.update("f", features, labels)
        pooled_f.append(features.reshape(5, -1).T)
        pooled_l.append(labels.reshape(-1))
    f, lab = torch.cat(pooled_f).double(), torch.cat(pooled_l)
    sums = torch.stack([f[lab == c].sum(0) for c in range(3)])
    sq = torch.stack([f[lab == c].pow(2).sum() for c in range(3)])
    cnt = torch.stack([(lab == c).sum() for c in range(3)]).double()
    assert acc.dataset_fisher("f") == pytest.approx(fisher_from_sums(sums, sq, cnt), rel=1e-9)
    mu = f.mean(0)
    between = sum(
        float((lab == c).sum()) * float((f[lab == c].mean(0) - mu).pow(2).sum()) for c in range(3)
    )
    within = sum(float((f[lab == c] - f[lab == c].mean(0)).pow(2).sum()) for c in range(3))
    assert acc.dataset_fisher("f") == pytest.approx(between / within, rel=1e-9)
    summary = acc.summary(resamples=50)
    assert summary["f"]["raw"]["gap"]["n"] == 3


def test_bootstrap_interval_contains_the_mean_and_skips_nan():
    values = list(np.random.default_rng(0).normal(1.0, 0.1, size=40)) + [math.nan]
    ci = bootstrap_ci(values, resamples=500)
    assert ci["n"] == 40 and ci["lo"] < ci["mean"] < ci["hi"]
    assert ci["hi"] - ci["lo"] < 0.1
    assert bootstrap_ci([math.nan])["n"] == 0


def test_tool_on_a_tiny_model(tmp_path):
    out = tmp_path / "sep.json"
    args = analyze_tool.get_parser().parse_args(
        [
            "--config-file",
            str(REPO / "configs/synthetic/rsseg_r_tiny.py"),
            "--allow-random-init",
            "--max-images",
            "2",
            "--resamples",
            "20",
            "--min-cells",
            "2",
            "--output",
            str(out),
            "model.head.channels=16",
            "model.head.dca_heads=2",
        ]
    )
    report = analyze_tool.run(args)
    assert out.is_file() and report["images"] == 2
    names = set(report["features"])
    assert {"backbone.blocks.0", "head.local_path", "head.sasm/separated"} <= names
    with pytest.raises(ValueError, match="init_checkpoint"):
        analyze_tool.main(["--config-file", str(REPO / "configs/synthetic/rsseg_r_tiny.py")])
    with pytest.raises(ConfigOverrideError, match="model.head.chanels"):
        analyze_tool.main(["--config-file", str(REPO / "configs/synthetic/rsseg_r_tiny.py"),
                           "--allow-random-init", "model.head.chanels=16"])  # fmt: skip
