#!/usr/bin/env python
"""GPU training and inference speed and memory of SegViT, Shrunk SegViT and Mask2Former (-> gpu.md).

For each model of :data:`MODELS`, built from its experiment config (random init, no pretrained
file), in one process:

- **training step**: batch ``--train-batch`` (2, per GPU), fp32 and bf16 autocast: forward with the
  model's own losses, backward, the config's optimizer step (AdamW with its gradient clipping);
  milliseconds per iteration, images/s and peak memory.
- **inference**: eval mode, ``torch.no_grad``, one whole-image pass per image at the crop size
  (``model([...])``, post-processing included): latency at batch 1 and throughput at batch
  ``--infer-batch`` (8), fp32 and bf16 autocast.

Every measurement runs ``--warmup`` untimed iterations, then ``--iters`` timed ones with
``torch.cuda.synchronize`` before and after each; peak memory is ``torch.cuda.max_memory_allocated``
after ``torch.cuda.reset_peak_memory_stats`` (training: weights, gradients, AdamW state and
activations; inference runs after the gradients and the optimizer are released). Inputs are
synthetic: random uint8 images and label maps made of a few classes in blocks (a real ADE20K image
holds about 10 classes; per-pixel noise would give every image all 150 and distort the mask losses
and the matching). A failed measurement (out of memory, an error) is recorded in its row and the
run goes on; the Markdown file is rewritten after every row, so an interrupted run still leaves
the rows measured so far.

Usage::

    python -m benchmarks.gpu                                  # every model -> benchmarks/gpu.md
    python -m benchmarks.gpu --models segvit_vit_b,shrunk_vit_b --output /tmp/gpu.md
    python -m benchmarks.gpu --device cpu --tiny              # seconds; smoke test

``--tiny`` shrinks widths (not the depths or structure) and the input to 64x64; its default output
is under ``output/`` so that it never replaces the committed ``benchmarks/gpu.md``.
``benchmarks/gpu_device_run.sh`` runs the full benchmark on a GPU machine.
"""

import argparse
import dataclasses
import os
import shlex
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from detectron2.config import LazyConfig, instantiate

from benchmarks.common import ROOT, machine_lines, write_text
from benchmarks.gpu_measure import (
    Row,
    free_memory,
    infer_step,
    measure,
    short_error,
    synthetic_batch,
    train_step,
)
from benchmarks.gpu_models import MODELS, TINY_SIZE, ModelSpec

DEFAULT_OUTPUT = os.path.join(ROOT, "benchmarks", "gpu.md")

PRECISIONS = ("fp32", "bf16")


def build_with_config(
    spec: ModelSpec, device: torch.device, tiny: bool
) -> Tuple[torch.nn.Module, Dict]:
    """The config's model (random init) on ``device``, whole-image inference at the crop size, and
    the config (for the optimizer and the number of classes)."""
    cfg = LazyConfig.load(os.path.join(ROOT, spec.config))
    if tiny:
        cfg = LazyConfig.apply_overrides(cfg, spec.tiny_overrides)
    torch.manual_seed(0)
    model = instantiate(cfg.model).to(device)
    size = TINY_SIZE if tiny else spec.size
    inference = getattr(model, "inference", None)
    if dataclasses.is_dataclass(inference):  # SegViT: one pass over the whole crop
        model.inference = dataclasses.replace(inference, mode="whole", crop_size=(size, size))
    return model, cfg


def num_classes_of(cfg) -> int:
    head = cfg.model.get("head") or cfg.model.get("sem_seg_head")
    return int(head.num_classes)


