#!/usr/bin/env python
"""Every decoder of the project side by side, written to ``benchmarks/compare.md``.

Three parts, each from the same code paths a user runs:

1. **Tiny, trained on the synthetic dataset** (``configs/synthetic/*_tiny.py``): the demo's tiny
   ViT, data, crops, batch and number of iterations (``train.max_iter`` of ``segvit_tiny.py``,
   read at run time) for every method, each with its own loss ("own" recipe) and, where it applies,
   the demo's recipe ("demo": see :data:`RECIPES`). Every run is ``tools/train_net.py`` in its own
   process with ``train.seed=<seed>`` (which seeds the weights, the data order and the
   augmentation), evaluated once at the end (``SemSegEvaluator`` mIoU on ``synthetic_sem_seg_val``).
   Each finished run is stored as ``<results>/<method>__<recipe>__seed<k>__<iters>it.json`` and
   never redone; every invocation merges all stored runs of the current iteration count and data
   version into the table (median and min-max over seeds, training s/iteration = median of
   Detectron2's per-iteration ``time``, wall time per run), so a long run survives interruptions
   and can be done in parts (``--methods``, ``--recipes``, ``--seeds``) and in parallel
   (``--jobs``, ``--device cuda``).
2. **Full size** (``--parts full``): ViT-B/16 at 512x512 for every method with a ViT-B config, and
   Swin-T at 512x512 for the paper's Table 6 trio: parameters, decoder parameters (everything but
   the ViT / Swin), fvcore GFLOPs (one multiply-add = one flop, batch 1, whole-image pass, with the
   project's handles for SDPA, fused MHA and ``grid_sampler``) beside the paper's number, and CPU
   latency (batch 1, eval mode, ``torch.no_grad``, ``model([...])``, median of ``--runs`` passes
   after one warm-up, the models of a group timed in alternation). Random weights. Stored in
   ``<results>/full_size.json``.
3. **Published**: each method's ADE20K mIoU as its paper reports it (:data:`PUBLISHED`, with the
   source of every number).

A method whose config file does not exist yet (Segmenter and DEPICT land with issue 12) is shown
as "config missing" and skipped.

Usage::

    .venv/bin/python benchmarks/compare.py                        # merge stored runs -> .md
    .venv/bin/python benchmarks/compare.py --parts full           # full-size part (CPU, minutes)
    .venv/bin/python benchmarks/compare.py --parts tiny --jobs 12 --device cuda   # all runs
    .venv/bin/python benchmarks/compare.py --adopt output/compare/<run folder> --jobs 2 --threads 1
        # a run that finished after its compare.py was stopped: stored from its folder
    .venv/bin/python benchmarks/compare.py --parts tiny --methods SegViT --seeds 0 --iters 20 \\
        --results output/compare_smoke --output output/compare_smoke.md          # plumbing check

On the 2-core CPU a tiny run of 2,000 iterations takes 9-19 minutes: the 30 runs are meant for
a GPU machine (``benchmarks/compare_gpu_run.sh``).
"""

import argparse
import concurrent.futures
import dataclasses
import gc
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional, Sequence, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUTPUT = os.path.join(ROOT, "benchmarks", "compare.md")
DEFAULT_RESULTS = os.path.join(ROOT, "benchmarks", "compare_runs")
DEMO_CONFIG = "configs/synthetic/segvit_tiny.py"
FULL_SIZE_FILE = "full_size.json"
RENDER_COMMAND = ".venv/bin/python benchmarks/compare.py"

# Recipes of the tiny part. "own": the method's loss as in its paper. "demo": the demo config's
# recipe (``segvit_tiny.py``): the paper's loss plus the per-pixel cross-entropy across the class
# queries' mask logits (weight 10), which only exists for heads with one query per class and
# sigmoid masks (SegViT's ATM criterion).
RECIPES = ("own", "demo")
PIXEL_CE_OFF = ("model.criterion.pixel_ce_weight=0.0",)  # the paper's ATM loss


@dataclasses.dataclass(frozen=True)
class FullSize:
    """A full-size config and what the papers give for it."""

    config: str
    backbone: str  # "ViT-B" or "Swin-T"
    paper_gflops: Optional[float] = None
    paper_source: str = ""  # where paper_gflops comes from
    ref_decoder_params_m: Optional[float] = None  # arithmetic of the facts sheets
    ref_source: str = ""


@dataclasses.dataclass(frozen=True)
class Method:
    name: str
    key: str  # file-name key
    tiny_config: str
    recipes: Dict[str, Tuple[str, ...]]  # recipe -> train_net overrides; absent: n/a
    demo_note: str  # what "demo recipe" means for this method, or why it does not apply
    full: Tuple[FullSize, ...] = ()


