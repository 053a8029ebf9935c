"""``make demo`` end to end from empty folders, with every printed line timestamped, split into
phases (the first part of ``benchmarks/demo.md``)."""

import json
import os
import re
import subprocess
import threading
import time
from typing import Dict, List, Sequence, Tuple

from benchmarks.common import ROOT

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
