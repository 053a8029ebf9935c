"""What the benchmarks share: the repository root, building a model from a config, describing the
machine, Markdown tables and writing a report in one step."""

import dataclasses
import functools
import json
import os
import platform
import subprocess
from typing import Dict, List, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build_model(config: str, overrides: Sequence[str] = (), *, whole: bool = True):
    """The model of ``config`` (relative to :data:`ROOT` or absolute) with ``key=value``
    overrides applied, random weights, eval mode, on CPU.

    ``whole``: a SegViT/SETR-style model (one with an ``inference`` option) runs one whole-image
    pass instead of sliding crops: the papers count and time one crop.
    """
    from detectron2.config import LazyConfig, instantiate

    import segvit  # noqa: F401  (registers modules)

    cfg = LazyConfig.load(os.path.join(ROOT, config))
    cfg = LazyConfig.apply_overrides(cfg, list(overrides))
    model = instantiate(cfg.model).eval()
    if whole and hasattr(model, "inference"):
        model.inference = dataclasses.replace(model.inference, mode="whole")
    return model


def cpu_name() -> str:
    """The CPU model name (``/proc/cpuinfo``), or the platform's processor/machine name."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def uptime() -> str:
    """``uptime``'s line (the load averages), to say how busy the machine was."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unavailable"


@functools.lru_cache(maxsize=None)
def git_commit() -> str:
    """Short commit hash of the checkout the benchmark ran from."""
    try:
        out = subprocess.run(
            ["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown (no git checkout)"


def machine_lines() -> List[str]:
    """Markdown bullet lines: CPU and cores, torch/CUDA versions, repository commit."""
    import torch

    lines = [
        f"- CPU: {cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads",
        f"- Python {platform.python_version()}, torch {torch.__version__}, "
        f"CUDA {torch.version.cuda or '-'}",
    ]
    if torch.cuda.is_available():
        lines.append(f"- GPU: {torch.cuda.get_device_name(0)}")
    return lines + [f"- repository commit: {git_commit()}"]


def md_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> List[str]:
    """A Markdown table as lines: ``| a | b |``, ``|---|---|``, one line per row."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def write_text(path: str, text: str) -> None:
    """Write ``path`` through a temporary file and a rename: an interrupted run leaves no half
    report (the package's atomic writer)."""
    from segvit.checkpoint.safe_io import atomic_write

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write(path, lambda f: f.write(text.encode("utf-8")), what="report")


def write_json(path: str, data: Dict) -> None:
    """:func:`write_text` of ``data`` as indented JSON."""
    write_text(path, json.dumps(data, indent=2))
