"""Peak resident memory of ViT-L 640 inference, whole image and slide, each case in its own
process (the ``memory`` section of ``benchmarks/speed.md``)."""

import dataclasses
import gc
import os
import time
from typing import Dict, List, Sequence

import torch

from benchmarks.common import build_model

VIT_L = "configs/ade20k/segvit_vit_l16_640x640_160k.py"


def memory_child(case: str) -> Dict:
    """Peak RSS of one inference case in this (fresh) process. Prints JSON."""
    import segvit  # noqa: F401

    model = build_model(VIT_L, whole=False)
    hw = (640, 640) if case == "whole" else (1024, 2048)
    model.inference = dataclasses.replace(model.inference, mode=case)
    gen = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (3, *hw), dtype=torch.uint8, generator=gen)
    gc.collect()
    before = rss_now_mb()
    start = time.perf_counter()
    with torch.no_grad():
        out = model([{"image": image, "height": hw[0], "width": hw[1]}])[0]["sem_seg"]
    seconds = time.perf_counter() - start
    windows = 1
    if case == "slide":
        from segvit.modeling.meta_arch.inference import slide_windows

        crop, stride = model.inference.crop_size, model.inference.stride
        windows = len(slide_windows(hw[0], crop[0], stride[0])) * len(
            slide_windows(hw[1], crop[1], stride[1])
        )
    return dict(
        case=case,
        hw=hw,
        before_mb=before,
        peak_mb=peak_rss_mb(),
        output_mb=out.numel() * out.element_size() / 2**20,
        weights_mb=sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20,
        windows=windows,
        seconds=seconds,
    )


def rss_now_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far: Linux ``VmHWM`` of its own address space
    (``ru_maxrss`` would start at the parent's resident size: Linux keeps it across exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def render_memory(cases: Sequence[Dict]) -> List[str]:
    by = {c["case"]: c for c in cases}
    whole, slide = by["whole"], by["slide"]
    whole_extra = whole["peak_mb"] - whole["before_mb"]
    accumulator = slide["output_mb"] * (1 + 1 / 150)  # (K, H, W) sum + (1, H, W) counts
    bound = accumulator + whole_extra
    lines = [
        "## Memory: ViT-L 640 inference (CPU)",
        "",
        f"`{os.path.basename(VIT_L)}`, random weights, each case in its own process; peak resident "
        "memory (`VmHWM`) and resident memory after building the model and the input. "
        "Slide: 640x640 windows, stride 608 (the config's).",
        "",
        "| case | input (HxW) | windows | weights MB | RSS before MB | peak RSS MB "
        "| inference peak - before MB | output MB | s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in (whole, slide):
        lines.append(
            f"| {c['case']} | {c['hw'][0]}x{c['hw'][1]} | {c['windows']} | {c['weights_mb']:.0f} "
            f"| {c['before_mb']:.0f} | **{c['peak_mb']:.0f}** "
            f"| {c['peak_mb'] - c['before_mb']:.0f} | {c['output_mb']:.0f} | {c['seconds']:.1f} |"
        )
    slide_extra = slide["peak_mb"] - slide["before_mb"]
    lines += [
        "",
        f"Slide inference holds the (150, 1024, 2048) score sum and the window counts "
        f"({accumulator:.0f} MB) and one window at a time: a window's scores are released before "
        "the next window runs and the average is taken in place (tested in "
        "`tests/modeling/test_mask_combination.py` by weak references, not by timing). Bound: "
        f"sum + one whole-image pass = {accumulator:.0f} + {whole_extra:.0f} = {bound:.0f} MB; "
        f"measured {slide_extra:.0f} MB "
        f"({'within' if slide_extra <= 1.05 * bound else '**above**'} the bound).",
        "",
    ]
    return lines
