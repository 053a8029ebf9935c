#!/usr/bin/env python
"""How long ``make demo`` takes, phase by phase, and where one training step spends its time.

Two parts, both written to ``benchmarks/demo.md``:

1. **End to end** (skip with ``--no-demo``): runs ``make demo`` itself from an empty dataset
   folder (``DETECTRON2_DATASETS=<workdir>/datasets``) into an empty output folder
   (``DEMO_OUT=<workdir>/demo``) on a warm setup, timestamps every line it prints and splits the
   wall time into: setup check, start-up (imports, model), dataset generation (from the files'
   modification times), training, evaluation on the whole val split, and the pictures. Reports the
   mIoU (``metrics.json``), the training speed Detectron2 logs, and the load average
   (``/proc/loadavg``) before, during (sampled every 5 s) and after: the machine is shared, so
   read the times together with the load.
2. **One training step** (skip with ``--profile-steps 0``): the demo's model, loader and optimizer
   in this process on one thread (CPU time is then a fair measure on a busy machine), split into
   data (reading + decoding the files, augmenting), backbone / head / loss forward and backward
   (each backward runs on its own by cutting the graph at the backbone features and the head
   outputs; the gradients are the same), the optimizer (gradient clipping + AdamW), and the hooks
   (checkpoint save and metric writers, per iteration at the config's periods). The steps run
   alternately with the losses at every label pixel (``model.criterion.loss_stride=1``, the
   official loss) and at ``loss_stride=4``, to show what the strided loss saves.

Usage (the end-to-end part takes as long as ``make demo``; the profile about a minute)::

    .venv/bin/python benchmarks/demo_time.py
    .venv/bin/python benchmarks/demo_time.py --no-demo          # the step profile only
    .venv/bin/python benchmarks/demo_time.py --profile-steps 0  # end to end only
"""

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional, Sequence, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = "configs/synthetic/segvit_tiny.py"
COMMAND = ".venv/bin/python benchmarks/demo_time.py"
OUTPUT = os.path.join(ROOT, "benchmarks", "demo.md")

# Lines of the demo's output that mark where a phase begins (first match after the previous one).
MARKERS = (
    ("train_cmd", re.compile(r"tools/train_net\.py")),
    ("train_start", re.compile(r"Starting training from iteration")),
    ("eval_start", re.compile(r"Start inference on \d+ batches")),
    ("eval_end", re.compile(r"copypaste: [\d.]+")),
    ("pictures_cmd", re.compile(r"tools/visualize_predictions\.py")),
)
SPEED = re.compile(r"Overall training speed: (\d+) iterations in (\S+) \(([\d.]+) s / it\)")


def read_loadavg() -> Tuple[float, float, float]:
    with open("/proc/loadavg") as f:
        return tuple(float(v) for v in f.read().split()[:3])


class LoadSampler:
    """Samples the 1-minute load average every ``period`` seconds in a background thread."""

    def __init__(self, period: float = 5.0):
        self.period = period
        self.samples: List[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.samples.append(read_loadavg()[0])
            self._stop.wait(self.period)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


# ---------------------------------------------------------------------------------------------
# 1. End to end
# ---------------------------------------------------------------------------------------------


def run_logged(cmd: Sequence[str], env: Dict[str, str], log_path: str) -> List[Tuple[float, str]]:
    """Run ``cmd``, copy its output to ``log_path``; (seconds since start, line) of every line."""
    start = time.perf_counter()
    lines = []
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for line in proc.stdout:
            lines.append((time.perf_counter() - start, line.rstrip("\n")))
            log.write(line)
            log.flush()
        proc.wait()
        lines.append((time.perf_counter() - start, f"<exit {proc.returncode}>"))
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {proc.returncode}); see {log_path}")
    return lines


def generation_seconds(dataset_root: str) -> float:
    """Wall time of the dataset generation: the first written file to ``meta.json``, the last."""
    mtimes = [
        os.path.getmtime(os.path.join(folder, name))
        for folder, _, names in os.walk(dataset_root)
        for name in names
    ]
    return os.path.getmtime(os.path.join(dataset_root, "meta.json")) - min(mtimes)