SEGVIT_DEMO_NOTE = (
    "own: the paper's ATM loss (`pixel_ce_weight=0`); demo: + the demo's per-pixel CE (weight 10)"
)
METHODS: List[Method] = [
    Method(
        "SegViT", "segvit", "configs/synthetic/segvit_tiny.py",
        {"own": PIXEL_CE_OFF, "demo": ()}, SEGVIT_DEMO_NOTE,
        (FullSize("configs/ade20k/segvit_vit_b16_512x512_160k.py", "ViT-B", 120.9,
                  "SegViT T1", 22.303, "segvit_facts §7"),
         FullSize("configs/ade20k/segvit_swin_t_512x512_160k.py", "Swin-T", 48.0, "SegViT T6")),
    ),
    Method(
        "Shrunk SegViT", "segvit_shrunk", "configs/synthetic/segvit_shrunk_tiny.py",
        {"own": PIXEL_CE_OFF, "demo": ()}, SEGVIT_DEMO_NOTE,
        (FullSize("configs/ade20k/ablations/segvit_shrunk_vit_b16_512x512_160k.py", "ViT-B",
                  97.1, "SegViT T8"),),
    ),
    Method(
        "SETR-naive", "setr", "configs/synthetic/setr_tiny.py", {"own": ()},
        "n/a: its own loss is the per-pixel CE already",
        (FullSize("configs/ade20k/ablations/setr_naive_vit_b16_512x512_160k.py", "ViT-B", 107.3,
                  "SegViT T8"),),
    ),
    Method(
        "Segmenter", "segmenter", "configs/synthetic/segmenter_tiny.py", {"own": ()},
        "n/a: its own loss is the per-pixel CE already",
        (FullSize("configs/ade20k/segmenter_vit_b16_512x512_160k.py", "ViT-B", 129.6,
                  "SegViT T1", 16.06, "depict_facts §3"),),
    ),
    Method(
        "DEPICT-SA", "depict_sa", "configs/synthetic/depict_sa_tiny.py", {"own": ()},
        "n/a: its own loss is the per-pixel CE already",
        (FullSize("configs/ade20k/depict_sa_vit_b16_512x512_160k.py", "ViT-B", None, "",
                  0.812847, "depict_facts §3"),),
    ),
    Method(
        "DEPICT-CA", "depict_ca", "configs/synthetic/depict_ca_tiny.py", {"own": ()},
        "n/a: its own loss is the per-pixel CE already",
        (FullSize("configs/ade20k/depict_ca_vit_b16_512x512_160k.py", "ViT-B", None, "",
                  1.164594, "depict_facts §3"),),
    ),
    Method(
        "MaskFormer", "maskformer", "configs/synthetic/maskformer_tiny.py", {"own": ()},
        "n/a: its 16 queries are matched, not one per class",
        (FullSize("configs/ade20k/maskformer_vit_b16_512x512_160k.py", "ViT-B"),
         FullSize("configs/ade20k/maskformer_swin_t_512x512_160k.py", "Swin-T", 57.3,
                  "SegViT T6")),
    ),
    Method(
        "Mask2Former", "mask2former", "configs/synthetic/mask2former_tiny.py", {"own": ()},
        "n/a: its 16 queries are matched, not one per class",
        (FullSize("configs/ade20k/mask2former_vit_b16_512x512_160k.py", "ViT-B"),
         FullSize("configs/ade20k/mask2former_swin_t_512x512_160k.py", "Swin-T", 73.7,
                  "SegViT T6")),
    ),
]  # fmt: skip

# ADE20K val mIoU as published: (method, backbone, crop, ss, ms, GFLOPs, source). Only numbers
# found in /work/shared (papers/*.txt, segvit_facts.md, depict_facts.md); "-" = not given there.
SEGVIT_T1 = "SegViT paper (NeurIPS 2022) Table 1"
PUBLISHED: List[Tuple[str, str, str, str, str, str, str]] = [
    ("SegViT", "ViT-B", "512", "51.3", "53.0", "120.9", SEGVIT_T1),
    ("SegViT", "ViT-L (AugReg)", "640", "54.6", "55.2", "637.9", SEGVIT_T1),
    ("SegViT", "Swin-T", "512", "47.1", "-", "48.0", "SegViT paper Table 6"),
    ("Shrunk SegViT", "ViT-B", "512", "50.0", "-", "97.1", "SegViT paper Table 8 (Shrunk)"),
    ("Shrunk SegViT", "ViT-L (AugReg)", "640", "53.9", "55.1", "373.5", SEGVIT_T1),
    ("SETR-naive", "ViT-B", "512", "46.5", "-", "107.3",
     "SegViT paper Tables 4 and 8 (Single, SETR)"),
    ("Segmenter", "ViT-B", "512", "49.0", "50.0", "129.6",
     SEGVIT_T1 + " (Segmenter*: 'reproduced under the same settings as the official repo')"),
    ("Segmenter", "ViT-B", "512", "48.5", "-", "-",
     "DEPICT's README plot, read off by pixel (depict_facts.md §3)"),
    ("Segmenter", "ViT-L (AugReg)", "640", "51.8", "53.6", "671.8",
     SEGVIT_T1 + "; the same mIoU in Segmenter's README (depict_facts.md §3)"),
    ("DEPICT (variant not stated)", "ViT-B", "512", "≈49.2-49.4", "-", "-",
     "DEPICT's README plot, read off by pixel (depict_facts.md §3); not a table value"),
    ("DEPICT-SA", "ViT-L", "640", "52.9", "54.3", "-",
     "DEPICT paper via Papers-with-Code (papers/depict_compression_decoder.txt)"),
    ("DEPICT-CA", "-", "-", "-", "-", "-",
     "no ADE20K number for DEPICT-CA in the provided texts (the paper's tables were not readable)"),
    ("MaskFormer", "Swin-T", "512", "46.7", "-", "57.3", "SegViT paper Table 6"),
    ("Mask2Former", "Swin-T", "512", "47.7", "-", "73.7", "SegViT paper Table 6"),
    ("MaskFormer, Mask2Former", "ViT-B", "512", "-", "-", "-",
     "none: their papers have no plain-ViT model; our ViT-B configs are our own pairing"),
]  # fmt: skip


