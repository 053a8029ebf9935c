#!/usr/bin/env python
"""Export parity of every exportable paper model, and CPU latency: PyTorch eager vs onnxruntime vs
TorchScript.

Each model is built from its config with random weights (seed 0; parity and speed do not depend on
training), exported at 512x512, batch 1, raw-pixel input, to ONNX and TorchScript exactly as
``tools/export_model.py`` does (``segvit.export.export_model``), and compared with PyTorch on a
noise image and a synthetic scene (max |diff| of the scores, argmax agreement). For the latency
models, the three runtimes then run the same 512x512 image in alternation (eager, onnxruntime,
TorchScript, eager, ...) after ``--warmup`` passes each, with the same thread count; medians of
``--runs`` passes. Eager is the model's own ``predict_scores`` under ``torch.no_grad`` (the
whole-image path that was exported, with the pos-embed resized at every forward as in training
code). Writes ``benchmarks/export.md``.

Usage (about 30 minutes on 2 busy CPU cores; ViT-L exports dominate)::

    .venv/bin/python -m benchmarks.export
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence, Tuple

import torch

import segvit  # noqa: F401
from benchmarks.common import ROOT, build_model, cpu_name, uptime, write_text
from segvit.export import ExportableSegmentor, ExportRequest, export_model
from segvit.export.formats import load_runner
from segvit.export.parity import measure_parity, parity_inputs

COMMAND = ".venv/bin/python -m benchmarks.export"
SIZE = (512, 512)

# (label, config, latency measured?)
MODELS: List[Tuple[str, str, bool]] = [
    ("SegViT ViT-B/16", "configs/ade20k/segvit_vit_b16_512x512_160k.py", True),
    (
        "Shrunk SegViT ViT-B/16",
        "configs/ade20k/ablations/segvit_shrunk_vit_b16_512x512_160k.py",
        True,
    ),
    ("SETR-naive ViT-B/16", "configs/ade20k/ablations/setr_naive_vit_b16_512x512_160k.py", False),
    (
        "naive Shrunk SegViT ViT-B/16",
        "configs/ade20k/ablations/segvit_naive_shrunk_vit_b16_512x512_160k.py",
        False,
    ),
    ("SegViT ViT-L/16", "configs/ade20k/segvit_vit_l16_640x640_160k.py", False),
    ("Shrunk SegViT ViT-L/16", "configs/ade20k/segvit_shrunk_vit_l16_640x640_160k.py", False),
]
RUNTIMES = ("PyTorch eager", "onnxruntime", "TorchScript")
SUFFIX = {"onnx": "onnx", "torchscript": "ts"}


def build(config: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(config, whole=False)


def export_and_compare(model, fmt: str, folder: str, name: str) -> Dict:
    """Export (no built-in check, so a failing model still gets its numbers) and measure parity."""
    path = os.path.join(folder, f"{name}.{SUFFIX[fmt]}")
    start = time.perf_counter()
    report = export_model(model, ExportRequest(fmt, *SIZE), path, verify=False)
    seconds = time.perf_counter() - start
    parity = measure_parity(
        ExportableSegmentor(model), load_runner(path, fmt), parity_inputs(1, *SIZE)
    )
    return {
        "path": path,
        "export_s": seconds,
        "mb": sum(report["files"].values()) / 1e6,
        "parity": parity,
    }


def time_runtimes(model, paths: Dict[str, str], runs: int, warmup: int) -> Dict[str, List[float]]:
    """Seconds per pass of each runtime, alternating runtimes within each round."""
    image = parity_inputs(1, *SIZE)[1]
    eager = ExportableSegmentor(model)
    ort_run = load_runner(paths["onnx"], "onnx", num_threads=torch.get_num_threads())
    ts_run = load_runner(paths["torchscript"], "torchscript")

    def run_eager(x):
        with torch.no_grad():
            return eager(torch.from_numpy(x))

    calls = dict(zip(RUNTIMES, (run_eager, ort_run, ts_run)))
    for call in calls.values():
        for _ in range(warmup):
            call(image)
    times: Dict[str, List[float]] = {k: [] for k in RUNTIMES}
    for _ in range(runs):
        for name, call in calls.items():
            start = time.perf_counter()
            call(image)
            times[name].append(time.perf_counter() - start)
    return times


def render(
    rows: Sequence[Dict], timings: Dict[str, Dict], args, load_before, load_after, expected: int
) -> str:
    import onnx
    import onnxruntime

    lines = [
        "# Export: parity and CPU latency (PyTorch eager vs onnxruntime vs TorchScript)",
        "",
        "Regenerate with:",
        "",
        "```",
        COMMAND
        + (f" --runs {args.runs}" if args.runs != 5 else "")
        + (f" --warmup {args.warmup}" if args.warmup != 2 else ""),
        "```",
        "",
        f"Machine: {cpu_name()}, {torch.get_num_threads()} threads for every runtime; torch "
        f"{torch.__version__}, onnx {onnx.__version__}, onnxruntime {onnxruntime.__version__} "
        "(CPUExecutionProvider). Random weights (seed 0), 512x512, batch 1, raw-pixel input "
        "normalised in the graph; exports as `tools/export_model.py` writes them (ONNX: "
        "torch.export + dynamo exporter, opset 18, pos-embed resized once; TorchScript: "
        "`torch.jit.trace` + `torch.jit.freeze`).",
        "",
        "The 1-minute load average before and after (other engineers share the 2 cores; a load "
        "above ~2 means the timings are inflated, the ratios within a round less so):",
        "",
        f"- before: `{load_before}`",
        f"- after: `{load_after}`",
        "",
        "## Parity with PyTorch (targets: max |diff| <= 1e-4, argmax agreement >= 99.9%)",
        "",
        *(
            [f"**Partial run: {len(rows)} of {expected} models measured so far.**", ""]
            if len(rows) < expected
            else []
        ),
        "Worst case over a uniform-noise image and a synthetic scene, 512x512.",
        "",
        "| model | config | format | export s | file MB | max abs diff | argmax agreement | ok |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        for fmt in ("onnx", "torchscript"):
            r = row[fmt]
            p = r["parity"]
            lines.append(
                f"| {row['label']} | `{os.path.basename(row['config'])}` | {fmt} | "
                f"{r['export_s']:.0f} | {r['mb']:.0f} | {p.max_abs_diff:.2e} | "
                f"{100 * p.argmax_agreement:.4f}% | {'yes' if p.ok else '**no**'} |"
            )
    lines += [
        "",
        f"## CPU latency, 512x512, batch 1 ({args.warmup} warm-up passes each, then {args.runs} "
        "alternating rounds; seconds per image)",
        "",
        "| model | " + " | ".join(f"{k} s (median, min-max)" for k in RUNTIMES) + " | "
        "onnxruntime speed-up | TorchScript speed-up |",
        "|---|---|---|---|---|---|",
    ]
    for label, times in timings.items():
        med = {k: statistics.median(v) for k, v in times.items()}
        cells = [f"{med[k]:.3f} ({min(v):.3f}-{max(v):.3f})" for k, v in times.items()]
        ratios = [
            statistics.median(e / o for e, o in zip(times[RUNTIMES[0]], times[k]))
            for k in RUNTIMES[1:]
        ]
        lines.append(
            f"| {label} | " + " | ".join(cells) + f" | {ratios[0]:.2f}x | {ratios[1]:.2f}x |"
        )
    lines += [
        "",
        "Speed-ups are medians of the per-round ratios eager / runtime (the three runtimes of a "
        "round see about the same load).",
        "",
    ]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", nargs="*", default=None, help="labels to run (default all)")
    parser.add_argument("--output", default=os.path.join(ROOT, "benchmarks", "export.md"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    load_before = uptime()
    selected = [m for m in MODELS if not args.only or m[0] in args.only]
    rows, timings = [], {}
    with tempfile.TemporaryDirectory(prefix="segvit-export-bench-") as folder:
        for label, config, timed in selected:
            model = build(config)
            name = label.replace(" ", "_").replace("/", "")
            row = {"label": label, "config": config}
            for fmt in ("onnx", "torchscript"):
                row[fmt] = export_and_compare(model, fmt, folder, name)
                print(f"{label} {fmt}: {row[fmt]['parity']}", flush=True)
            rows.append(row)
            if timed:
                paths = {fmt: row[fmt]["path"] for fmt in ("onnx", "torchscript")}
                timings[label] = time_runtimes(model, paths, args.runs, args.warmup)
                print(label, {k: statistics.median(v) for k, v in timings[label].items()})
            for fmt in ("onnx", "torchscript"):
                for suffix in ("", ".data"):
                    if os.path.exists(row[fmt]["path"] + suffix):
                        os.remove(row[fmt]["path"] + suffix)
            del model
            # Written after every model, so a long run that is stopped keeps what it measured.
            text = render(rows, timings, args, load_before, uptime(), len(selected))
            write_text(args.output, text)
    print(text)
    print(f"Wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
