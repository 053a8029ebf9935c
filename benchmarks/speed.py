#!/usr/bin/env python
"""Measured CPU inference speed of Shrunk SegViT vs SegViT, compared with the FLOPs ratio.

Pairs: ViT-L at 640x640 (ADE20K configs) and ViT-B at 512x512 (Table 8 configs). Each model runs
batch 1, eval mode, ``torch.no_grad``, whole-image inference (one crop, as the GFLOPs are
counted) through the full ``model([...])`` call; one warm-up pass, then the median of ``--runs``
passes. Backbone and head times are taken from forward hooks within the same passes. Writes
``benchmarks/speed.md``; the FLOPs ratio is read from ``benchmarks/flops.md``.

Usage (a few minutes on 2 CPU cores)::

    .venv/bin/python benchmarks/speed.py
"""

import argparse
import dataclasses
import gc
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from detectron2.config import LazyConfig, instantiate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMAND = ".venv/bin/python benchmarks/speed.py"

# (label, input size, SegViT config, Shrunk config)
PAIRS: List[Tuple[str, Tuple[int, int], str, str]] = [
    (
        "ViT-L, ADE20K",
        (640, 640),
        "configs/ade20k/segvit_vit_l16_640x640_160k.py",
        "configs/ade20k/segvit_shrunk_vit_l16_640x640_160k.py",
    ),
    (
        "ViT-B, ADE20K (Table 8)",
        (512, 512),
        "configs/ade20k/segvit_vit_b16_512x512_160k.py",
        "configs/ade20k/ablations/segvit_shrunk_vit_b16_512x512_160k.py",
    ),
]


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unavailable"


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def read_gflops(flops_md: str) -> Dict[str, float]:
    """Our GFLOPs per config from the table in ``benchmarks/flops.md``."""
    if not os.path.exists(flops_md):
        raise FileNotFoundError(f"{flops_md} is missing: run benchmarks/flops.py first")
    gflops = {}
    with open(flops_md) as f:
        for line in f:
            match = re.match(r"\| `([^`]+)` \|", line)
            if match:
                cells = [c.strip() for c in line.strip().strip("|").split("|")]
                gflops[match.group(1)] = float(cells[6])  # column "GFLOPs"
    return gflops


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


def time_model(config: str, hw: Tuple[int, int], runs: int) -> Dict[str, float]:
    """Median seconds per pass (total, backbone, head) of one config; prints progress."""
    cfg = LazyConfig.load(os.path.join(ROOT, config))
    model = instantiate(cfg.model).eval()
    model.inference = dataclasses.replace(model.inference, mode="whole")
    backbone, head = Timer(model.backbone), Timer(model.head)
    image = torch.randint(
        0, 256, (3, *hw), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    inputs = [{"image": image, "height": hw[0], "width": hw[1]}]
    samples = {"total": [], "backbone": [], "head": []}
    with torch.no_grad():
        for run in range(runs + 1):  # run 0 is the warm-up
            backbone.total = head.total = 0.0
            start = time.perf_counter()
            model(inputs)
            total = time.perf_counter() - start
            if run > 0:
                samples["total"].append(total)
                samples["backbone"].append(backbone.total)
                samples["head"].append(head.total)
            print(f"  {config} pass {run}: {total:.2f} s", flush=True)
    del model
    gc.collect()
    result = {k: statistics.median(v) for k, v in samples.items()}
    result["min"], result["max"] = min(samples["total"]), max(samples["total"])
    return result


def render(rows: Sequence[Dict], load_before: str, load_after: str, args) -> str:
    lines = [
        "# Inference speed: Shrunk SegViT vs SegViT (CPU)",
        "",
        "Regenerate with:",
        "",
        "```",
        COMMAND,
        "```",
        "",
        f"Machine: {cpu_name()}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"batch 1, eval, `torch.no_grad`, whole-image inference through `model([...])` (includes "
        f"normalisation, mask upsampling, the class-mask einsum and post-processing); 1 warm-up + "
        f"median of {args.runs} passes.",
        "",
        "**The machine was shared with other processes while this ran**, so absolute times are",
        "noisy; the two models of a pair ran back to back. `uptime` before and after:",
        "",
        f"- before: `{load_before}`",
        f"- after: `{load_after}`",
        "",
        "| pair | input | model | total s (median, min-max) | backbone s | head s "
        "| GFLOPs | measured speed-up | FLOPs ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        for kind in ("segvit", "shrunk"):
            t = row[kind]
            name = "SegViT" if kind == "segvit" else "Shrunk"
            speed = f"{row['speedup']:.2f}x" if kind == "shrunk" else ""
            ratio = f"{row['flops_ratio']:.2f}x" if kind == "shrunk" else ""
            lines.append(
                f"| {row['label']} | {row['hw'][0]}x{row['hw'][1]} | {name} (`"
                f"{os.path.basename(row[kind + '_config'])}`) | {t['total']:.2f} "
                f"({t['min']:.2f}-{t['max']:.2f}) | {t['backbone']:.2f} | {t['head']:.2f} "
                f"| {row[kind + '_gflops']:.1f} | {speed} | {ratio} |"
            )
    lines += ["", "Speed-up = SegViT time / Shrunk time; FLOPs ratio = SegViT / Shrunk GFLOPs.", ""]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed passes per model")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--only", default="", help="run the pairs whose label contains this")
    parser.add_argument("--flops", default=os.path.join(ROOT, "benchmarks", "flops.md"))
    parser.add_argument("--output", default=os.path.join(ROOT, "benchmarks", "speed.md"))
    parser.add_argument(
        "--notes", default="", help="Markdown appended to the report (the gap explanation)"
    )
    args = parser.parse_args(argv)
    import segvit  # noqa: F401  (registers modules)

    torch.set_num_threads(args.threads)
    gflops = read_gflops(args.flops)
    load_before = uptime()
    rows = []
    for label, hw, segvit_config, shrunk_config in PAIRS:
        if args.only not in label:
            continue
        segvit_t = time_model(segvit_config, hw, args.runs)
        shrunk_t = time_model(shrunk_config, hw, args.runs)
        rows.append(
            dict(
                label=label,
                hw=hw,
                segvit=segvit_t,
                shrunk=shrunk_t,
                segvit_config=segvit_config,
                shrunk_config=shrunk_config,
                segvit_gflops=gflops[segvit_config],
                shrunk_gflops=gflops[shrunk_config],
                speedup=segvit_t["total"] / shrunk_t["total"],
                flops_ratio=gflops[segvit_config] / gflops[shrunk_config],
            )
        )
    report = render(rows, load_before, uptime(), args)
    if args.notes:
        with open(args.notes) as f:
            report += "\n" + f.read()
    with open(args.output, "w") as f:
        f.write(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