def find_methods(names: Optional[Sequence[str]]) -> List[Method]:
    """Methods by name or key (case-insensitive); all when ``names`` is empty."""
    if not names:
        return list(METHODS)
    by_name = {m.name.lower(): m for m in METHODS}
    by_name.update({m.key: m for m in METHODS})
    unknown = [n for n in names if n.lower() not in by_name]
    if unknown:
        raise SystemExit(f"--methods: unknown {unknown}; use {[m.name for m in METHODS]}")
    return [by_name[n.lower()] for n in names]


def config_exists(config: str) -> bool:
    return os.path.isfile(os.path.join(ROOT, config))


# ---------------------------------------------------------------------------------------------
# Tiny part: one training run per (method, recipe, seed), stored as JSON
# ---------------------------------------------------------------------------------------------


def run_name(method: Method, recipe: str, seed: int, iters: int) -> str:
    return f"{method.key}__{recipe}__seed{seed}__{iters}it"


def stored_run_path(args, method: Method, recipe: str, seed: int) -> str:
    """``<results>/<method>__<recipe>__seed<k>__<iters>it.json``: a run is done once this exists."""
    return os.path.join(args.results, run_name(method, recipe, seed, args.iters) + ".json")


def demo_iterations() -> int:
    """``train.max_iter`` of the demo config: the iteration count of every tiny run."""
    from detectron2.config import LazyConfig

    return int(LazyConfig.load(os.path.join(ROOT, DEMO_CONFIG)).train.max_iter)


def datasets_root() -> str:
    """Absolute `$DETECTRON2_DATASETS` (default `<repo>/datasets`) for the training processes."""
    root = os.getenv("DETECTRON2_DATASETS") or os.path.join(ROOT, "datasets")
    return os.path.abspath(os.path.expanduser(root))


def prepare_dataset() -> int:
    """Generate the synthetic dataset once (before parallel runs); return its version."""
    from segvit.data.synthetic import ensure_synthetic_dataset

    root = ensure_synthetic_dataset(os.path.join(datasets_root(), "synthetic"))
    with open(os.path.join(root, "meta.json")) as f:
        return int(json.load(f)["version"])


def describe_tiny(method: Method) -> Dict:
    """Params, GFLOPs at 128x128 (whole-image pass) and optimizer of a tiny config."""
    from detectron2.config import LazyConfig

    cfg = LazyConfig.load(os.path.join(ROOT, method.tiny_config))
    model = build_eval_model(method.tiny_config)
    try:
        gflops = params_and_gflops(model, (128, 128))["gflops"]
    except RuntimeError as e:  # an op fvcore cannot count: train anyway, without the GFLOPs
        print(f"{method.name}: GFLOPs not counted ({e})", flush=True)
        gflops = None
    opt = cfg.optimizer
    cls = opt.get("optimizer_cls") or opt.get("_target_")
    name = getattr(cls, "__name__", str(cls).rsplit(".", 1)[-1])
    return {
        "tiny_params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "tiny_gflops": gflops,
        "optimizer": f"{name} lr {opt.get('lr')}",
        "batch": int(cfg.dataloader.train.total_batch_size),
        "crop": list(cfg.dataloader.train.mapper.augmentations.crop_size),
    }


def train_command(method: Method, recipe: str, seed: int, iters: int, device: str, out: str):
    return [
        sys.executable, os.path.join(ROOT, "tools", "train_net.py"),
        "--config-file", os.path.join(ROOT, method.tiny_config),
        "--num-gpus", "1" if device == "cuda" else "0",
        f"train.output_dir={out}", f"train.max_iter={iters}", f"train.eval_period={iters}",
        f"train.checkpointer.period={iters}", f"train.seed={seed}", f"train.device={device}",
        *method.recipes[recipe],
    ]  # fmt: skip


def read_metrics(out: str) -> Tuple[float, float]:
    """Final mIoU and the median training s/iteration (NaN when too few iterations were logged)."""
    rows = [json.loads(line) for line in open(os.path.join(out, "metrics.json"))]
    miou = [r["sem_seg/mIoU"] for r in rows if "sem_seg/mIoU" in r]
    step_times = [r["time"] for r in rows if "time" in r]
    if not miou:
        raise RuntimeError(f"{out}/metrics.json has no mIoU")
    return miou[-1], statistics.median(step_times) if step_times else float("nan")


def write_json_atomic(path: str, data: Dict) -> None:
    """Write ``path`` via a temporary file, so that an interrupted write leaves no half file."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)


def train_one(job: Dict, args) -> Dict:
    """Run one training process; store and return its result (raises on failure)."""
    method, recipe, seed = job["method"], job["recipe"], job["seed"]
    name = run_name(method, recipe, seed, args.iters)
    out = os.path.join(args.workdir, f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    os.makedirs(out)  # a fresh folder: an earlier, interrupted run is left as it is
    from segvit.engine.run_folder import claim_output_folder

    claim_output_folder(out, what="train.output_dir")  # marked ours: train.log may go in first
    cmd = train_command(method, recipe, seed, args.iters, args.device, out)
    env = dict(os.environ)
    env.update(
        OMP_NUM_THREADS=str(args.threads),
        MKL_NUM_THREADS=str(args.threads),
        DETECTRON2_DATASETS=datasets_root(),
        PYTHONPATH=os.pathsep.join(
            p for p in (os.path.join(ROOT, "projects", "SegViT"), env.get("PYTHONPATH")) if p
        ),
    )
    start = time.time()
    with open(os.path.join(out, "train.log"), "w") as log:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    wall = time.time() - start
    if proc.returncode != 0:
        raise RuntimeError(f"exit {proc.returncode}; see {out}/train.log")
    return store_result(job, args, out, cmd, wall)


def store_result(job: Dict, args, out: str, cmd: Sequence[str], wall: float, **extra) -> Dict:
    """Read a finished run folder's metrics; store them as `<results>/<name>.json`; return them."""
    method, recipe, seed = job["method"], job["recipe"], job["seed"]
    miou, s_per_iter = read_metrics(out)
    result = {
        "method": method.name, "key": method.key, "recipe": recipe, "seed": seed,
        "iters": args.iters, "miou": miou, "s_per_iter": s_per_iter, "wall_s": wall,
        "data_version": args.data_version, "device": args.device,
        "device_name": args.device_name, "jobs": args.sharing or args.jobs, "threads": args.threads,
        "torch": args.torch_version, "overrides": list(method.recipes[recipe]),
        "command": " ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c for c in cmd),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        **job["tiny"], **extra,
    }  # fmt: skip
    write_json_atomic(stored_run_path(args, method, recipe, seed), result)
    return result


