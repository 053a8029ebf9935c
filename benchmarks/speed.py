#!/usr/bin/env python
"""Measured CPU inference speed and memory of SegViT: Shrunk vs plain, the mask combination, memory.

Sections of ``benchmarks/speed.md`` (each can be run alone with ``--sections``):

- ``pairs``: Shrunk vs plain SegViT. Pairs: ViT-L at 640x640 (ADE20K configs) and ViT-B at 512x512
  (Table 8 configs). Each model runs batch 1, eval mode, ``torch.no_grad``, whole-image inference
  (one crop, as the GFLOPs are counted) through the full ``model([...])`` call. Both models of a
  pair are built first, warmed up once, then timed in alternation (SegViT, Shrunk, SegViT, ...) so
  that both see the same load; medians of ``--runs`` passes are reported, and the speed-up is the
  median of the per-round ratios. Backbone and head times come from forward hooks within the same
  passes; "rest" is the meta-architecture's own work (normalisation, padding, mask upsampling, the
  class-mask combination, post-processing). GFLOPs are read from ``benchmarks/flops.md``.
- ``mask``: "the mask is free": (head + rest) / backbone of SegViT ViT-B 512 per pass (from the
  ``pairs`` passes and from a second process with PyTorch's ``THP_MEM_ALLOC_ENABLE=1``), and the
  post-head work alone, banded (the model's) vs the straightforward computation, alternating.
- ``memory``: peak resident memory (``VmHWM``) of ViT-L 640 whole-image inference and of
  slide inference on a 2048x1024 image, each in its own process.
- ``photo``: peak resident memory of ``tools/demo.py`` on a 6000x4000 photo with 8, 24 and 150
  classes (tiny synthetic model, random weights), each in its own process, and of the previous
  label computation (all class maps resized to the photo, then argmax) for 8 and 24 classes.

Usage (about 10 minutes on 2 idle CPU cores; much more when they are shared)::

    .venv/bin/python benchmarks/speed.py
    .venv/bin/python benchmarks/speed.py --sections mask --output /tmp/speed.md
"""

import argparse
import dataclasses
import gc
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from detectron2.config import LazyConfig, instantiate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMAND = ".venv/bin/python benchmarks/speed.py"
PARTS = ("total", "backbone", "head", "rest")
SECTIONS = ("pairs", "mask", "memory", "photo")
MASK_TARGET = 0.15  # issue 14: head + rest <= 15% of the backbone (ViT-B 512)
SHRUNK_TARGET = 0.95  # issue 14: Shrunk speed-up >= 95% of the FLOPs ratio (ViT-L 640)
VIT_L = "configs/ade20k/segvit_vit_l16_640x640_160k.py"
VIT_B = "configs/ade20k/segvit_vit_b16_512x512_160k.py"
PHOTO_CONFIG = "configs/synthetic/segvit_tiny.py"
PHOTO_SIZE = (4000, 6000)  # (H, W) of the photo of the "photo" section

# (label, input size, SegViT config, Shrunk config)
PAIRS: List[Tuple[str, Tuple[int, int], str, str]] = [
    (
        "ViT-L, ADE20K",
        (640, 640),
        "configs/ade20k/segvit_vit_l16_640x640_160k.py",
        "configs/ade20k/segvit_shrunk_vit_l16_640x640_160k.py",
    ),
    (
        "ViT-B, ADE20K (Table 8)",
        (512, 512),
        "configs/ade20k/segvit_vit_b16_512x512_160k.py",
        "configs/ade20k/ablations/segvit_shrunk_vit_b16_512x512_160k.py",
    ),
]

