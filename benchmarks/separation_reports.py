"""Reading the stored reports of ``benchmarks.separation``: a statistic of one feature, at the
first or the last ViT block (lined up across models whose block taps are named differently), or
at the model's decoder feature (``decoder_feature_tap`` of ``segvit.analysis.separation_taps``).

A report is the JSON of ``separation_report`` plus the run's fields (``benchmarks.separation``);
``features`` maps a feature name to its statistics.
"""

import glob
import json
import math
import os
from typing import Dict, List, Optional

# Reports measured before ``decoder_feature`` was stored: RSSeg-R's SASM output was tapped already.
LEGACY_DECODER_FEATURE = "head.sasm/separated"


def load_reports(folder: str) -> List[Dict]:
    """Every ``*.json`` report in ``folder``, by file name."""

    def read(path: str) -> Dict:
        with open(path) as f:
            return json.load(f)

    return [read(path) for path in sorted(glob.glob(os.path.join(folder, "*.json")))]


def block_features(report: Dict) -> Dict[int, str]:
    """{ViT block index: feature name} of a report (``block_index`` of every feature)."""
    from segvit.analysis.separation_taps import block_index  # lazy: segvit reads the dataset root

    blocks = {block_index(name): name for name in report["features"]}
    blocks.pop(None, None)
    return dict(sorted(blocks.items()))


def decoder_feature(report: Dict) -> Optional[str]:
    """The name of the report's decoder feature, None when it was not measured."""
    name = report.get("decoder_feature", LEGACY_DECODER_FEATURE)
    return name if name in report["features"] else None


def stat(report: Dict, feature: str, variant: str, metric: str) -> float:
    """A feature's mean ``metric`` (``"dataset_fisher"``: its dataset Fisher ratio)."""
    stats = report["features"][feature]
    return float(stats[metric] if metric == "dataset_fisher" else stats[variant][metric]["mean"])


def at_block(report: Dict, where: str, variant: str, metric: str) -> float:
    """``stat`` at the first (``where="first"``) or the last (``"last"``) ViT block, or at the
    decoder feature (``"decoder"``; NaN when the report has none)."""
    if where == "decoder":
        name = decoder_feature(report)
        return math.nan if name is None else stat(report, name, variant, metric)
    blocks = block_features(report)
    return stat(report, blocks[min(blocks) if where == "first" else max(blocks)], variant, metric)