def bench_model(spec: ModelSpec, args, device: torch.device, emit: Callable[[Row], None]) -> None:
    """All rows of one model; each row is passed to ``emit`` as soon as it is measured.

    Training rows first (the optimizer state they create is part of a training step's memory),
    then the inference rows, after the gradients and the optimizer state are released."""
    size = TINY_SIZE if args.tiny else spec.size
    hw = f"{size}x{size}"
    train_plan = [(p, args.train_batch) for p in args.precisions]
    infer_plan = [(p, b) for p in args.precisions for b in (1, args.infer_batch)]
    start = time.time()
    try:
        model, cfg = build_with_config(spec, device, args.tiny)
        cfg.optimizer.params.model = model
        optimizer = instantiate(cfg.optimizer)
    except Exception as e:  # noqa: BLE001  (record it for every row of this model)
        status = f"build failed: {short_error(e)}"
        for task, (precision, batch) in [("train", x) for x in train_plan] + [
            ("infer", x) for x in infer_plan
        ]:
            emit(Row(spec.label, hw, task, precision, batch, status=status))
        free_memory(device)
        return
    print(f"[{spec.name}] built {spec.config} in {time.time() - start:.1f} s", flush=True)
    classes = num_classes_of(cfg)
    model.train()
    for precision, batch in train_plan:
        print(f"[{spec.name}] train {precision} batch {batch} ...", flush=True)
        inputs = synthetic_batch(batch, size, classes, with_labels=True)
        step = train_step(model, optimizer, inputs, device, precision)
        emit(measure(Row(spec.label, hw, "train", precision, batch), step, device, args))
    del optimizer, step
    model.zero_grad(set_to_none=True)
    model.eval()
    for precision, batch in infer_plan:
        print(f"[{spec.name}] infer {precision} batch {batch} ...", flush=True)
        inputs = synthetic_batch(batch, size, classes, with_labels=False)
        step = infer_step(model, inputs, device, precision)
        emit(measure(Row(spec.label, hw, "infer", precision, batch), step, device, args))
    del model, step
    free_memory(device)