# Why the measured speed-up is below the FLOPs ratio. Numbers in braces come from this run.
EXPLANATION = """\
### Speed-up vs FLOPs ratio, part by part

FLOPs count multiply-adds only; wall time also pays for memory-bound work that FLOPs ignore, and
the Shrunk model moves compute from large, efficient matmuls (backbone) to smaller, less
efficient ones (QU head). Per part (GFLOPs from `flops.md`, seconds from the table above):

{part_tables}

For the ViT-L pair:

1. **Backbone** ({bb_time:.2f}x faster for {bb_flops:.2f}x fewer FLOPs): after QD, 16 of the 24
   blocks run on 400 instead of 1,600 tokens, and LayerNorm, GELU and residual adds (not in the
   FLOP count) shrink with the GEMMs; {bb_verdict}
2. **Head** ({head_ratio:.1f}x slower for {head_flops:.1f}x the FLOPs): the {head_extra:.1f} GFLOPs
   that QU adds cost {head_extra_s:.2f} s ({head_rate:.0f} GFLOP/s), while the {bb_saved:.1f}
   backbone GFLOPs that QD saves took {bb_saved_s:.2f} s ({bb_rate:.0f} GFLOP/s). The QU decoders
   run self- and cross-attention over 1,600 queries with 16 heads of dimension 32. PyTorch's fused
   `nn.MultiheadAttention` CPU path (eval mode) materialised the 16 x 1,600 x 1,600 attention and
   its softmax, which is memory-bound (a `torch.profiler` run of the ViT-L QU head put `bmm` +
   `_softmax` + `copy_` at about 40% of its time; the head then took 1.65 s and the pair ran at
   1.47x). The QU layers now compute the same attention, with the same parameters, through
   `F.scaled_dot_product_attention` (`segvit/modeling/heads/sdpa_decoder.py`), whose CPU kernel
   works on blocks of keys; one QU layer on its own took about 0.4 s instead of 0.6-0.8 s of CPU
   time (1 thread). The head still runs below the backbone's FLOP rate. A `torch.profiler` run of
   the ViT-L Shrunk head after this change (1 thread, 2026-11-30) put 45% of its time in the 12
   `scaled_dot_product_attention` calls and 46% in the linear layers: with a head dimension of
   32, every attention score costs 32 multiply-adds plus an `exp`, so the attention runs at about
   two thirds of the GEMM rate, and what is left above the 95% target is this kernel's, not
   ours, at fp32 (a lower precision would change the outputs, which the target forbids).
3. **Rest** ({rest_segvit:.2f} s vs {rest_shrunk:.2f} s): upsampling 150 mask maps to 640x640,
   the sigmoid, the class-mask combination (9.2 GFLOPs) and post-processing are the same in both
   models and do not shrink, which dilutes the gain (see the next section for what was removed).

{small_pair}

Timings on a CPU carry noise of several percent run to run (more when other processes share the
cores; see the load above); alternating the two models keeps the ratio fair. The paper reports
FLOPs only, no CPU timings.
"""


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unavailable"


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def read_gflops(flops_md: str) -> Dict[str, Dict[str, float]]:
    """Our GFLOPs per config from ``benchmarks/flops.md``: {config: {"total", "backbone", ...}}."""
    if not os.path.exists(flops_md):
        raise FileNotFoundError(f"{flops_md} is missing: run benchmarks/flops.py first")
    gflops: Dict[str, Dict[str, float]] = {}
    by_name: Dict[str, Dict[str, float]] = {}
    with open(flops_md) as f:
        for line in f:
            table = re.match(r"\| `([^`]+)` \|", line)
            part = re.match(r"- `([^`]+)`: (.*)$", line.strip())
            if table:
                cells = [c.strip() for c in line.strip().strip("|").split("|")]
                if len(cells) == 9:  # the main table; the decoder table has other columns
                    gflops[table.group(1)] = {"total": float(cells[6])}  # column "GFLOPs"
            elif part:
                pairs = (p.rsplit(" ", 1) for p in part.group(2).split(", "))
                by_name[part.group(1)] = {k: float(v) for k, v in pairs}
    for config, values in gflops.items():
        values.update(by_name.get(os.path.basename(config), {}))
    return gflops