RUN_FOLDER = re.compile(
    r"^(?P<key>\w+?)__(?P<recipe>own|demo)__seed(?P<seed>\d+)__(?P<iters>\d+)it"
    r"-(?P<stamp>\d{8}-\d{6})-\d+$"
)


def adopt_run(out: str, args) -> Dict:
    """Store a run folder that finished after its ``compare.py`` was stopped (``--adopt``).

    A training process outlives a stopped parent and finishes its folder, but nobody stores it.
    The folder name (``<key>__<recipe>__seed<k>__<iters>it-<start>-<pid>``, written by
    :func:`train_one`) gives the run; its ``metrics.json`` must hold the final evaluation. Wall
    time = the start in the name to the last write of ``metrics.json``; device, jobs and threads
    are this invocation's ``--device``, ``--jobs`` and ``--threads`` (say how the run was made).
    """
    folder = os.path.abspath(out.rstrip("/"))
    match = RUN_FOLDER.match(os.path.basename(folder))
    if not match:
        raise SystemExit(
            f"--adopt {out}: not a run folder of compare.py "
            "(<method>__<recipe>__seed<k>__<iters>it-<date>-<time>-<pid>)"
        )
    method = next((m for m in METHODS if m.key == match["key"]), None)
    if method is None or match["recipe"] not in method.recipes:
        raise SystemExit(
            f"--adopt {out}: no method {match['key']!r} with recipe {match['recipe']!r}"
        )
    if int(match["iters"]) != args.iters:
        raise SystemExit(f"--adopt {out}: {match['iters']} iterations, the table has {args.iters}")
    metrics = os.path.join(folder, "metrics.json")
    rows = [json.loads(line) for line in open(metrics)] if os.path.exists(metrics) else []
    last = max((r.get("iteration", -1) for r in rows), default=-1)
    has_miou = any("sem_seg/mIoU" in r for r in rows)
    if last < args.iters - 1 or not has_miou:
        raise SystemExit(
            f"--adopt {out}: unfinished (last iteration {last}, final mIoU "
            f"{'present' if has_miou else 'missing'}); wait for it"
        )
    if os.path.exists(stored_run_path(args, method, match["recipe"], int(match["seed"]))):
        name = run_name(method, match["recipe"], int(match["seed"]), args.iters)
        raise SystemExit(f"--adopt {out}: {name} is stored already; nothing written")
    start = time.mktime(time.strptime(match["stamp"], "%Y%m%d-%H%M%S"))
    job = {"method": method, "recipe": match["recipe"], "seed": int(match["seed"]),
           "tiny": describe_tiny(method)}  # fmt: skip
    cmd = train_command(method, job["recipe"], job["seed"], args.iters, args.device, folder)
    end = os.path.getmtime(metrics)
    finished = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(end))
    note = f"stored by --adopt from {folder}"
    return store_result(job, args, folder, cmd, end - start, finished=finished, adopted=note)


def plan_runs(args) -> Tuple[List[Dict], List[str]]:
    """The runs to do now (stored ones skipped) and a line per skipped method/recipe."""
    jobs, notes = [], []
    for method in find_methods(args.methods):
        if not config_exists(method.tiny_config):
            notes.append(f"{method.name}: config missing ({method.tiny_config}), skipped")
            continue
        recipes = [r for r in args.recipes if r in method.recipes]
        tiny = None
        for recipe in recipes:
            for seed in args.seeds:
                if os.path.exists(stored_run_path(args, method, recipe, seed)):
                    notes.append(
                        f"{run_name(method, recipe, seed, args.iters)}: already stored, not redone"
                    )
                    continue
                tiny = tiny or describe_tiny(method)
                jobs.append({"method": method, "recipe": recipe, "seed": seed, "tiny": tiny})
    # Seed by seed, the longest first within a seed: a run cut short still leaves every method
    # with as many seeds as possible, and the long runs do not end up alone in the last wave.
    jobs.sort(key=lambda job: (job["seed"], -(job["tiny"].get("tiny_gflops") or 0.0)))
    return jobs, notes


def record_run_context(args, data_version: int) -> None:
    """Set what every stored run records besides its metrics: data version, torch, device name."""
    import torch

    args.data_version, args.torch_version = data_version, torch.__version__
    args.device_name = torch.cuda.get_device_name(0) if args.device == "cuda" else cpu_name()


