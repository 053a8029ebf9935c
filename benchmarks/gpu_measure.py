"""One row of the GPU benchmark: synthetic inputs, a training or inference step, its timings
(``torch.cuda.synchronize`` around every iteration) and peak memory, or the error it raised."""

import contextlib
import dataclasses
import gc
import statistics
import time
from typing import Callable, Dict, List, Optional

import torch


@dataclasses.dataclass
class Row:
    """One measurement of the table."""

    model: str
    input_hw: str
    task: str  # "train" or "infer"
    precision: str  # "fp32" or "bf16" (autocast)
    batch: int
    ms_median: Optional[float] = None
    ms_min: Optional[float] = None
    ms_max: Optional[float] = None
    images_per_s: Optional[float] = None
    peak_mib: Optional[float] = None
    status: str = "ok"


def synthetic_batch(
    batch: int, size: int, num_classes: int, with_labels: bool, seed: int = 0
) -> List[Dict]:
    """Detectron2 inputs: uint8 (3, size, size) images; labels in 8x8 blocks of <= 10 classes."""
    gen = torch.Generator().manual_seed(seed)
    inputs = []
    for _ in range(batch):
        item = {
            "image": torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=gen),
            "height": size,
            "width": size,
        }
        if with_labels:
            classes = torch.randperm(num_classes, generator=gen)[: min(10, num_classes)]
            blocks = classes[torch.randint(0, len(classes), (8, 8), generator=gen)]
            cell = -(-size // 8)
            labels = blocks.repeat_interleave(cell, 0).repeat_interleave(cell, 1)
            item["sem_seg"] = labels[:size, :size].contiguous().long()
        inputs.append(item)
    return inputs


def autocast(device: torch.device, precision: str):
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(step: Callable[[], None], device: torch.device, warmup: int, iters: int) -> List[float]:
    """Seconds of each of ``iters`` calls of ``step`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    synchronize(device)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        step()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times


def free_memory(device: torch.device) -> None:
    """Return the previous row's CUDA memory (nothing to do on the CPU, where gc is slow)."""
    if device.type == "cuda":
        gc.collect()
        torch.cuda.empty_cache()


def short_error(error: Exception) -> str:
    """One table-safe line: the exception's type and the first line of its message."""
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0] if lines else ''}"
    return text.replace("|", "/")[:160]


def measure(row: Row, step: Callable[[], None], device: torch.device, args) -> Row:
    """Fill ``row`` with the timings and peak memory of ``step``, or the error it raised."""
    free_memory(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    try:
        times = timed(step, device, args.warmup, args.iters)
    except Exception as e:  # noqa: BLE001  (OOM or a model error: record it, go on)
        row.status = f"failed: {short_error(e)}"
        free_memory(device)
        return row
    row.ms_median = 1000 * statistics.median(times)
    row.ms_min, row.ms_max = 1000 * min(times), 1000 * max(times)
    row.images_per_s = row.batch * len(times) / sum(times)
    if device.type == "cuda":
        row.peak_mib = torch.cuda.max_memory_allocated(device) / 2**20
    return row


def train_step(model, optimizer, inputs, device, precision) -> Callable[[], None]:
    def step():
        with autocast(device, precision):
            losses = model(inputs)
        loss = sum(losses.values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def infer_step(model, inputs, device, precision) -> Callable[[], None]:
    def step():
        with torch.no_grad(), autocast(device, precision):
            model(inputs)

    return step