def _fmt(value: Optional[float], digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def environment(device: torch.device) -> List[str]:
    """Lines describing the machine (:func:`benchmarks.common.machine_lines`), the libraries and,
    on a GPU, the device and its fp32 matmul settings."""
    versions = [f"cuDNN {torch.backends.cudnn.version()}"]
    for name in ("detectron2", "timm", "fvcore"):
        module = sys.modules.get(name)
        versions.append(f"{name} {getattr(module, '__version__', '?') if module else '-'}")
    lines = machine_lines() + ["- " + ", ".join(versions)]
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        lines.append(
            f"- device: {props.name}, {props.total_memory / 2**30:.0f} GiB, "
            f"{props.multi_processor_count} SMs ({torch.cuda.device_count()} visible)"
        )
        lines.append(
            f"- TF32: matmul {torch.backends.cuda.matmul.allow_tf32}, cuDNN "
            f"{torch.backends.cudnn.allow_tf32} (fp32 rows are true fp32 matmuls unless True); "
            f"cudnn.benchmark {torch.backends.cudnn.benchmark}"
        )
    else:
        lines.append("- device: CPU; no memory numbers")
    return lines


def render(rows: Sequence[Row], args, device: torch.device, state: str) -> str:
    lines = [
        "# GPU benchmark: training step and inference, SegViT / Shrunk SegViT / Mask2Former",
        "",
        "Regenerate with:",
        "",
        "```",
        args.command,
        "```",
        "",
        f"Status: **{state}**.",
        "",
        *environment(device),
        "",
        f"Random init, synthetic inputs; {args.warmup} warm-up and {args.iters} timed iterations "
        "per row, synchronised before and after each; ms = median (min-max) per iteration, "
        "images/s = batch x iterations / total time. Training: the model's own losses, backward "
        f"and the config's optimizer step (AdamW, gradient clipping), batch {args.train_batch}. "
        "Inference: eval, `torch.no_grad`, whole-image pass at the crop size with "
        "post-processing (SegViT runs the images of a batch one by one, as its inference "
        "does). bf16 = `torch.autocast(dtype=torch.bfloat16)`. Peak memory: "
        "`torch.cuda.max_memory_allocated`, reset before each row (training rows include the "
        "weights, gradients and AdamW state; inference rows the weights and activations). "
        "Mask2Former's deformable attention runs maskformer2's PyTorch fallback "
        "(`grid_sample`), not the compiled CUDA op of the official code.",
        "",
        "| model | input | task | precision | batch | ms / iter | images / s | peak memory (MiB) "
        "| status |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ms = ""
        if r.ms_median is not None:
            ms = f"{r.ms_median:.1f} ({r.ms_min:.1f}-{r.ms_max:.1f})"
        lines.append(
            f"| {r.model} | {r.input_hw} | {r.task} | {r.precision} | {r.batch} | {ms} "
            f"| {_fmt(r.images_per_s, 1)} | {_fmt(r.peak_mib, 0)} | {r.status} |"
        )
    return "\n".join(lines) + "\n"


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    names = [m.name for m in MODELS]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    parser.add_argument("--tiny", action="store_true", help="tiny widths and 64x64 inputs")
    parser.add_argument(
        "--models", default="all", help=f"comma-separated subset of {','.join(names)} (or all)"
    )
    parser.add_argument("--precisions", default=",".join(PRECISIONS), help="fp32,bf16 or one")
    parser.add_argument("--warmup", type=int, default=3, help="untimed iterations per row")
    parser.add_argument("--iters", type=int, default=10, help="timed iterations per row")
    parser.add_argument("--train-batch", type=int, default=2, help="training images per step")
    parser.add_argument("--infer-batch", type=int, default=8, help="throughput batch")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument(
        "--output",
        default=None,
        help="Markdown file to write (default: benchmarks/gpu.md for a full CUDA run, "
        "output/benchmarks/gpu_<device>[_tiny].md otherwise)",
    )
    args = parser.parse_args(argv)
    args.command = "python -m benchmarks.gpu" + (
        " " + shlex.join(argv if argv is not None else sys.argv[1:])
        if (argv if argv is not None else sys.argv[1:])
        else ""
    )
    chosen = names if args.models == "all" else [n.strip() for n in args.models.split(",")]
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        parser.error(f"--models: unknown {unknown}; choose from {names} or 'all'")
    args.models = [m for m in MODELS if m.name in chosen]
    args.precisions = [p.strip() for p in args.precisions.split(",")]
    if set(args.precisions) - set(PRECISIONS):
        parser.error(f"--precisions {args.precisions}: choose from {PRECISIONS}")
    if args.iters < 1 or args.warmup < 0:
        parser.error("--iters must be >= 1 and --warmup >= 0")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is visible; use --device cpu --tiny to test")
    if args.output is None:
        if device.type == "cuda" and not args.tiny:
            args.output = DEFAULT_OUTPUT
        else:
            tag = device.type + ("_tiny" if args.tiny else "")
            args.output = os.path.join(ROOT, "output", "benchmarks", f"gpu_{tag}.md")
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    import segvit  # noqa: F401  (registers the models)

    device = torch.device(args.device)
    if device.type == "cuda":
        if device.index is None:  # "cuda": the current device, made explicit for the calls below
            device = torch.device("cuda", torch.cuda.current_device())
        torch.cuda.set_device(device)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    rows: List[Row] = []
    start = time.time()

    def emit(row: Row) -> None:
        rows.append(row)
        ms = "" if row.ms_median is None else f"{row.ms_median:.1f} ms"
        mem = "" if row.peak_mib is None else f", {row.peak_mib:.0f} MiB"
        print(f"  -> {ms}{mem} {row.status} ({time.time() - start:.0f} s)", flush=True)
        write_text(args.output, render(rows, args, device, "running (partial results)"))

    print(f"writing {args.output}", flush=True)
    write_text(args.output, render(rows, args, device, "running (no results yet)"))
    for spec in args.models:
        bench_model(spec, args, device, emit)
    failed = sum(r.status != "ok" for r in rows)
    state = f"complete in {time.time() - start:.0f} s, {failed} of {len(rows)} rows failed"
    write_text(args.output, render(rows, args, device, state))
    print(f"{state}; wrote {args.output}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