def run_tiny(args) -> None:
    """Train every planned run, ``--jobs`` at a time; print progress; store each run."""
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda, but torch sees no CUDA GPU here; use --device cpu")
    record_run_context(args, prepare_dataset())
    jobs, notes = plan_runs(args)
    for note in notes:
        print(note, flush=True)
    start, done, lock = time.time(), [0], threading.Lock()
    deadline = start + 60 * args.deadline_min if args.deadline_min else None
    print(
        f"{len(jobs)} runs of {args.iters} iterations, {args.jobs} at a time, "
        f"{args.threads} threads each, on {args.device} ({args.device_name})",
        flush=True,
    )

    def work(job):
        label = f"{job['method'].name} / {job['recipe']} / seed {job['seed']}"
        if deadline and time.time() > deadline:
            return f"{label}: not started (past --deadline-min {args.deadline_min})"
        if os.path.exists(stored_run_path(args, job["method"], job["recipe"], job["seed"])):
            text = f"{label}: stored by another process since the start, not redone"
            print(text, flush=True)
            return text
        try:
            r = train_one(job, args)
            text = f"{label}: mIoU {r['miou']:.2f}, {r['s_per_iter']:.3f} s/it, {r['wall_s']:.0f} s"
        except Exception as e:  # noqa: BLE001  (one failed run must not stop the others)
            text = f"{label}: FAILED: {e}"
        with lock:
            done[0] += 1
            print(
                f"[{done[0]}/{len(jobs)}, {(time.time() - start) / 60:.1f} min] {text}", flush=True
            )
        return text

    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(work, jobs))
    failed = [r for r in results if "FAILED" in r or "not started" in r]
    print(
        f"tiny part: {len(jobs) - len(failed)} of {len(jobs)} runs stored in "
        f"{time.time() - start:.0f} s",
        flush=True,
    )
    for line in failed:
        print("  " + line, flush=True)


def load_runs(results: str) -> List[Dict]:
    """Every stored tiny run (``*__seed*it.json``) in ``results``."""
    if not os.path.isdir(results):
        return []
    runs = []
    for name in sorted(os.listdir(results)):
        if name.endswith("it.json") and "__seed" in name:
            with open(os.path.join(results, name)) as f:
                runs.append(json.load(f))
    return runs


# ---------------------------------------------------------------------------------------------
# Full-size part
# ---------------------------------------------------------------------------------------------


def build_eval_model(config: str):
    """The model of an experiment config, random weights, eval mode, one whole-image pass."""
    from detectron2.config import LazyConfig, instantiate

    import segvit  # noqa: F401  (registers modules)

    model = instantiate(LazyConfig.load(os.path.join(ROOT, config)).model).eval()
    if hasattr(model, "inference"):  # SegViT / SETR-style: whole image (one crop)
        model.inference = dataclasses.replace(model.inference, mode="whole")
    return model


def model_inputs(hw: Tuple[int, int]) -> List[Dict]:
    import torch

    gen = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (3, *hw), dtype=torch.uint8, generator=gen)
    return [{"image": image, "height": hw[0], "width": hw[1]}]


def feature_extractor(model):
    """The ViT / Swin inside the model (``backbone.net`` behind a SimpleFeaturePyramid)."""
    backbone = getattr(model, "backbone", None)
    return getattr(backbone, "net", backbone)


def params_and_gflops(model, hw: Tuple[int, int]) -> Dict[str, float]:
    """Params (M), decoder params (M: all but the ViT/Swin), fvcore GFLOPs of one whole pass."""
    import torch

    from segvit.utils.flops import count_flops

    with torch.no_grad():
        report = count_flops(model, model_inputs(hw))
    total = sum(p.numel() for p in model.parameters())
    encoder = feature_extractor(model)
    decoder = None if encoder is None else total - sum(p.numel() for p in encoder.parameters())
    return {
        "params_m": total / 1e6,
        "decoder_params_m": None if decoder is None else decoder / 1e6,
        "gflops": report.total / 1e9,
    }


def measure_full_size(methods: Sequence[Method], runs: int) -> Dict[str, Dict]:
    """Params, GFLOPs and CPU latency per full-size config, one group (ViT-B, Swin-T) at a time."""
    import torch

    results: Dict[str, Dict] = {}
    for backbone in ("ViT-B", "Swin-T"):
        rows = [f for m in methods for f in m.full if f.backbone == backbone]
        rows = [f for f in rows if config_exists(f.config)]
        models = {}
        for row in rows:
            try:
                model = build_eval_model(row.config)
                results[row.config] = params_and_gflops(model, (512, 512))
            except Exception as e:  # noqa: BLE001  (one broken config must not stop the others)
                results[row.config] = {"error": f"{type(e).__name__}: {e}"}
                print(f"{row.config}: FAILED: {results[row.config]['error']}", flush=True)
                continue
            models[row.config] = model
            print(f"{row.config}: {results[row.config]}", flush=True)
        inputs = model_inputs((512, 512))
        times: Dict[str, List[float]] = {c: [] for c in models}
        with torch.no_grad():
            for model in models.values():  # warm-up
                model(inputs)
            for _ in range(runs):  # alternate, so that every model sees the same machine load
                for config, model in models.items():
                    start = time.perf_counter()
                    model(inputs)
                    times[config].append(time.perf_counter() - start)
        for config in models:
            results[config]["latency_s"] = statistics.median(times[config])
            print(f"{config}: {results[config]['latency_s']:.2f} s", flush=True)
        del models
        gc.collect()
    return results


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        return names[0] if names else platform.machine()
    except OSError:
        return platform.machine()