class Timer:
    """Wall time of one submodule's forward calls, via pre/post forward hooks."""

    def __init__(self, module: torch.nn.Module):
        self.total = 0.0
        self._start = 0.0
        module.register_forward_pre_hook(self._pre)
        module.register_forward_hook(self._post)

    def _pre(self, *args):
        self._start = time.perf_counter()

    def _post(self, *args):
        self.total += time.perf_counter() - self._start


class Timed:
    """A model in whole-image mode with hooks on its backbone and head."""

    def __init__(self, config: str, hw: Tuple[int, int]):
        cfg = LazyConfig.load(os.path.join(ROOT, config))
        self.config = config
        self.model = instantiate(cfg.model).eval()
        self.model.inference = dataclasses.replace(self.model.inference, mode="whole")
        self.backbone, self.head = Timer(self.model.backbone), Timer(self.model.head)
        gen = torch.Generator().manual_seed(0)
        image = torch.randint(0, 256, (3, *hw), dtype=torch.uint8, generator=gen)
        self.inputs = [{"image": image, "height": hw[0], "width": hw[1]}]
        self.samples: Dict[str, List[float]] = {k: [] for k in (*PARTS, "after_backbone")}

    def run(self, record: bool = True) -> float:
        self.backbone.total = self.head.total = 0.0
        start = time.perf_counter()
        with torch.no_grad():
            self.model(self.inputs)
        total = time.perf_counter() - start
        if record:
            self.samples["total"].append(total)
            self.samples["backbone"].append(self.backbone.total)
            self.samples["head"].append(self.head.total)
            self.samples["rest"].append(total - self.backbone.total - self.head.total)
            self.samples["after_backbone"].append(
                (total - self.backbone.total) / self.backbone.total
            )
        print(f"  {self.config}: {total:.2f} s", flush=True)
        return total

    def summary(self) -> Dict[str, float]:
        result = {k: statistics.median(v) for k, v in self.samples.items()}
        result["min"], result["max"] = min(self.samples["total"]), max(self.samples["total"])
        return result


def time_pair(configs: Sequence[str], hw: Tuple[int, int], runs: int) -> Tuple[Dict, Dict, float]:
    """Alternate passes of two models; returns both summaries and the median per-round ratio."""
    models = [Timed(c, hw) for c in configs]
    for m in models:
        m.run(record=False)  # warm-up
    ratios = []
    for _ in range(runs):
        first, second = (m.run() for m in models)
        ratios.append(first / second)
    summaries = [m.summary() for m in models]
    del models
    gc.collect()
    return summaries[0], summaries[1], statistics.median(ratios)


