#!/usr/bin/env python
"""Parameter and FLOP counts of a model from a LazyConfig file (fvcore, batch 1, one crop).

Example::

    python tools/analyze_model.py --config-file configs/ade20k/segvit_vit_b16_512x512_160k.py \\
        --tasks parameter flop --format json

The last line printed is one JSON object: ``params_m``, ``head_params_m``, ``backbone_params_m``,
``gflops``, ``input_hw``, ``skipped_gflops_upper_bound``. GFLOPs follow fvcore's convention (one
multiply-add = one flop, the paper's convention), at the model's inference crop size by default,
with a whole-image pass (the paper counts one crop). Ops fvcore cannot count are bounded, and the
tool fails rather than report a total that could miss more than 1% (``segvit.analysis.flops``).
"""
import segvit.warning_filters  # noqa: F401  # isort: skip  (first: quiets library import warnings)
import argparse
import dataclasses
import json
import sys
from typing import Dict, List, Optional, Sequence

import torch
from detectron2.config import instantiate

import segvit  # noqa: F401  (registers modules)
from segvit.analysis.flops import count_flops
from segvit.engine.cli import add_config_arguments, load_config, setup_tool_logger


def count_params(module: Optional[torch.nn.Module]) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def _submodule(model: torch.nn.Module, names: Sequence[str]) -> Optional[torch.nn.Module]:
    for name in names:
        if hasattr(model, name):
            return getattr(model, name)
    return None


def top_level_gflops(by_module: Dict[str, int]) -> Dict[str, float]:
    """GFLOPs of the model's direct children (Detectron2's tracing adapter prefixes "model.")."""
    children = {k[len("model.") :]: v for k, v in by_module.items() if k.startswith("model.")}
    return {k: round(v / 1e9, 3) for k, v in children.items() if "." not in k}


def default_input_hw(model: torch.nn.Module) -> List[int]:
    inference = getattr(model, "inference", None)
    if inference is not None:
        return list(inference.crop_size)
    return [512, 512]


def analyze(cfg, tasks: Sequence[str], input_hw: Optional[Sequence[int]] = None) -> Dict:
    """Build ``cfg.model`` on CPU and return the requested counts (see module docstring)."""
    model = instantiate(cfg.model).eval()
    result: Dict = {}
    if "parameter" in tasks:
        head = _submodule(model, ("head", "sem_seg_head"))
        backbone = _submodule(model, ("backbone",))
        result.update(
            params_m=round(count_params(model) / 1e6, 3),
            head_params_m=round(count_params(head) / 1e6, 3),
            backbone_params_m=round(count_params(backbone) / 1e6, 3),
        )
    if "flop" in tasks:
        hw = list(input_hw) if input_hw else default_input_hw(model)
        if hasattr(model, "inference"):  # one crop, one pass: the paper's protocol
            model.inference = dataclasses.replace(model.inference, mode="whole")
        image = torch.zeros(3, *hw, dtype=torch.uint8)
        inputs = [{"image": image, "height": hw[0], "width": hw[1]}]
        with torch.no_grad():
            report = count_flops(model, inputs)
        result.update(
            gflops=round(report.total / 1e9, 2),
            input_hw=hw,
            skipped_gflops_upper_bound=round(report.skipped_upper_bound / 1e9, 4),
            skipped_ops=report.skipped_ops,
            gflops_by_module=top_level_gflops(report.by_module),
        )
    return result


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_config_arguments(parser)
    parser.add_argument(
        "--tasks", nargs="+", default=["parameter", "flop"], choices=["parameter", "flop"]
    )
    parser.add_argument("--format", default="table", choices=["table", "json"])
    parser.add_argument("--input-size", nargs=2, type=int, metavar=("H", "W"), default=None)
    return parser


def run(args: argparse.Namespace) -> Dict:
    """Print the counts (a table unless ``--format json``, then one JSON line) and return them."""
    cfg = load_config(args.config_file, args.opts)
    result = analyze(cfg, args.tasks, args.input_size)
    if args.format == "table":
        for key, value in result.items():
            print(f"{key:>28}: {value}")
    print(json.dumps({"config": args.config_file, **result}))
    return result


def main(argv: Optional[Sequence[str]] = None) -> int:
    run(get_parser().parse_args(argv))
    return 0


if __name__ == "__main__":
    setup_tool_logger()
    sys.exit(main())