def run_full(args) -> None:
    import torch

    load_before = os.getloadavg()
    start = time.time()
    measured = measure_full_size(find_methods(args.methods), args.runs)
    path = os.path.join(args.results, FULL_SIZE_FILE)
    stored = {}
    if os.path.exists(path):
        with open(path) as f:
            stored = json.load(f).get("configs", {})
    stored.update(measured)  # a partial re-measurement keeps the other rows
    write_json_atomic(
        path,
        {
            "command": f".venv/bin/python benchmarks/compare.py{args.cli}",
            "machine": f"{cpu_name()}, {torch.get_num_threads()} threads, PyTorch "
            f"{torch.__version__}",
            "load_average": f"{load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after",
            "minutes": round((time.time() - start) / 60, 1),
            "runs": args.runs,
            "configs": stored,
        },
    )


# ---------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Entry:
    """The stored runs of one (method, recipe)."""

    method: str
    recipe: str
    runs: List[Dict]

    @property
    def mious(self) -> List[float]:
        return sorted(r["miou"] for r in self.runs)

    @property
    def median(self) -> float:
        return statistics.median(self.mious)

    @property
    def low(self) -> float:
        return self.mious[0]

    @property
    def high(self) -> float:
        return self.mious[-1]

    @property
    def label(self) -> str:
        return f"{self.method} ({self.recipe})"

    def cell(self) -> str:
        seeds = ",".join(str(r["seed"]) for r in sorted(self.runs, key=lambda r: r["seed"]))
        if len(self.runs) == 1:
            return f"{self.median:.2f} (1 seed: {seeds})"
        return f"**{self.median:.2f}** ({self.low:.2f}-{self.high:.2f}, seeds {seeds})"


def overlaps(a: Entry, b: Entry) -> bool:
    return a.low <= b.high and b.low <= a.high


def group_runs(runs: Sequence[Dict], iters: int, data_version: Optional[int]) -> Dict:
    """{(method, recipe): Entry} for the runs of this iteration count and data version."""
    entries: Dict[Tuple[str, str], Entry] = {}
    for run in runs:
        if run["iters"] != iters or (
            data_version is not None and run["data_version"] != data_version
        ):
            continue
        key = (run["method"], run["recipe"])
        entries.setdefault(key, Entry(run["method"], run["recipe"], [])).runs.append(run)
    return entries


def ranking_lines(entries: Sequence[Entry]) -> List[str]:
    """The ranking by median mIoU, saying for every entry which others are within its spread.

    A difference is called one only when the min-max ranges of the two entries do not overlap and
    both have at least two seeds; otherwise it is "within spread" (or the spread is unknown).
    """
    ranked = sorted(entries, key=lambda e: -e.median)
    lines = []
    for i, entry in enumerate(ranked, 1):
        if len(entry.runs) < 2:
            lines.append(
                f"{i}. {entry.label}: median {entry.median:.2f} from 1 seed: spread unknown, "
                "no difference to it is claimed."
            )
            continue
        within = [
            o.label for o in ranked if o is not entry and len(o.runs) > 1 and overlaps(entry, o)
        ]
        below = [o.label for o in ranked if len(o.runs) > 1 and o.high < entry.low]
        text = (
            f"{i}. {entry.label}: median {entry.median:.2f}, range {entry.low:.2f}-{entry.high:.2f}"
            f" (spread {entry.high - entry.low:.2f} points over {len(entry.runs)} seeds)"
        )
        text += f"; within spread of {', '.join(within)}" if within else "; overlaps no other entry"
        if below:
            text += f"; above {', '.join(below)} by more than the spread"
        lines.append(text + ".")
    return lines


def tiny_row(method: Method, own: Optional[Entry], demo: Optional[Entry]) -> str:
    """One table row: sizes, optimizer, mIoU per recipe, s/it and wall minutes per recipe."""
    if not config_exists(method.tiny_config) and not (own or demo):
        return f"| {method.name} | config missing (`{method.tiny_config}`) | | | | | | | |"
    by_recipe = {"own": own, "demo": demo}
    recipes = [r for r in RECIPES if r in method.recipes]
    first = (own or demo).runs[0] if (own or demo) else {}

    def number(key: str, spec: str) -> str:
        return fmt(first.get(key), spec)

    def mious(recipe: str) -> str:
        if recipe not in method.recipes:
            return "n/a"
        return by_recipe[recipe].cell() if by_recipe[recipe] else "not run yet"

    def timing(key: str, scale: float, fmt: str) -> str:
        """Median per recipe, tagged with where it ran: times on a GPU and a CPU differ."""
        cells = []
        for rc in recipes:
            if not by_recipe[rc]:
                cells.append("-")
                continue
            runs = by_recipe[rc].runs
            kinds = {"GPU" if r["device"] == "cuda" else "CPU" for r in runs}
            where = kinds.pop() if len(kinds) == 1 else "GPU+CPU"
            value = fmt.format(statistics.median(r[key] for r in runs) / scale)
            cells.append(f"{value} ({where})")
        return " / ".join(cells)

    return (
        f"| {method.name} | {number('tiny_params_m', '{:.2f}')} |"
        f" {number('tiny_gflops', '{:.3f}')} | {first.get('optimizer', '-')} | {mious('own')} |"
        f" {mious('demo')} | {timing('s_per_iter', 1, '{:.3f}')} |"
        f" {timing('wall_s', 60, '{:.1f}')} | {method.demo_note} |"
    )


