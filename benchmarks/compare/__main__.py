"""Every decoder of the project side by side, written to ``benchmarks/compare.md``.

Three parts, each from the same code paths a user runs:

1. **Tiny, trained on the synthetic dataset** (``configs/synthetic/*_tiny.py``): the demo's tiny
   ViT, data, crops, batch and number of iterations (``train.max_iter`` of ``segvit_tiny.py``,
   read at run time) for every method, each with its own loss ("own" recipe) and, where it applies,
   the demo's recipe ("demo": see ``RECIPES`` in :mod:`benchmarks.compare.methods`). Every run is
   ``tools/train_net.py`` in its own process (:mod:`benchmarks.compare.runs`), evaluated once at
   the end (``SemSegEvaluator`` mIoU on ``synthetic_sem_seg_val``). Every invocation merges all
   stored runs of the current iteration count and data version into the table (median and
   min-max over seeds, training s/iteration = median of Detectron2's per-iteration ``time``, wall
   time per run); runs can be done in parts (``--methods``, ``--recipes``, ``--seeds``) and in
   parallel (``--jobs``, ``--device cuda``).
2. **Full size** (``--parts full``, :mod:`benchmarks.compare.full_size`): ViT-B/16 at 512x512
   for every method with a ViT-B config, and Swin-T at 512x512 for the paper's Table 6 trio:
   parameters, decoder parameters (everything but the ViT / Swin), fvcore GFLOPs (one
   multiply-add = one flop, batch 1, whole-image pass) beside the paper's number, and CPU latency
   (batch 1, median of ``--runs`` passes after one warm-up, the models of a group timed in
   alternation). Random weights. Stored in ``<results>/full_size.json``.
3. **Published**: each method's ADE20K mIoU as its paper reports it (``PUBLISHED``).

What the numbers mean: ``docs/results.md``, section "Every decoder side by side".

Usage::

    .venv/bin/python -m benchmarks.compare                        # stored runs -> .md (no training)
    .venv/bin/python -m benchmarks.compare --parts full           # full-size part (CPU, minutes)
    .venv/bin/python -m benchmarks.compare --parts tiny --jobs 12 --device cuda   # all runs
    .venv/bin/python -m benchmarks.compare --adopt output/compare/<run folder> --jobs 2 --threads 1
        # a run that finished after its parent process was stopped: stored from its folder
    .venv/bin/python -m benchmarks.compare --parts tiny --methods SegViT --seeds 0 --iters 20 \\
        --results output/compare_smoke --output output/compare_smoke.md          # plumbing check

On a 2-core CPU a tiny run of 2,000 iterations takes 9-19 minutes: the 30 runs are meant for a
GPU machine (``benchmarks/compare_gpu_run.sh``).
"""

import argparse
import json
import os
import sys
from typing import Optional, Sequence

from benchmarks.common import ROOT, write_text
from benchmarks.compare.full_size import FULL_SIZE_FILE, run_full
from benchmarks.compare.methods import ALL_RECIPES, RECIPES
from benchmarks.compare.pretrained_report import PRETRAIN_FILE
from benchmarks.compare.report import render
from benchmarks.compare.runs import (
    adopt_run,
    demo_iterations,
    load_runs,
    record_run_context,
    run_tiny,
)

DEFAULT_OUTPUT = os.path.join(ROOT, "benchmarks", "compare.md")
DEFAULT_RESULTS = os.path.join(ROOT, "benchmarks", "compare_runs")


def parse_args(argv: Optional[Sequence[str]]):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--parts",
        nargs="+",
        default=[],
        choices=["tiny", "full"],
        help="what to measure before writing the table (default: nothing, only merge the stored"
        " measurements into the table)",
    )
    parser.add_argument("--methods", nargs="+", default=None, help="names or keys (default: all)")
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=ALL_RECIPES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--iters",
        type=int,
        default=None,
        help="training iterations (default: train.max_iter of the demo config)",
    )
    parser.add_argument("--jobs", type=int, default=1, help="training processes at a time")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="OMP/MKL threads per training process (default: CPUs / jobs)",
    )
    parser.add_argument(
        "--sharing",
        type=int,
        default=None,
        help="training runs that share the machine, as recorded in the table (default: --jobs;"
        " more when other comparison processes run beside this one)",
    )
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument(
        "--deadline-min",
        type=float,
        default=None,
        help="start no new run after this many minutes (running ones finish)",
    )
    parser.add_argument("--runs", type=int, default=3, help="timed passes per full-size model")
    parser.add_argument(
        "--workdir",
        default=os.path.join(ROOT, "output", "compare"),
        help="training output folders (one new folder per run)",
    )
    parser.add_argument(
        "--adopt",
        nargs="+",
        default=[],
        metavar="RUN_FOLDER",
        help="store finished run folders whose parent process was stopped while they trained (give"
        " --device, --jobs and --threads as they ran)",
    )
    parser.add_argument("--results", default=DEFAULT_RESULTS, help="stored runs (JSON files)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="markdown file to write")
    args = parser.parse_args(argv)
    args.cli = "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
    args.results, args.workdir = os.path.abspath(args.results), os.path.abspath(args.workdir)
    if args.threads is None:
        args.threads = max(1, (os.cpu_count() or 1) // max(1, args.jobs))
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    from segvit.data.synthetic import DATA_VERSION  # the data the table is about

    args = parse_args(argv)
    if args.iters is None:
        args.iters = demo_iterations()
    if args.adopt:
        record_run_context(args, DATA_VERSION)
        for folder in args.adopt:
            r = adopt_run(folder, args)
            print(f"adopted {folder}: mIoU {r['miou']:.2f}, {r['s_per_iter']:.3f} s/it", flush=True)
    if "tiny" in args.parts:
        run_tiny(args)
    if "full" in args.parts:
        run_full(args)
    full_path = os.path.join(args.results, FULL_SIZE_FILE)
    full = json.load(open(full_path)) if os.path.exists(full_path) else None
    pretrain_path = os.path.join(args.results, PRETRAIN_FILE)
    pretrain = json.load(open(pretrain_path)) if os.path.exists(pretrain_path) else None
    text = render(load_runs(args.results), full, args.iters, DATA_VERSION, pretrain)
    write_text(args.output, text)
    print(text)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
