#!/usr/bin/env python
"""Measured CPU inference speed and memory of SegViT: Shrunk vs plain, the mask's share, memory.

Sections of ``benchmarks/speed.md`` (each can be run alone with ``--sections``):

- ``pairs``: Shrunk vs plain SegViT. Pairs: ViT-L at 640x640 (ADE20K configs) and ViT-B at 512x512
  (Table 8 configs). Each model runs batch 1, eval mode, ``torch.no_grad``, whole-image inference
  (one crop, as the GFLOPs are counted) through the full ``model([...])`` call. Both models of a
  pair are built first, warmed up once, then timed in alternation (SegViT, Shrunk, SegViT, ...) so
  that both see the same load; medians of ``--runs`` passes are reported, and the speed-up is the
  median of the per-round ratios. Backbone and head times come from forward hooks within the same
  passes; "rest" is the meta-architecture's own work (normalisation, padding, mask upsampling, the
  class-mask combination, post-processing). GFLOPs are read from ``benchmarks/flops.md``.
- ``mask``: "the mask is free": (head + rest) / backbone of SegViT ViT-B 512 per pass (from the
  ``pairs`` passes and from a second process with PyTorch's ``THP_MEM_ALLOC_ENABLE=1``).
- ``memory``: peak resident memory (``VmHWM``) of ViT-L 640 whole-image inference and of
  slide inference on a 2048x1024 image, each in its own process.

What the numbers mean (why the speed-up is below the FLOPs ratio, what remains after the head):
``docs/results.md``, section "Inference speed, Shrunk vs plain (CPU)".

Usage (about 10 minutes on 2 idle CPU cores; much more when they are shared)::

    .venv/bin/python -m benchmarks.speed
    .venv/bin/python -m benchmarks.speed --sections mask --output /tmp/speed.md
"""

import argparse
import json
import os
import subprocess
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from benchmarks.common import ROOT, cpu_name, uptime, write_text
from benchmarks.flops import read_gflops
from benchmarks.memory import memory_child, render_memory
from benchmarks.part_timer import PARTS, Timed, time_pair

COMMAND = ".venv/bin/python -m benchmarks.speed"
SECTIONS = ("pairs", "mask", "memory")
MASK_TARGET = 0.15  # issue 14: head + rest <= 15% of the backbone (ViT-B 512)
SHRUNK_TARGET = 0.95  # issue 14: Shrunk speed-up >= 95% of the FLOPs ratio (ViT-L 640)
VIT_B = "configs/ade20k/segvit_vit_b16_512x512_160k.py"

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