def completeness(entries: Dict[Tuple[str, str], Entry]) -> str:
    """Which method/recipe pairs have three seeds, and how many the others have."""
    expected = [(m.name, r) for m in METHODS for r in RECIPES if r in m.recipes]
    seeds = {key: len(entries[key].runs) if key in entries else 0 for key in expected}
    short = [f"{name} ({recipe}: {n} of 3)" for (name, recipe), n in seeds.items() if n < 3]
    text = f"Complete (3 seeds): {len(expected) - len(short)} of {len(expected)} method/recipes."
    return text + (f" Seeds so far in the others: {', '.join(short)}." if short else "")


def tiny_section(runs: Sequence[Dict], iters: int, data_version: Optional[int]) -> List[str]:
    entries = group_runs(runs, iters, data_version)
    others = len(runs) - sum(len(e.runs) for e in entries.values())
    any_run = next(iter(entries.values())).runs[0] if entries else {}
    lines = [
        f"## Tiny, trained from scratch on the synthetic dataset (v{data_version},"
        f" {iters} iterations)",
        "",
        "Same tiny ViT (4 blocks, dim 96, patch 8, conv stem), data, crops"
        f" ({'x'.join(str(c) for c in any_run.get('crop', [128, 128]))}),"
        f" batch ({any_run.get('batch', 8)}), schedule and iterations for every method. mIoU on"
        " `synthetic_sem_seg_val`: **median** (min-max over seeds); the seed (`train.seed`) sets"
        " the initial weights, the data order and the augmentation. s/it: median training"
        " seconds per iteration of the runs (Detectron2's `time`); wall: median minutes per"
        " run (start-up, training, evaluation); both depend on the device, marked (GPU) or (CPU),"
        " and on how many runs shared it (below): compare times only between rows of one"
        " device. Runs are seeded alike on both devices, but a GPU and a CPU do not give"
        " bit-identical training, so a seed's mIoU is one sample of the same spread either way.",
        "",
        "| method | params (M) | GFLOPs (128x128) | optimizer | mIoU, own loss | mIoU, demo"
        " recipe | s/it (own / demo) | wall min (own / demo) | what the recipes are |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        tiny_row(m, entries.get((m.name, "own")), entries.get((m.name, "demo"))) for m in METHODS
    ]
    lines += ["", completeness(entries)]
    lines += [
        "",
        "Ranking by median mIoU (min-max ranges that overlap are within the seed spread;"
        " such a difference is not a win):",
        "",
    ]
    lines += ranking_lines(list(entries.values())) or ["(no runs stored yet)"]
    spreads = [e.high - e.low for e in entries.values() if len(e.runs) > 1]
    if spreads:
        lines += [
            "",
            f"Seed spread (max - min mIoU of one method and recipe): {min(spreads):.2f} to"
            f" {max(spreads):.2f} points, median {statistics.median(spreads):.2f}.",
        ]
    devices = sorted(
        {
            f"{r['device']} ({r['device_name']}), {r['jobs']} runs at a time,"
            f" {r['threads']} threads each"
            for e in entries.values()
            for r in e.runs
        }
    )
    if devices:
        lines += [
            "",
            "Measured on: " + "; ".join(devices) + ". Command of one run:",
            "",
            f"    {any_run['command']}",
        ]
    if others:
        lines += [
            "",
            f"({others} stored runs at another iteration count or data version are"
            " not in this table.)",
        ]
    return lines


def fmt(value: Optional[float], spec: str) -> str:
    return "-" if value is None else spec.format(value)


def full_row(method: Method, row: FullSize, r: Optional[Dict]) -> str:
    """One full-size row: ours beside the paper's GFLOPs and the facts sheets' decoder size."""
    if r is None:
        why = "config missing" if not config_exists(row.config) else "not measured yet"
        return f"| {method.name} | {row.backbone} | {why} | | | | | | | `{row.config}` |"
    if "error" in r:
        error = r["error"].replace("|", "/")[:200]
        return f"| {method.name} | {row.backbone} | failed: {error} | | | | | | | `{row.config}` |"
    paper, diff = "-", "-"
    if row.paper_gflops:
        paper = f"{row.paper_gflops} ({row.paper_source})"
        diff = f"{100 * (r['gflops'] - row.paper_gflops) / row.paper_gflops:+.1f}%"
    ref = "-"
    if row.ref_decoder_params_m:
        ref = f"{row.ref_decoder_params_m:.3f} ({row.ref_source})"
    return (
        f"| {method.name} | {row.backbone} | {r['params_m']:.1f} |"
        f" {fmt(r['decoder_params_m'], '{:.3f}')} | {ref} | {r['gflops']:.2f} | {paper} |"
        f" {diff} | {r['latency_s']:.2f} | `{row.config}` |"
    )