def render_pairs(rows: Sequence[Dict], runs: int) -> List[str]:
    """The ``pairs`` section: per-model times and parts, speed-ups, the ViT-L explanation."""
    lines = [
        "## Shrunk SegViT vs SegViT",
        "",
        "Batch 1, eval, `torch.no_grad`, whole-image inference through `model([...])`; both "
        f"models of a pair warmed up once, then {runs} alternating passes each; medians.",
        "",
        "| pair | input | model | total s (median, min-max) | backbone s | head s | rest s "
        "| GFLOPs | measured speed-up | FLOPs ratio | speed-up / FLOPs ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        for kind, name in (("segvit", "SegViT"), ("shrunk", "Shrunk")):
            t = row[kind]
            shrunk = kind == "shrunk"
            speed = f"**{row['speedup']:.2f}x**" if shrunk else ""
            ratio = f"**{row['flops_ratio']:.2f}x**" if shrunk else ""
            share = f"{row['speedup'] / row['flops_ratio']:.0%}" if shrunk else ""
            lines.append(
                f"| {row['label']} | {row['hw'][0]}x{row['hw'][1]} | {name} "
                f"(`{os.path.basename(row[kind + '_config'])}`) | {t['total']:.2f} "
                f"({t['min']:.2f}-{t['max']:.2f}) | {t['backbone']:.2f} | {t['head']:.2f} "
                f"| {t['rest']:.2f} | {row[kind + '_gflops']['total']:.1f} | {speed} | {ratio} "
                f"| {share} |"
            )
    lines += [
        "",
        "Speed-up = median over rounds of SegViT time / Shrunk time; FLOPs ratio = SegViT / "
        f"Shrunk GFLOPs. Target (issue 14): ViT-L speed-up >= {SHRUNK_TARGET:.0%} of the FLOPs "
        "ratio.",
        "",
    ]
    big = [r for r in rows if r["label"].startswith("ViT-L")]
    if big:
        share = big[0]["speedup"] / big[0]["flops_ratio"]
        verdict = "met" if share >= SHRUNK_TARGET else "**not met**"
        lines += [f"ViT-L: {share:.0%} of the FLOPs ratio: {verdict}.", ""]
        lines.append(explanation([*big, *[r for r in rows if r not in big]]))
    else:
        lines += [part_table(r) + "\n" for r in rows]
    return lines


def straightforward_scores(outputs: Dict, image_size: Tuple[int, int]) -> torch.Tensor:
    """The post-head work as written before: upsample all masks, sigmoid, einsum, crop, resize."""
    from detectron2.modeling.postprocessing import sem_seg_postprocess

    from segvit.modeling.meta_arch.segvit import combine_masks_and_classes

    masks = torch.nn.functional.interpolate(
        outputs["pred_masks"], size=outputs["padded_size"], mode="bilinear", align_corners=False
    )
    scores = combine_masks_and_classes(outputs["pred_logits"], masks)[0]
    return sem_seg_postprocess(scores, image_size, *image_size)


def banded_scores(outputs: Dict, image_size: Tuple[int, int]) -> torch.Tensor:
    """The post-head work of ``SegViT.predict_scores`` + ``crop_and_resize`` (the model's)."""
    from segvit.modeling.meta_arch.postprocess import crop_and_resize
    from segvit.modeling.meta_arch.segvit import upsample_and_combine

    scores = upsample_and_combine(
        outputs["pred_logits"], outputs["pred_masks"], outputs["padded_size"], image_size
    )[0]
    return crop_and_resize(scores, image_size, *image_size)


def time_post_head(config: str, hw: Tuple[int, int], runs: int) -> Dict:
    """Post-head work of one model's real head outputs: banded vs straightforward, alternating."""
    model = instantiate(LazyConfig.load(os.path.join(ROOT, config)).model).eval()
    gen = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (3, *hw), dtype=torch.uint8, generator=gen)
    with torch.no_grad():
        outputs = model.head_outputs(model.normalize(image)[None])
    del model
    gc.collect()
    times: Dict[str, List[float]] = {"straightforward": [], "banded": []}
    with torch.no_grad():
        plain, banded = straightforward_scores(outputs, hw), banded_scores(outputs, hw)
        diff = (plain - banded).abs().max().item()
        same_argmax = bool(torch.equal(plain.argmax(0), banded.argmax(0)))
        del plain, banded
        for _ in range(runs):
            for name, fn in (
                ("straightforward", straightforward_scores),
                ("banded", banded_scores),
            ):
                start = time.perf_counter()
                fn(outputs, hw)
                times[name].append(time.perf_counter() - start)
    result = {k: statistics.median(v) for k, v in times.items()}
    return dict(result, max_abs_diff=diff, same_argmax=same_argmax, config=config, hw=hw)


