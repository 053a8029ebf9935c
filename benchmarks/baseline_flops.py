#!/usr/bin/env python
"""GFLOPs of the Swin-T models of SegViT's Table 6 (MaskFormer, Mask2Former, SegViT) at 512x512.

Counts with fvcore (one multiply-add = one flop, the papers' convention) on the full model in
evaluation mode, batch 1, one 512x512 image, whole-image inference, including the final per-class
combination of masks and classes, as the papers' tools do (Mask2Former's ``analyze_model.py``,
SegViT's ``get_flops_fvcore.py``). The project's counter carries handles for the attention ops,
``aten::grid_sampler`` and ``aten::baddbmm`` (``segvit.analysis.flops``); it refuses to report a
total that could miss more than 1%.

Example::

    .venv/bin/python -m benchmarks.baseline_flops            # the three Table 6 models
    .venv/bin/python -m benchmarks.baseline_flops --vit      # also the ViT-B baselines
"""
import argparse
import logging
import time
from typing import Dict, Optional

import torch

from benchmarks.common import build_model
from segvit.analysis.flops import count_flops

CONFIGS = "configs/common/models"

# name -> (config file, GFLOPs in SegViT's Table 6 or None)
MODELS = {
    "MaskFormer Swin-T": ("maskformer.py", 57.3),
    "Mask2Former Swin-T": ("mask2former.py", 73.7),
    "SegViT Swin-T": ("segvit_swin.py", 48.0),
}
VIT_MODELS = {
    "MaskFormer ViT-B (SFP)": ("maskformer_vit.py", None),
    "Mask2Former ViT-B (SFP)": ("mask2former_vit.py", None),
}


def measure(config: str, size: int) -> Dict[str, float]:
    """Params (M) and GFLOPs (total and per top-level part) of one model config."""
    model = build_model(f"{CONFIGS}/{config}")  # SegViT: one whole-image pass, as the paper
    image = torch.zeros(3, size, size, dtype=torch.uint8)
    with torch.no_grad():
        report = count_flops(model, [{"image": image, "height": size, "width": size}])
    # Detectron2's tracing wrapper names the model "model": its children are "model.<name>".
    parts = {k[len("model.") :]: v / 1e9 for k, v in report.by_module.items() if k.count(".") == 1}
    backbone = parts.get("backbone", 0.0)
    head = parts.get("sem_seg_head", 0.0) + parts.get("head", 0.0)
    return {
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "gflops": report.total / 1e9,
        "backbone": backbone,
        "head": head,
        "rest": report.total / 1e9 - backbone - head,
    }


def main(argv: Optional[list] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=512, help="square input size")
    parser.add_argument("--vit", action="store_true", help="also the ViT-B baselines")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    models = {**MODELS, **(VIT_MODELS if args.vit else {})}
    header = (
        f"{'model':<26}{'params M':>9}{'GFLOPs':>9}{'backbone':>10}{'head':>8}{'other':>8}"
        f"{'paper':>8}{'diff':>8}{'time s':>8}"
    )
    print(f"fvcore GFLOPs (1 MAC = 1 flop), eval mode, batch 1, {args.size}x{args.size}")
    print(header)
    print("-" * len(header))
    for name, (config, paper) in models.items():
        start = time.time()
        r = measure(config, args.size)
        ref = f"{paper:8.1f}" if paper and args.size == 512 else f"{'-':>8}"
        diff = (
            f"{100 * (r['gflops'] - paper) / paper:+7.1f}%"
            if paper and args.size == 512
            else f"{'-':>8}"
        )
        print(
            f"{name:<26}{r['params_m']:9.1f}{r['gflops']:9.2f}{r['backbone']:10.2f}"
            f"{r['head']:8.2f}{r['rest']:8.2f}{ref}{diff}{time.time() - start:8.0f}"
        )
    print(
        "head: sem_seg_head (pixel decoder + transformer decoder) or SegViT's ATM head; SegViT's "
        "backbone includes its deformable neck. other: upsampling and the final combination of "
        "masks and classes (e.g. 150 classes x 100 queries x 512 x 512 = 3.9 GFLOPs)."
    )


if __name__ == "__main__":
    main()