def split_phases(lines: List[Tuple[float, str]], generation_s: float) -> Dict[str, float]:
    """Seconds per phase from the timestamped output of ``make demo`` (see ``MARKERS``)."""
    marks, i = {}, 0
    for name, pattern in MARKERS:
        while i < len(lines) and not pattern.search(lines[i][1]):
            i += 1
        if i == len(lines):
            raise ValueError(f"the demo's output has no line matching {pattern.pattern!r}")
        marks[name] = lines[i][0]
        if name == "eval_end":  # the results table: its last copypaste line
            while i + 1 < len(lines) and pattern.search(lines[i + 1][1]):
                i += 1
            marks[name] = lines[i][0]
    end = lines[-1][0]
    return {
        "setup check (warm)": marks["train_cmd"],
        "start-up (imports, model, loader)": (
            marks["train_start"] - marks["train_cmd"] - generation_s
        ),
        "dataset generation": generation_s,
        "training": marks["eval_start"] - marks["train_start"],
        "evaluation (50 val images)": marks["eval_end"] - marks["eval_start"],
        "final checkpoint, exit": marks["pictures_cmd"] - marks["eval_end"],
        "pictures (second process)": end - marks["pictures_cmd"],
        "total": end,
    }


def final_miou(output_dir: str) -> float:
    rows = [json.loads(line) for line in open(os.path.join(output_dir, "metrics.json"))]
    values = [r["sem_seg/mIoU"] for r in rows if "sem_seg/mIoU" in r]
    if not values:
        raise RuntimeError(f"{output_dir}/metrics.json has no mIoU")
    return values[-1]


def run_demo(workdir: str, make_args: Sequence[str]) -> Dict:
    """Run ``make demo`` from an empty dataset folder into an empty output folder, timed."""
    workdir = os.path.abspath(workdir)
    datasets, out = os.path.join(workdir, "datasets"), os.path.join(workdir, "demo")
    for folder in (datasets, out):
        if os.path.exists(folder) and os.listdir(folder):
            raise FileExistsError(
                f"{folder} is not empty: the benchmark starts from empty folders and never "
                "deletes anything; pass another --workdir or remove it yourself"
            )
    os.makedirs(workdir, exist_ok=True)
    env = {**os.environ, "DETECTRON2_DATASETS": datasets, "PYTHONUNBUFFERED": "1"}
    cmd = ["make", "demo", f"DEMO_OUT={out}", *make_args]
    print(" ".join(cmd), flush=True)
    before = read_loadavg()
    with LoadSampler() as load:
        lines = run_logged(cmd, env, os.path.join(workdir, "demo.log"))
    after = read_loadavg()
    speed = [SPEED.search(text) for _, text in lines]
    speed = [m for m in speed if m]
    return {
        "command": " ".join(cmd[:2] + list(make_args)),
        "phases": split_phases(lines, generation_seconds(os.path.join(datasets, "synthetic"))),
        "miou": final_miou(out),
        "iterations": int(speed[-1].group(1)) if speed else None,
        "s_per_iter": float(speed[-1].group(3)) if speed else None,
        "load_before": before,
        "load_during": (sum(load.samples) / len(load.samples), max(load.samples)),
        "load_after": after,
    }


# ---------------------------------------------------------------------------------------------
# 2. One training step
# ---------------------------------------------------------------------------------------------

STEP_PARTS = (
    "data: read + decode 8 files",
    "data: augment + collate 8 crops",
    "normalize + pad",
    "backbone forward",
    "head forward",
    "loss forward",
    "loss backward",
    "head backward",
    "backbone backward",
    "optimizer (clip + AdamW)",
    "hooks (checkpoint, writers), per iteration",
)


class StepTimer:
    """Accumulates CPU and wall seconds per part."""

    def __init__(self):
        self.cpu: Dict[str, float] = {}
        self.wall: Dict[str, float] = {}
        self.steps = 0

    @contextlib.contextmanager
    def __call__(self, part: str):
        cpu, wall = time.process_time(), time.perf_counter()
        yield
        self.cpu[part] = self.cpu.get(part, 0.0) + time.process_time() - cpu
        self.wall[part] = self.wall.get(part, 0.0) + time.perf_counter() - wall

    def add(self, part: str, cpu: float, wall: float):
        self.cpu[part] = self.cpu.get(part, 0.0) + cpu
        self.wall[part] = self.wall.get(part, 0.0) + wall

    def per_step(self) -> Dict[str, Tuple[float, float]]:
        return {p: (self.cpu[p] / self.steps, self.wall[p] / self.steps) for p in self.cpu}


