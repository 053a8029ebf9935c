"""Wall time of a model's passes split by part (backbone, head, the rest), and two models timed
in alternation so that both see the same machine load."""

import gc
import statistics
import time
from typing import Dict, List, Sequence, Tuple

import torch

from benchmarks.common import build_model

PARTS = ("total", "backbone", "head", "rest")


class Timer:
    """Wall time of one submodule's forward calls, via pre/post forward hooks."""

    def __init__(self, module: torch.nn.Module):
        self.total = 0.0
        self._start = 0.0
        module.register_forward_pre_hook(self._pre)
        module.register_forward_hook(self._post)

    def _pre(self, *args):
        self._start = time.perf_counter()

    def _post(self, *args):
        self.total += time.perf_counter() - self._start


class Timed:
    """A model in whole-image mode with hooks on its backbone and head."""

    def __init__(self, config: str, hw: Tuple[int, int]):
        self.config = config
        self.model = build_model(config)  # whole-image inference
        self.backbone, self.head = Timer(self.model.backbone), Timer(self.model.head)
        gen = torch.Generator().manual_seed(0)
        image = torch.randint(0, 256, (3, *hw), dtype=torch.uint8, generator=gen)
        self.inputs = [{"image": image, "height": hw[0], "width": hw[1]}]
        self.samples: Dict[str, List[float]] = {k: [] for k in (*PARTS, "after_backbone")}

    def run(self, record: bool = True) -> float:
        self.backbone.total = self.head.total = 0.0
        start = time.perf_counter()
        with torch.no_grad():
            self.model(self.inputs)
        total = time.perf_counter() - start
        if record:
            self.samples["total"].append(total)
            self.samples["backbone"].append(self.backbone.total)
            self.samples["head"].append(self.head.total)
            self.samples["rest"].append(total - self.backbone.total - self.head.total)
            self.samples["after_backbone"].append(
                (total - self.backbone.total) / self.backbone.total
            )
        print(f"  {self.config}: {total:.2f} s", flush=True)
        return total

    def summary(self) -> Dict[str, float]:
        result = {k: statistics.median(v) for k, v in self.samples.items()}
        result["min"], result["max"] = min(self.samples["total"]), max(self.samples["total"])
        return result


def time_pair(configs: Sequence[str], hw: Tuple[int, int], runs: int) -> Tuple[Dict, Dict, float]:
    """Alternate passes of two models; returns both summaries and the median per-round ratio."""
    models = [Timed(c, hw) for c in configs]
    for m in models:
        m.run(record=False)  # warm-up
    ratios = []
    for _ in range(runs):
        first, second = (m.run() for m in models)
        ratios.append(first / second)
    summaries = [m.summary() for m in models]
    del models
    gc.collect()
    return summaries[0], summaries[1], statistics.median(ratios)