def full_section(stored: Optional[Dict]) -> List[str]:
    lines = ["## Full size: ADE20K-150, 512x512, random weights", ""]
    if not stored:
        return lines + [
            "Not measured yet: `.venv/bin/python benchmarks/compare.py --parts full`.",
            "",
        ]
    lines += [
        f"Measured by `{stored['command']}` in {stored['minutes']} min on {stored['machine']},"
        f" load average {stored['load_average']}. CPU latency: batch 1, median of"
        f" {stored['runs']} passes after one warm-up.",
        "",
        "| method | backbone | params (M) | decoder params (M) | ref. decoder params | GFLOPs |"
        " paper GFLOPs | diff | CPU latency (s) | config |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for backbone in ("ViT-B", "Swin-T"):
        lines += [
            full_row(method, row, stored["configs"].get(row.config))
            for method in METHODS
            for row in method.full
            if row.backbone == backbone
        ]
    return lines + [""]


def published_section() -> List[str]:
    lines = [
        "## Published: ADE20K val mIoU as the papers report it (not reproduced here)",
        "",
        "| method | backbone | crop | mIoU ss | mIoU ms | GFLOPs | source |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in PUBLISHED]
    return lines + [""]


def render(
    runs: Sequence[Dict], full: Optional[Dict], iters: int, data_version: Optional[int]
) -> str:
    lines = [
        "# Every decoder side by side",
        "",
        f"Regenerated from the stored measurements by `{RENDER_COMMAND}`; the command that"
        " measured each part is given in it. Method and options: the docstring of"
        " `benchmarks/compare.py`. The tiny part compares decoders trained for a few minutes on toy"
        " data; it says nothing about ADE20K, whose published numbers are in the last part.",
        "",
    ]
    lines += tiny_section(runs, iters, data_version) + [""]
    lines += full_section(full)
    lines += published_section()
    lines += NOTES
    return "\n".join(lines)


NOTES = [
    "## Notes",
    "",
    "- Recipes of the tiny part. *own*: each method's own loss (SegViT and Shrunk SegViT: the"
    " paper's ATM loss, class CE + 20 focal + dice with deep supervision; SETR-naive, Segmenter,"
    " DEPICT: per-pixel CE; MaskFormer: class + 20 focal + dice, Hungarian matching; Mask2Former:"
    " class 2 + BCE 5 + dice 5 on sampled points). *demo*: the demo config `segvit_tiny.py` as"
    " shipped, i.e. the ATM loss plus a per-pixel cross-entropy across the class queries' mask"
    " logits (weight 10, not in the paper; docs/design.md). It needs one query per class with a"
    " mask each, so it exists for SegViT and Shrunk SegViT only: the per-pixel CE methods train"
    " with that kind of loss already, and the matched queries of MaskFormer/Mask2Former have no"
    " class of their own. Optimizer, schedule, batch and crops are each tiny config's (column"
    " *optimizer*).",
    "- Shrunk SegViT on the tiny ViT: QD inside block 2 of 4 (half-way, as the paper's ViT-B"
    " ablation), QU over blocks 1 and 3 with 16x16 queries (`configs/synthetic/"
    "segvit_shrunk_tiny.py`). On 128x128 crops the blocks after QD see 8x8 tokens.",
    "- Shrunk SegViT learns nothing here (every seed predicts background; its dice loss stays at"
    " 0.75): its ATM stage reads the QU output, not the features, and at initialisation that output"
    " is the learnable query table (N(0, 1), as officially) nearly unchanged by the image, because"
    " the QU decoders' projections start at trunc-normal(0.02) and are post-normed. Between two"
    " synthetic val images the ATM input differs by 5.4% (median, 3.0-9.7%) for Shrunk against"
    " 34.4% (20.8-70.7%) for SegViT, and the QU output keeps a cosine of 0.970 with the query table"
    " (`.venv/bin/python benchmarks/shrunk_tiny_probe.py`, random weights, 3 seeds x 4 image"
    " pairs)."
    " A from-scratch tiny ViT in 2,000 iterations does not grow that signal; the paper trains"
    " Shrunk from pretrained ViTs for 160k iterations. The tiny config keeps the official design"
    " rather than tuning it until it learns, so this row measures the design as published, on a"
    " setting it was not made for.",
    "- Full size: decoder parameters are everything but the ViT/Swin (MaskFormer/Mask2Former on"
    " ViT-B: including ViTDet's SimpleFeaturePyramid). GFLOPs: fvcore, one multiply-add = one flop,"
    " batch 1, one whole-image pass, the paper's convention; deformable attention counted through"
    " our `grid_sampler` handle (docs/baselines.md). Reference decoder parameters are the"
    " arithmetic of the facts sheets (/work/shared/segvit_facts.md §7, depict_facts.md §3), not"
    " paper numbers. DEPICT's paper GFLOPs are not readable in the provided texts; its plot gives"
    " about 8 decoder-only GFLOPs at ViT-B, which looks like 2 x multiply-adds (depict_facts.md §3:"
    " 4.22 G multiply-adds for DEPICT-SA). MaskFormer/Mask2Former have no paper number on a plain"
    " ViT.",
    "- CPU latency does not follow GFLOPs: without a compiled op, deformable attention (SegViT"
    " Swin-T's neck, Mask2Former's pixel decoder) runs maskformer2's pure-PyTorch `grid_sample`"
    " path, which is slow per flop.",
    "",
]


# ---------------------------------------------------------------------------------------------


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
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=RECIPES)
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
        " more when other compare.py processes run beside this one)",
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
        help="store finished run folders whose compare.py was stopped while they trained (give"
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
    args = parse_args(argv)
    if args.iters is None:
        args.iters = demo_iterations()
    if args.adopt:
        from segvit.data.synthetic import _VERSION

        record_run_context(args, _VERSION)
        for folder in args.adopt:
            r = adopt_run(folder, args)
            print(f"adopted {folder}: mIoU {r['miou']:.2f}, {r['s_per_iter']:.3f} s/it", flush=True)
    if "tiny" in args.parts:
        run_tiny(args)
    if "full" in args.parts:
        run_full(args)
    from segvit.data.synthetic import _VERSION as data_version  # the data the table is about

    full_path = os.path.join(args.results, FULL_SIZE_FILE)
    full = json.load(open(full_path)) if os.path.exists(full_path) else None
    text = render(load_runs(args.results), full, args.iters, data_version)
    with open(args.output, "w") as f:
        f.write(text)
    print(text)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