def child_json(args: List[str], env: Optional[Dict[str, str]] = None) -> Dict:
    """Run this script in a fresh process with ``args``; its last stdout line is JSON."""
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure_mask(runs: int, pairs_rows: Sequence[Dict], threads: int) -> Dict:
    """The ``mask`` section's numbers: per-pass ratios (this process and a THP process), and the
    post-head work alone for ViT-B 512 and ViT-L 640."""
    segvit_b = [r["segvit"] for r in pairs_rows if r["segvit_config"] == VIT_B]
    thp = child_json(
        ["--child", "mask-ratio", "--runs", str(runs), "--threads", str(threads)],
        env={"THP_MEM_ALLOC_ENABLE": "1"},
    )
    if not segvit_b:
        segvit_b = [child_json(["--child", "mask-ratio", "--runs", str(runs)])]
    post = [time_post_head(VIT_B, (512, 512), runs), time_post_head(VIT_L, (640, 640), runs)]
    return {"default": segvit_b[0], "thp": thp, "post_head": post}


def render_mask(mask: Dict) -> List[str]:
    ratio, thp = mask["default"]["after_backbone"], mask["thp"]["after_backbone"]
    lines = [
        "## The mask is free: head + everything after it vs the backbone (SegViT ViT-B 512)",
        "",
        f"Target (issue 14): head + rest <= {MASK_TARGET:.0%} of the backbone time. Median over "
        "passes of (total - backbone) / backbone, each pass measured in one `model([...])` call.",
        "",
        "| process | backbone s | head s | rest s | (head + rest) / backbone | target |",
        "|---|---|---|---|---|---|",
    ]
    for name, t, r in (
        ("default allocator (the `pairs` passes)", mask["default"], ratio),
        ("`THP_MEM_ALLOC_ENABLE=1` (own process)", mask["thp"], thp),
    ):
        verdict = "met" if r <= MASK_TARGET else "**not met**"
        lines.append(
            f"| {name} | {t['backbone']:.2f} | {t['head']:.2f} | {t['rest']:.2f} | **{r:.1%}** "
            f"| {verdict} |"
        )
    lines += [
        "",
        "The post-head work alone on the model's real head outputs (150 queries and classes), "
        "straightforward (upsample all mask logits, sigmoid, einsum, crop, `sem_seg_postprocess`) "
        "vs banded (`upsample_and_combine`: bands of rows, sigmoid in place, one matmul into the "
        "output; `crop_and_resize`), alternating in one process:",
        "",
        "| model | input | straightforward s | banded s | speed-up | max abs diff | same argmax |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in mask["post_head"]:
        lines.append(
            f"| `{os.path.basename(p['config'])}` | {p['hw'][0]}x{p['hw'][1]} "
            f"| {p['straightforward']:.3f} | {p['banded']:.3f} "
            f"| {p['straightforward'] / p['banded']:.2f}x | {p['max_abs_diff']:.1e} "
            f"| {'yes' if p['same_argmax'] else 'NO'} |"
        )
    lines += ["", MASK_EXPLANATION, ""]
    return lines


MASK_EXPLANATION = """\
What remains after the head cannot go away with any ordering of the official math. (1) The
combination is a dense (K x Q) = (150 x 150) matrix times the sigmoid masks at every pixel (the
class probabilities of a query are spread over all classes, not on one, so the sum over queries
is not a per-class scale): 150 x 150 x 512 x 512 = 5.9 GFLOPs, 5.5% of the backbone's 107 GFLOPs;
with the head's 7.7 GFLOPs (7.1%) that is 12.6% of the backbone's FLOPs before any memory
traffic. (2) The (150, 512, 512) float output (157 MB) is new memory on every call, and in this
VM each first touch of a 4 KB page costs microseconds (`torch.empty(39_321_600).fill_(1)` took
about 0.17 s vs 0.02 s to refill a buffer already touched, at a load of 3); PyTorch's
`THP_MEM_ALLOC_ENABLE=1` backs large allocations with 2 MB pages, which removes most of that
cost (second row). The rest, the three full-size temporaries of the straightforward path
(upsampled logits, their sigmoid, Detectron2's same-size resize) and the padded rows and columns,
is gone: see the post-head table."""


def memory_child(case: str) -> Dict:
    """Peak RSS of one inference case in this (fresh) process. Prints JSON."""
    import segvit  # noqa: F401

    if case.startswith("photo"):
        return photo_child(case)
    cfg = LazyConfig.load(os.path.join(ROOT, VIT_L))
    model = instantiate(cfg.model).eval()
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


def photo_child(case: str) -> Dict:
    """``tools/demo.py`` on a 6000x4000 photo with K classes ("photo-K"), or the previous label
    computation ("photo-K-reference"): all class maps resized to the photo, then argmax."""
    from PIL import Image

    from segvit import predictor as predictor_module

    parts = case.split("-")
    num_classes, reference = int(parts[1]), parts[-1] == "reference"
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import demo  # noqa: E402

    if reference:

        def previous_call(self, rgb):
            import numpy as np
            from detectron2.data import transforms as T

            height, width = rgb.shape[:2]
            aug_input = T.AugInput(rgb)
            T.AugmentationList(self.augmentations)(aug_input)
            image = torch.as_tensor(np.ascontiguousarray(aug_input.image.transpose(2, 0, 1)))
            inputs = [{"image": image, "height": height, "width": width}]
            with torch.no_grad():
                scores = self.model(inputs)[0]["sem_seg"]  # (K, H, W) at the photo's size
            return {"sem_seg": scores.argmax(0).numpy()}

        predictor_module.SemSegPredictor.__call__ = previous_call
    with tempfile.TemporaryDirectory() as tmp:
        cfg = LazyConfig.load(os.path.join(ROOT, PHOTO_CONFIG))
        overrides = [f"model.head.num_classes={num_classes}"]
        cfg = LazyConfig.apply_overrides(cfg, overrides)
        from detectron2.checkpoint import DetectionCheckpointer

        DetectionCheckpointer(instantiate(cfg.model), save_dir=tmp).save("random")
        height, width = PHOTO_SIZE
        ramp_y = torch.linspace(0, 255, height)[:, None, None]
        ramp_x = torch.linspace(0, 255, width)[None, :, None]
        rgb = ((ramp_y + ramp_x + torch.tensor([0.0, 80.0, 160.0])) % 256).to(torch.uint8)
        Image.fromarray(rgb.numpy()).save(os.path.join(tmp, "photo.jpg"), quality=90)
        del rgb, ramp_x, ramp_y
        gc.collect()
        before = rss_now_mb()
        start = time.perf_counter()
        demo.main(
            [
                "--config-file",
                os.path.join(ROOT, PHOTO_CONFIG),
                "--input",
                os.path.join(tmp, "photo.jpg"),
                "--output",
                os.path.join(tmp, "out"),
                *overrides,
                # no dataset metadata: K class names and colours of their own
                "dataloader.test.dataset.names=speed_benchmark_photo",
                f"train.init_checkpoint={os.path.join(tmp, 'random.pth')}",
            ]
        )
        seconds = time.perf_counter() - start
    return dict(
        case=case,
        classes=num_classes,
        reference=reference,
        before_mb=before,
        peak_mb=peak_rss_mb(),
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


def render_photo(cases: Sequence[Dict]) -> List[str]:
    lines = [
        "## Memory: `tools/demo.py` on a 6000x4000 photo (issue 13, item 7)",
        "",
        f"`{os.path.basename(PHOTO_CONFIG)}` with K classes (`model.head.num_classes=K`), random "
        "weights; the test resize brings the photo to 128x192 for the model, and the label map is "
        "computed at 4000x6000. Each case in its own process; the photo is a 90% JPEG.",
        "",
        "| classes K | label computation | RSS before MB | peak RSS MB | peak - before MB | s |",
        "|---|---|---|---|---|---|",
    ]
    for c in cases:
        how = (
            "previous: K maps resized to the photo, then argmax"
            if c["reference"]
            else "banded argmax (`upsampled_argmax`)"
        )
        lines.append(
            f"| {c['classes']} | {how} | {c['before_mb']:.0f} | **{c['peak_mb']:.0f}** "
            f"| {c['peak_mb'] - c['before_mb']:.0f} | {c['seconds']:.1f} |"
        )
    lines += [
        "",
        "Bound: besides the model, the demo holds the photo (H x W x 3 bytes, 72 MB), the int64 "
        "label map (8 bytes per pixel, 192 MB), the overlay and its float blend (H x W x 3 x 4 "
        "bytes, 288 MB per temporary), and one band of resized scores of at most 4M floats "
        "(16 MB, `ARGMAX_BAND_ELEMENTS`): independent of K, where the previous computation held "
        "K x H x W floats (96 MB per class) and its resize. The K maps at the test resolution "
        "(K x 128 x 192 floats here) are the only per-class memory.",
        "",
    ]
    return lines


def render(sections: Dict, load_before: str, load_after: str) -> str:
    lines = [
        "# Inference speed and memory (CPU)",
        "",
        f"Regenerate with `{COMMAND}` (one section: `--sections pairs|mask|memory|photo`).",
        "",
        f"Machine: {cpu_name()}, torch {torch.__version__}, {torch.get_num_threads()} threads.",
        "",
        "The 1-minute load average before and after (this benchmark alone is a load of about "
        f"{torch.get_num_threads()}; more means other processes shared the cores):",
        "",
        f"- before: `{load_before}`",
        f"- after: `{load_after}`",
        "",
    ]
    if "pairs" in sections:
        lines += render_pairs(sections["pairs"], sections["runs"])
    if "mask" in sections:
        lines += render_mask(sections["mask"])
    if "memory" in sections:
        lines += render_memory(sections["memory"])
    if "photo" in sections:
        lines += render_photo(sections["photo"])
    return "\n".join(lines).rstrip() + "\n"


def part_table(row: Dict) -> str:
    """GFLOPs and seconds per part (total, backbone, head, rest) of one pair."""
    fs, fk, ts, tk = row["segvit_gflops"], row["shrunk_gflops"], row["segvit"], row["shrunk"]
    nan = float("nan")
    lines = [
        f"{row['label']} ({row['hw'][0]}x{row['hw'][1]}):",
        "",
        "| part | SegViT GFLOPs | Shrunk GFLOPs | FLOPs ratio | SegViT s | Shrunk s | time ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for part in PARTS:
        a, b = fs.get(part, nan), fk.get(part, nan)
        lines.append(
            f"| {part} | {a:.1f} | {b:.1f} | {a / b:.2f}x | {ts[part]:.2f} | {tk[part]:.2f} "
            f"| {ts[part] / tk[part]:.2f}x |"
        )
    return "\n".join(lines)


def explanation(rows: Sequence[Dict]) -> str:
    """:data:`EXPLANATION` filled with this run's numbers (first pair: ViT-L, then ViT-B)."""
    big = rows[0]
    fs, fk, ts, tk = big["segvit_gflops"], big["shrunk_gflops"], big["segvit"], big["shrunk"]
    bb_time, bb_flops = ts["backbone"] / tk["backbone"], fs["backbone"] / fk["backbone"]
    if bb_time >= 0.9 * bb_flops:
        bb_verdict = (
            "the backbone speeds up about as much as its FLOPs drop, so the gap is not here."
        )
    else:
        bb_verdict = (
            "the backbone gains less than its FLOPs: the GEMMs on 400 tokens run less efficiently "
            "and the first 8 blocks plus the QD block's full-resolution K/V are unchanged."
        )
    small_pair = ""
    if len(rows) > 1:
        s = rows[1]
        sf, kf = s["segvit_gflops"], s["shrunk_gflops"]
        small_pair = (
            f"For the {s['label']} pair the trade is worse: QD saves "
            f"{sf['backbone'] - kf['backbone']:.1f} backbone GFLOPs "
            f"({s['segvit']['backbone'] - s['shrunk']['backbone']:.2f} s) while QU adds "
            f"{kf['head'] - sf['head']:.1f} head GFLOPs "
            f"({s['shrunk']['head'] - s['segvit']['head']:.2f} s), only {s['flops_ratio']:.2f}x "
            f"fewer FLOPs in total, so the measured speed-up is {s['speedup']:.2f}x."
        )
    return EXPLANATION.format(
        part_tables="\n\n".join(part_table(r) for r in rows),
        bb_time=bb_time,
        bb_flops=bb_flops,
        bb_verdict=bb_verdict,
        head_ratio=tk["head"] / ts["head"],
        head_extra=fk["head"] - fs["head"],
        head_extra_s=tk["head"] - ts["head"],
        head_rate=(fk["head"] - fs["head"]) / max(tk["head"] - ts["head"], 1e-9),
        bb_saved=fs["backbone"] - fk["backbone"],
        bb_saved_s=ts["backbone"] - tk["backbone"],
        bb_rate=(fs["backbone"] - fk["backbone"]) / max(ts["backbone"] - tk["backbone"], 1e-9),
        head_flops=fk["head"] / fs["head"],
        rest_segvit=ts["rest"],
        rest_shrunk=tk["rest"],
        small_pair=small_pair,
    )


def measure_pairs(only: str, runs: int, gflops: Dict) -> List[Dict]:
    rows = []
    for label, hw, segvit_config, shrunk_config in PAIRS:
        if only not in label:
            continue
        segvit_t, shrunk_t, speedup = time_pair((segvit_config, shrunk_config), hw, runs)
        rows.append(
            dict(
                label=label,
                hw=hw,
                segvit=segvit_t,
                shrunk=shrunk_t,
                segvit_config=segvit_config,
                shrunk_config=shrunk_config,
                segvit_gflops=gflops[segvit_config],
                shrunk_gflops=gflops[shrunk_config],
                speedup=speedup,
                flops_ratio=gflops[segvit_config]["total"] / gflops[shrunk_config]["total"],
            )
        )
    return rows


def mask_ratio_child(runs: int) -> Dict:
    """SegViT ViT-B 512 alone: medians of its parts and of (head + rest) / backbone."""
    model = Timed(VIT_B, (512, 512))
    model.run(record=False)
    for _ in range(runs):
        model.run()
    return model.summary()


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed passes per model")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--only", default="", help="run the pairs whose label contains this")
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)  # internal
    parser.add_argument("--flops", default=os.path.join(ROOT, "benchmarks", "flops.md"))
    parser.add_argument("--output", default=os.path.join(ROOT, "benchmarks", "speed.md"))
    args = parser.parse_args(argv)
    import segvit  # noqa: F401  (registers modules)

    torch.set_num_threads(args.threads)
    if args.child:
        result = mask_ratio_child(args.runs) if args.child == "mask-ratio" else None
        result = result or memory_child(args.child)
        print(json.dumps(result))
        return 0
    load_before = uptime()
    sections: Dict = {"runs": args.runs}
    if "pairs" in args.sections:
        sections["pairs"] = measure_pairs(args.only, args.runs, read_gflops(args.flops))
    if "mask" in args.sections:
        sections["mask"] = measure_mask(args.runs, sections.get("pairs", []), args.threads)
    if "memory" in args.sections:
        sections["memory"] = [child_json(["--child", c]) for c in ("whole", "slide")]
    if "photo" in args.sections:
        cases = ["photo-8", "photo-24", "photo-150", "photo-8-reference", "photo-24-reference"]
        sections["photo"] = [child_json(["--child", c]) for c in cases]
    report = render(sections, load_before, uptime())
    with open(args.output, "w") as f:
        f.write(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
