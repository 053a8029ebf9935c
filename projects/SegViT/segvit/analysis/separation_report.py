"""A separation report for a config + checkpoint + dataset (``tools/analyze_separation.py``).

Builds ``cfg.model``, loads ``train.init_checkpoint`` (refusing partial loads unless allowed),
streams ``cfg.dataloader.test`` through :func:`~segvit.analysis.separation_taps.run_separation`
and returns a JSON-ready dict (``"decoder_feature"``: the feature name of ``decoder_feature_tap``
when it was measured, else None); :func:`format_table` renders it as Markdown. Statistics and
their meaning: :mod:`segvit.analysis.separation` and docs/rsseg.md.
"""

import math
from typing import Dict, List, Optional, Sequence

from detectron2.config import instantiate

from ..checkpoint.checkpointer import load_model_weights
from .separation import METRICS
from .separation_taps import decoder_feature_tap, default_taps, run_separation

__all__ = ["separation_report", "format_table"]


def _num_classes(cfg) -> int:
    head = cfg.model.get("head") or cfg.model.get("sem_seg_head")
    return int(head.num_classes)


def separation_report(
    cfg,
    taps: Optional[Sequence[str]] = None,
    max_images: Optional[int] = None,
    resamples: int = 1000,
    min_cells: int = 16,
    allow_random_init: bool = False,
    allow_partial_weights: bool = False,
) -> Dict:
    """Statistics of every tap of ``cfg.model`` over ``cfg.dataloader.test`` (see module doc)."""
    model = instantiate(cfg.model).to(cfg.train.device).eval()
    checkpoint = cfg.train.get("init_checkpoint", "")
    if checkpoint:
        load_model_weights(model, checkpoint, allow_partial_weights)
    elif not allow_random_init:
        raise ValueError(
            "analyze_separation: train.init_checkpoint is empty; pass the trained model (e.g. "
            "train.init_checkpoint=output/demo/model_final.pth) or --allow-random-init."
        )
    taps = list(taps) if taps else default_taps(model)
    acc = run_separation(
        model,
        instantiate(cfg.dataloader.test),
        taps,
        _num_classes(cfg),
        ignore=int(getattr(model, "ignore_value", 255)),
        min_cells=min_cells,
        max_images=max_images,
    )
    features = acc.summary(resamples)
    decoder = decoder_feature_tap(model)
    return {
        "checkpoint": checkpoint or None,
        "taps": taps,
        "decoder_feature": decoder if decoder in features else None,
        "images": max((s["raw"]["os"]["n"] for s in acc.summary(1).values()), default=0),
        "features": features,
    }


def _cell(ci: Dict) -> str:
    if ci["n"] == 0 or math.isnan(ci["mean"]):
        return "n/a"
    return f"{ci['mean']:.3f} [{ci['lo']:.3f}, {ci['hi']:.3f}]"


def format_table(report: Dict, variant: str = "raw", metrics: Sequence[str] = METRICS) -> str:
    """Markdown table: one row per feature, mean [95% bootstrap CI] per metric."""
    lines: List[str] = [
        "| feature | " + " | ".join(metrics) + " | dataset fisher |",
        "|---" * (len(metrics) + 2) + "|",
    ]
    for name, stats in report["features"].items():
        cells = [_cell(stats[variant][m]) for m in metrics]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {stats['dataset_fisher']:.3f} |")
    return "\n".join(lines)