def _leaf(x):
    return x.detach().requires_grad_(True)


def _flat_outputs(outputs: Dict) -> List:
    """The tensors of a head's output dict, aux outputs included, in a fixed order."""
    tensors = [outputs["pred_logits"], outputs["pred_masks"]]
    for aux in outputs.get("aux_outputs", []):
        tensors += [aux["pred_logits"], aux["pred_masks"]]
    return tensors


def _rebuild_outputs(outputs: Dict, leaves: List) -> Dict:
    rebuilt = {"pred_logits": leaves[0], "pred_masks": leaves[1], "aux_outputs": []}
    for i in range(len(outputs.get("aux_outputs", []))):
        rebuilt["aux_outputs"].append(
            {"pred_logits": leaves[2 + 2 * i], "pred_masks": leaves[3 + 2 * i]}
        )
    return rebuilt


def timed_step(model, optimizer, batch, timer: StepTimer) -> None:
    """One training step of a SegViT, with the graph cut at the features and the head outputs so
    that each backward is timed on its own (same gradients as one ``backward``)."""
    import torch

    with timer("normalize + pad"):
        images, targets = model.padded_batch([model.normalize(x["image"]) for x in batch], batch)
    with timer("backbone forward"):
        features = model.backbone(images)
    feature_leaves = {k: _leaf(v) for k, v in features.items()}
    with timer("head forward"):
        outputs = model.head(feature_leaves)
    flat = _flat_outputs(outputs)
    leaves = [_leaf(t) for t in flat]
    with timer("loss forward"):
        losses = model.criterion(_rebuild_outputs(outputs, leaves), targets)
        total = sum(losses.values())
    with timer("loss backward"):
        total.backward()
    with timer("head backward"):
        pairs = [(t, leaf.grad) for t, leaf in zip(flat, leaves) if leaf.grad is not None]
        torch.autograd.backward([t for t, _ in pairs], [g for _, g in pairs])
    with timer("backbone backward"):
        names = [k for k, v in feature_leaves.items() if v.grad is not None]
        torch.autograd.backward(
            [features[k] for k in names], [feature_leaves[k].grad for k in names]
        )
    with timer("optimizer (clip + AdamW)"):
        optimizer.step()
        optimizer.zero_grad()


def hook_seconds(cfg, model, optimizer, workdir: str) -> Tuple[float, float]:
    """(CPU, wall) seconds per iteration of the checkpoint and writer hooks at the config's
    periods: one checkpoint save and one write of Detectron2's default writers, amortised."""
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.engine import default_writers
    from detectron2.utils.events import EventStorage

    folder = tempfile.mkdtemp(prefix="demo_time_hooks_", dir=workdir)
    checkpointer = DetectionCheckpointer(model, folder, optimizer=optimizer)
    cpu, wall = time.process_time(), time.perf_counter()
    checkpointer.save("model_0000499")
    save = (time.process_time() - cpu, time.perf_counter() - wall)
    writers = default_writers(folder, cfg.train.max_iter)
    with EventStorage(0) as storage:
        for i in range(cfg.train.log_period):
            storage.iter = i
            storage.put_scalars(total_loss=1.0, loss_ce=0.5, lr=1e-3, time=0.2, data_time=0.01)
        cpu, wall = time.process_time(), time.perf_counter()
        for writer in writers:
            writer.write()
        write = (time.process_time() - cpu, time.perf_counter() - wall)
    for writer in writers:
        writer.close()
    period, log_period = cfg.train.checkpointer.period, cfg.train.log_period
    return tuple(s / period + w / log_period for s, w in zip(save, write))


