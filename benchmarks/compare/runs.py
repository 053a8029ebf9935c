"""Tiny part: one training run per (method, recipe, seed) in its own process, stored as JSON.

A run is ``tools/train_net.py`` with ``train.seed=<seed>`` on the synthetic dataset, evaluated
once at the end. Each finished run is stored as
``<results>/<method>__<recipe>__seed<k>__<iters>it.json`` and never redone, so a long campaign
survives interruptions and can be done in parts and in parallel; :func:`adopt_run` stores a run
that finished after its parent process was stopped.
"""

import concurrent.futures
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from typing import Dict, List, Sequence, Tuple

from benchmarks.common import ROOT, cpu_name, write_json
from benchmarks.compare.full_size import describe_tiny
from benchmarks.compare.methods import (
    DEMO_CONFIG,
    RUN_NAME,
    Method,
    config_exists,
    find_methods,
    parse_run_folder,
)
from segvit.engine.run_folder import claim_output_folder


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


def train_one(job: Dict, args) -> Dict:
    """Run one training process; store and return its result (raises on failure)."""
    method, recipe, seed = job["method"], job["recipe"], job["seed"]
    name = run_name(method, recipe, seed, args.iters)
    out = os.path.join(args.workdir, f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    os.makedirs(out)  # a fresh folder: an earlier, interrupted run is left as it is
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
        "command": " ".join(c.replace(ROOT + os.sep, "") for c in cmd),  # no machine paths
        "finished": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        **job["tiny"], **extra,
    }  # fmt: skip
    write_json(stored_run_path(args, method, recipe, seed), result)
    return result


RUN_FOLDER = re.compile(RUN_NAME.pattern + r"-(?P<stamp>\d{8}-\d{6})-\d+$")


def adopt_run(out: str, args) -> Dict:
    """Store a run folder that finished after its parent process was stopped (``--adopt``).

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
            f"--adopt {out}: not a run folder of benchmarks.compare "
            "(<method>__<recipe>__seed<k>__<iters>it-<date>-<time>-<pid>)"
        )
    try:
        method, recipe, seed, iters = parse_run_folder(folder)
    except ValueError as e:
        raise SystemExit(f"--adopt: {e}") from None
    if iters != args.iters:
        raise SystemExit(f"--adopt {out}: {iters} iterations, the table has {args.iters}")
    metrics = os.path.join(folder, "metrics.json")
    rows = [json.loads(line) for line in open(metrics)] if os.path.exists(metrics) else []
    last = max((r.get("iteration", -1) for r in rows), default=-1)
    has_miou = any("sem_seg/mIoU" in r for r in rows)
    if last < args.iters - 1 or not has_miou:
        raise SystemExit(
            f"--adopt {out}: unfinished (last iteration {last}, final mIoU "
            f"{'present' if has_miou else 'missing'}); wait for it"
        )
    if os.path.exists(stored_run_path(args, method, recipe, seed)):
        name = run_name(method, recipe, seed, args.iters)
        raise SystemExit(f"--adopt {out}: {name} is stored already; nothing written")
    start = time.mktime(time.strptime(match["stamp"], "%Y%m%d-%H%M%S"))
    job = {"method": method, "recipe": recipe, "seed": seed, "tiny": describe_tiny(method)}
    cmd = train_command(method, job["recipe"], job["seed"], args.iters, args.device, folder)
    end = os.path.getmtime(metrics)
    finished = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(end))
    note = f"stored by --adopt from {os.path.basename(folder)}"  # no machine path
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