def render_pairs(rows: Sequence[Dict], runs: int) -> List[str]:
    """The ``pairs`` section: per-model times and parts, speed-ups, the ViT-L explanation."""
    lines = [
        "## Shrunk SegViT vs SegViT",
        "",
        "Batch 1, eval, `torch.no_grad`, whole-image inference through `model([...])`; both "
        f"models of a pair warmed up once, then {runs} alternating passes each; medians.",
        "",
        "| pair | input | model | total s (median, min-max) | backbone s | head s | rest s "
        "| GFLOPs | measured speed-up | FLOPs ratio | speed-up / FLOPs ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        for kind, name in (("segvit", "SegViT"), ("shrunk", "Shrunk")):
            t = row[kind]
            shrunk = kind == "shrunk"
            speed = f"**{row['speedup']:.2f}x**" if shrunk else ""
            ratio = f"**{row['flops_ratio']:.2f}x**" if shrunk else ""
            share = f"{row['speedup'] / row['flops_ratio']:.0%}" if shrunk else ""
            lines.append(
                f"| {row['label']} | {row['hw'][0]}x{row['hw'][1]} | {name} "
                f"(`{os.path.basename(row[kind + '_config'])}`) | {t['total']:.2f} "
                f"({t['min']:.2f}-{t['max']:.2f}) | {t['backbone']:.2f} | {t['head']:.2f} "
                f"| {t['rest']:.2f} | {row[kind + '_gflops']['total']:.1f} | {speed} | {ratio} "
                f"| {share} |"
            )
    lines += [
        "",
        "Speed-up = median over rounds of SegViT time / Shrunk time; FLOPs ratio = SegViT / "
        f"Shrunk GFLOPs. Target (issue 14): ViT-L speed-up >= {SHRUNK_TARGET:.0%} of the FLOPs "
        "ratio.",
        "",
    ]
    big = [r for r in rows if r["label"].startswith("ViT-L")]
    if big:
        share = big[0]["speedup"] / big[0]["flops_ratio"]
        verdict = "met" if share >= SHRUNK_TARGET else "**not met**"
        lines += [f"ViT-L: {share:.0%} of the FLOPs ratio: {verdict}.", ""]
        lines.append(explanation([*big, *[r for r in rows if r not in big]]))
    else:
        lines += [part_table(r) + "\n" for r in rows]
    return lines


def child_json(args: List[str], env: Optional[Dict[str, str]] = None) -> Dict:
    """Run this module in a fresh process with ``args``; its last stdout line is JSON."""
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.speed", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure_mask(runs: int, pairs_rows: Sequence[Dict], threads: int) -> Dict:
    """The ``mask`` section's numbers: per-pass ratios (this process and a THP process)."""
    segvit_b = [r["segvit"] for r in pairs_rows if r["segvit_config"] == VIT_B]
    thp = child_json(
        ["--child", "mask-ratio", "--runs", str(runs), "--threads", str(threads)],
        env={"THP_MEM_ALLOC_ENABLE": "1"},
    )
    if not segvit_b:
        segvit_b = [child_json(["--child", "mask-ratio", "--runs", str(runs)])]
    return {"default": segvit_b[0], "thp": thp}


def render_mask(mask: Dict) -> List[str]:
    ratio, thp = mask["default"]["after_backbone"], mask["thp"]["after_backbone"]
    lines = [
        "## The mask is free: head + everything after it vs the backbone (SegViT ViT-B 512)",
        "",
        f"Target (issue 14): head + rest <= {MASK_TARGET:.0%} of the backbone time. Median over "
        "passes of (total - backbone) / backbone, each pass measured in one `model([...])` call.",
        "",
        "| process | backbone s | head s | rest s | (head + rest) / backbone | target |",
        "|---|---|---|---|---|---|",
    ]
    for name, t, r in (
        ("default allocator (the `pairs` passes)", mask["default"], ratio),
        ("`THP_MEM_ALLOC_ENABLE=1` (own process)", mask["thp"], thp),
    ):
        verdict = "met" if r <= MASK_TARGET else "**not met**"
        lines.append(
            f"| {name} | {t['backbone']:.2f} | {t['head']:.2f} | {t['rest']:.2f} | **{r:.1%}** "
            f"| {verdict} |"
        )
    return lines + [""]


def render(sections: Dict, load_before: str, load_after: str) -> str:
    lines = [
        "# Inference speed and memory (CPU)",
        "",
        f"Regenerate with `{COMMAND}` (one section: `--sections pairs|mask|memory`).",
        "",
        f"Machine: {cpu_name()}, torch {torch.__version__}, {torch.get_num_threads()} threads.",
        "",
        "The 1-minute load average before and after (this benchmark alone is a load of about "
        f"{torch.get_num_threads()}; more means other processes shared the cores):",
        "",
        f"- before: `{load_before}`",
        f"- after: `{load_after}`",
        "",
    ]
    if "pairs" in sections:
        lines += render_pairs(sections["pairs"], sections["runs"])
    if "mask" in sections:
        lines += render_mask(sections["mask"])
    if "memory" in sections:
        lines += render_memory(sections["memory"])
    return "\n".join(lines).rstrip() + "\n"


def part_table(row: Dict) -> str:
    """GFLOPs and seconds per part (total, backbone, head, rest) of one pair."""
    fs, fk, ts, tk = row["segvit_gflops"], row["shrunk_gflops"], row["segvit"], row["shrunk"]
    nan = float("nan")
    lines = [
        f"{row['label']} ({row['hw'][0]}x{row['hw'][1]}):",
        "",
        "| part | SegViT GFLOPs | Shrunk GFLOPs | FLOPs ratio | SegViT s | Shrunk s | time ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for part in PARTS:
        a, b = fs.get(part, nan), fk.get(part, nan)
        lines.append(
            f"| {part} | {a:.1f} | {b:.1f} | {a / b:.2f}x | {ts[part]:.2f} | {tk[part]:.2f} "
            f"| {ts[part] / tk[part]:.2f}x |"
        )
    return "\n".join(lines)


def explanation(rows: Sequence[Dict]) -> str:
    """The per-part tables of every pair (first pair: ViT-L, then ViT-B); what they show is
    explained in ``docs/results.md``."""
    return (
        "\n\n".join(
            [
                "### Speed-up vs FLOPs ratio, part by part",
                "Per part (GFLOPs from `flops.md`, seconds from the table above); why the speed-up"
                ' is below the FLOPs ratio: `docs/results.md`, "Inference speed, Shrunk vs plain".',
                *[part_table(r) for r in rows],
            ]
        )
        + "\n"
    )


def measure_pairs(only: str, runs: int, gflops: Dict) -> List[Dict]:
    rows = []
    for label, hw, segvit_config, shrunk_config in PAIRS:
        if only not in label:
            continue
        segvit_t, shrunk_t, speedup = time_pair((segvit_config, shrunk_config), hw, runs)
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
                speedup=speedup,
                flops_ratio=gflops[segvit_config]["total"] / gflops[shrunk_config]["total"],
            )
        )
    return rows


def mask_ratio_child(runs: int) -> Dict:
    """SegViT ViT-B 512 alone: medians of its parts and of (head + rest) / backbone."""
    model = Timed(VIT_B, (512, 512))
    model.run(record=False)
    for _ in range(runs):
        model.run()
    return model.summary()


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed passes per model")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--only", default="", help="run the pairs whose label contains this")
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)  # internal
    parser.add_argument("--flops", default=os.path.join(ROOT, "benchmarks", "flops.md"))
    parser.add_argument("--output", default=os.path.join(ROOT, "benchmarks", "speed.md"))
    args = parser.parse_args(argv)
    import segvit  # noqa: F401  (registers modules)

    torch.set_num_threads(args.threads)
    if args.child:
        result = mask_ratio_child(args.runs) if args.child == "mask-ratio" else None
        result = result or memory_child(args.child)
        print(json.dumps(result))
        return 0
    load_before = uptime()
    sections: Dict = {"runs": args.runs}
    if "pairs" in args.sections:
        sections["pairs"] = measure_pairs(args.only, args.runs, read_gflops(args.flops))
    if "mask" in args.sections:
        sections["mask"] = measure_mask(args.runs, sections.get("pairs", []), args.threads)
    if "memory" in args.sections:
        sections["memory"] = [child_json(["--child", c]) for c in ("whole", "slide")]
    report = render(sections, load_before, uptime())
    write_text(args.output, report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