def profile_steps(steps: int, workdir: str) -> Dict[str, Dict[str, Tuple[float, float]]]:
    """Per-part (CPU, wall) seconds of one step of the demo config with the loss at every label
    pixel and at ``loss_stride=4``, alternately, in this process on one thread."""
    import torch
    from detectron2.config import LazyConfig, instantiate
    from detectron2.data import DatasetCatalog
    from detectron2.data import detection_utils as utils

    import segvit  # noqa: F401  (registers the synthetic dataset)
    from segvit.data.dataset_mapper import _read_label

    torch.set_num_threads(1)
    cfg = LazyConfig.load(os.path.join(ROOT, CONFIG))
    cfg.dataloader.train.num_workers = 0  # the mapper runs here, where it is timed
    variants = {"loss at every pixel (loss_stride=1)": 1, "loss_stride=4": 4}
    runs = {}
    for label, loss_stride in variants.items():
        torch.manual_seed(0)
        model = instantiate(cfg.model).train()
        model.criterion.loss_stride = loss_stride
        cfg.optimizer.params.model = model
        runs[label] = (model, instantiate(cfg.optimizer), iter(instantiate(cfg.dataloader.train)))
    records = DatasetCatalog.get(cfg.dataloader.train.dataset.names)
    timers = {label: StepTimer() for label in runs}
    for step in range(steps + 2):  # 2 warm-up steps
        for label, (model, optimizer, data) in runs.items():
            timer = timers[label] if step >= 2 else StepTimer()
            # Reading + decoding 8 files, timed on their own; the loader's next() does that and
            # the augmentation, so the augmentation is the difference.
            cpu, wall = time.process_time(), time.perf_counter()
            for record in records[8 * step : 8 * step + 8]:
                utils.read_image(record["file_name"], format="RGB")
                _read_label(record["sem_seg_file_name"])
            read = (time.process_time() - cpu, time.perf_counter() - wall)
            timer.add("data: read + decode 8 files", *read)
            cpu, wall = time.process_time(), time.perf_counter()
            batch = next(data)
            loaded = (time.process_time() - cpu, time.perf_counter() - wall)
            timer.add(
                "data: augment + collate 8 crops", *(max(a - r, 0.0) for a, r in zip(loaded, read))
            )
            timed_step(model, optimizer, batch, timer)
            timer.steps += 1
    results = {}
    for label, (model, optimizer, _) in runs.items():
        timer = timers[label]
        hooks = hook_seconds(cfg, model, optimizer, workdir)
        timer.add("hooks (checkpoint, writers), per iteration", *(h * timer.steps for h in hooks))
        results[label] = timer.per_step()
    return results


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def _fmt_load(values) -> str:
    return " ".join(f"{v:.2f}" for v in values)


# Issue 14, target 1: `make demo` in at most 5 minutes with at least the demo's 75.9 mIoU.
TARGET_SECONDS = 300.0
TARGET_MIOU = 75.9
MODEL_PARTS = ("backbone forward", "head forward", "head backward", "backbone backward")


def target_lines(demo: Dict, profile: Optional[Dict], cores: int) -> List[str]:
    """Whether the demo met issue 14's target, and (with a step profile) the least training time
    the recipe allows: its iterations x the profiled one-thread CPU time, spread perfectly over
    ``cores`` cores, for the model's forward + backward alone and for the whole step."""
    total, miou = demo["phases"]["total"], demo["miou"]
    met = total <= TARGET_SECONDS and miou >= TARGET_MIOU
    lines = [
        f"- Target (issue 14): at most {TARGET_SECONDS / 60:.0f} min with at least "
        f"{TARGET_MIOU} mIoU: **{'met' if met else 'not met'}** ({total / 60:.1f} min, "
        f"{miou:.2f} mIoU)."
    ]
    if profile and demo.get("iterations"):
        step = profile[next(iter(profile))]  # the demo's own loss (the first variant)
        model_s = sum(step[part][0] for part in MODEL_PARTS)
        step_s = sum(cpu for cpu, _ in step.values())
        iters = demo["iterations"]
        lines.append(
            f"- Least training time of this recipe, from the one-thread profile below, with "
            f"all {cores} cores used perfectly: the model's forward + backward alone "
            f"({model_s * 1e3:.0f} ms per step) x {iters} iterations / {cores} = "
            f"**{model_s * iters / cores / 60:.1f} min**; the whole step ({step_s * 1e3:.0f} ms: "
            f"+ data, loss, optimizer) = **{step_s * iters / cores / 60:.1f} min**, against "
            f"{TARGET_SECONDS / 60:.0f} min for everything."
        )
    return lines


