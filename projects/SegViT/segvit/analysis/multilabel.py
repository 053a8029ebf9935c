"""Image-level metrics of a multi-label classifier: mean average precision and micro F1."""

from typing import Dict, Sequence

import torch

__all__ = ["average_precision", "multilabel_metrics"]


def average_precision(scores: torch.Tensor, targets: torch.Tensor) -> float:
    """Average precision of one class (area under the precision-recall steps, as
    ``sklearn.metrics.average_precision_score``; ties broken by order).

    Args:
        scores (Tensor): (N,) scores.
        targets (Tensor): (N,) 0/1, at least one 1.
    """
    order = torch.argsort(scores, descending=True, stable=True)
    hits = targets[order].double()
    precision = hits.cumsum(0) / torch.arange(1, len(hits) + 1, dtype=torch.float64)
    return float((precision * hits).sum() / hits.sum())


def multilabel_metrics(
    logits: torch.Tensor, targets: torch.Tensor, class_names: Sequence[str]
) -> Dict[str, float]:
    """mAP over the classes with both positive and negative images, per-class AP, micro F1 at
    probability 0.5, and the positive rate of each class.

    Args:
        logits (Tensor): (N, K).
        targets (Tensor): (N, K) 0/1.
        class_names (sequence[str]): K names (keys ``AP-<name>``, ``pos-<name>``).
    """
    if logits.shape != targets.shape or logits.dim() != 2 or len(class_names) != logits.shape[1]:
        raise ValueError(
            f"logits {tuple(logits.shape)}, targets {tuple(targets.shape)} and "
            f"{len(class_names)} class names do not match"
        )
    results: Dict[str, float] = {}
    aps = []
    for k, name in enumerate(class_names):
        positives = int(targets[:, k].sum())
        results[f"pos-{name}"] = positives / len(targets)
        if 0 < positives < len(targets):
            results[f"AP-{name}"] = 100.0 * average_precision(logits[:, k], targets[:, k])
            aps.append(results[f"AP-{name}"])
    results["mAP"] = sum(aps) / len(aps) if aps else float("nan")
    predicted = logits > 0
    tp = float((predicted & (targets > 0)).sum())
    denominator = float(predicted.sum() + (targets > 0).sum())
    results["F1"] = 100.0 * 2 * tp / denominator if denominator else float("nan")
    return results