def render(
    demo: Optional[Dict],
    profile: Optional[Dict],
    cli: str,
    machine: str,
    profile_load: Optional[Tuple] = None,
    cores: Optional[int] = None,
) -> str:
    lines = [
        "# `make demo`: wall time per phase, and one training step",
        "",
        f"Command: `{COMMAND}{cli}` ({datetime.date.today().isoformat()}; {machine}).",
        "",
    ]
    if demo:
        phases = demo["phases"]
        total = phases["total"]
        lines += [
            "## End to end",
            "",
            f"`{demo['command']}` from an empty dataset folder and an empty output folder, warm "
            "setup. The machine's 2 cores are shared: read the times with the load average.",
            "",
            "| phase | seconds | share |",
            "|---|---|---|",
        ]
        for name, seconds in phases.items():
            share = "" if name == "total" else f"{100 * seconds / total:.0f}%"
            label = f"**{name}**" if name == "total" else name
            lines.append(f"| {label} | {seconds:.1f} | {share} |")
        speed = (
            f"{demo['iterations']} iterations at {demo['s_per_iter']:.3f} s/iter"
            if demo["s_per_iter"] is not None
            else "training speed not logged"
        )
        lines += [
            "",
            f"- **{int(total // 60)} min {int(total % 60):02d} s in all; mIoU {demo['miou']:.2f}** "
            f"on `synthetic_sem_seg_val` (50 images); {speed}.",
            f"- Load average (1, 5, 15 min): before {_fmt_load(demo['load_before'])}; during "
            f"(1 min, sampled every 5 s) mean {demo['load_during'][0]:.2f}, max "
            f"{demo['load_during'][1]:.2f}; after {_fmt_load(demo['load_after'])}.",
        ]
        lines += target_lines(demo, profile, cores or os.cpu_count() or 1) + [""]
    if profile:
        labels = list(profile)
        base = profile[labels[0]]
        lines += [
            "## One training step (8 crops of 128x128), in process, one thread",
            "",
            "CPU milliseconds per step (wall in brackets), mean over the profiled steps; both "
            "variants run alternately in one process. Each backward is timed on its own (the "
            "graph is cut at the features and the head outputs)."
            + (
                f" Load average before {_fmt_load(profile_load[0])}, after "
                f"{_fmt_load(profile_load[1])}."
                if profile_load
                else ""
            ),
            "",
            "| part | " + " | ".join(labels) + f" | share ({labels[0]}) |",
            "|---|" + "---|" * (len(labels) + 1),
        ]
        total_cpu = sum(cpu for cpu, _ in base.values())
        for part in STEP_PARTS:
            cells = [f"{profile[lab][part][0] * 1e3:.1f} ({profile[lab][part][1] * 1e3:.0f})"
                     for lab in labels]  # fmt: skip
            share = f"{100 * base[part][0] / total_cpu:.0f}%"
            lines.append(f"| {part} | " + " | ".join(cells) + f" | {share} |")
        totals = [
            f"**{sum(c for c, _ in profile[lab].values()) * 1e3:.0f}** "
            f"({sum(w for _, w in profile[lab].values()) * 1e3:.0f})"
            for lab in labels
        ]
        lines += ["| **total** | " + " | ".join(totals) + " | 100% |", ""]
    return "\n".join(lines)


def machine_description() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}"


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", default=os.path.join(ROOT, "output", "demo_time"))
    parser.add_argument("--no-demo", action="store_true", help="skip the end-to-end run")
    parser.add_argument("--profile-steps", type=int, default=10, help="0 skips the profile")
    parser.add_argument("--output", default=OUTPUT, help="the markdown table to write")
    parser.add_argument(
        "make_args", nargs="*", help="extra make variables, e.g. DEMO_OPTS=train.max_iter=20"
    )
    args = parser.parse_args(argv)
    cli = " ".join(argv if argv is not None else sys.argv[1:])
    cli = f" {cli}" if cli else ""
    demo = None if args.no_demo else run_demo(args.workdir, args.make_args)
    profile = profile_load = None
    if args.profile_steps > 0:
        os.makedirs(args.workdir, exist_ok=True)
        load = read_loadavg()
        profile = profile_steps(args.profile_steps, args.workdir)
        profile_load = (load, read_loadavg())
    text = render(demo, profile, cli, machine_description(), profile_load)
    print(text)
    with open(args.output, "w") as f:
        f.write(text)
    print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
