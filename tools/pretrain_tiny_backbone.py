#!/usr/bin/env python
"""Pre-train the tiny benchmark's ViT without pixel labels, for ``train.init_checkpoint``.

The analogue of ImageNet pre-training for ``configs/synthetic/*_tiny.py``: the tiny ViT (the
backbone of ``--config-file``, with a class token and a final LayerNorm so that the Segmenter and
DEPICT configs find theirs) learns multi-label classification of the classes a crop contains, on
synthetic images drawn from their own random streams (disjoint from train and val:
``segvit.data.synthetic_pretrain``), initialised by the official mmseg rule. Crops and
augmentations are those of the fine-tuning config's training loader. Writes into ``--output-dir``:

- ``backbone_tiny.pth``: ``{"model": {"backbone.<key>": tensor}}``, the layout every tiny config
  loads (MaskFormer / Mask2Former's ``backbone.net.`` is mapped by the checkpointer);
- ``metrics.json``: the image-level mAP / F1 on the held-out ``pretrain_val`` images, the settings;
- ``data/``: the rendered pre-training images (reused by a second run).

Seeded (``--seed``) and reproducible on the CPU. Example (docs/results.md)::

    OMP_NUM_THREADS=1 python tools/pretrain_tiny_backbone.py --output-dir output/pretrained_tiny
    python tools/train_net.py --config-file configs/synthetic/segvit_tiny.py --num-gpus 0 \\
        train.init_checkpoint=output/pretrained_tiny/backbone_tiny.pth
"""
import segvit.warning_filters  # noqa: F401  # isort: skip  (first: quiets library import warnings)
import argparse
import json
import logging
import math
import os
import time
from typing import Dict, List, Optional

import numpy as np
import torch
from detectron2.config import instantiate
from detectron2.utils.logger import setup_logger

import segvit  # noqa: F401  (registers datasets, backbones, heads)
from segvit.analysis.multilabel import multilabel_metrics
from segvit.checkpoint.safe_io import atomic_write_text
from segvit.checkpoint.writer import save_detectron2_checkpoint
from segvit.data.build import build_semseg_train_loader
from segvit.data.synthetic_pretrain import generate_pretrain_images, load_pretrain_split
from segvit.data.synthetic_render import SYNTHETIC_CLASSES
from segvit.engine.cli import add_config_arguments, load_config, setup_tool_logger
from segvit.modeling.meta_arch.multilabel_classifier import MultiLabelClassifier

logger = logging.getLogger("segvit.pretrain")

CHECKPOINT_NAME = "backbone_tiny.pth"


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--output-dir",
        default="output/pretrained_tiny",
        help="folder of the checkpoint and data (default: output/pretrained_tiny, where the"
        " comparison's pre-trained regime looks)",
    )
    add_config_arguments(parser, required=False, default="configs/synthetic/segvit_tiny.py")
    parser.add_argument("--iters", type=int, default=1500, help="optimizer steps")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3, help="AdamW peak learning rate")
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--warmup-iters", type=int, default=100, help="linear warm-up, then cosine")
    parser.add_argument("--clip-grad", type=float, default=1.0, help="max grad norm (0: off)")
    parser.add_argument("--num-train", type=int, default=2000, help="pre-training images")
    parser.add_argument("--num-val", type=int, default=200, help="held-out images (metric)")
    parser.add_argument("--data-seed", type=int, default=0, help="generator seed of the images")
    parser.add_argument("--seed", type=int, default=0, help="model init and data-stream seed")
    parser.add_argument(
        "--min-fraction",
        type=float,
        default=0.01,
        help="a class is present in a crop if it covers at least this fraction of its pixels",
    )
    parser.add_argument("--log-period", type=int, default=50)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing checkpoint")
    return parser


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """Stop (``parser.error``) on a count below 1 or an existing checkpoint without --overwrite."""
    for key in ("iters", "batch_size", "num_train", "num_val", "log_period"):
        if getattr(args, key) < 1:
            parser.error(f"--{key.replace('_', '-')} must be >= 1")
    path = os.path.join(args.output_dir, CHECKPOINT_NAME)
    if os.path.exists(path) and not args.overwrite:
        parser.error(f"{path} exists; pass --overwrite to replace it")
    return args


def build_classifier(cfg, min_fraction: float) -> MultiLabelClassifier:
    """The config's backbone with a class token and a final norm, mmseg init, last block tapped,
    under a multi-label classifier (``len(SYNTHETIC_CLASSES)`` classes)."""
    backbone_cfg = cfg.model.backbone
    if "net" in backbone_cfg:  # MaskFormer / Mask2Former: the ViT inside SimpleFeaturePyramid
        backbone_cfg = backbone_cfg.net
    depth = backbone_cfg.depth
    backbone_cfg.update(cls_token=True, final_norm=True, out_indices=(depth - 1,), init="mmseg")
    backbone = instantiate(backbone_cfg)
    return MultiLabelClassifier(
        backbone=backbone,
        in_feature=f"block{depth - 1}",
        num_classes=len(SYNTHETIC_CLASSES),
        pixel_mean=list(cfg.model.pixel_mean),
        pixel_std=list(cfg.model.pixel_std),
        min_fraction=min_fraction,
    )


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up from 0.001 over ``warmup`` steps, then cosine to 0 at ``total``."""
    if step < warmup:
        return 0.001 + (1 - 0.001) * step / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def evaluate(model: MultiLabelClassifier, dicts: List[Dict], mapper) -> Dict[str, float]:
    """Image-level metrics on whole test-resized images (one at a time: no padding between)."""
    model.eval()
    logits, targets = [], []
    for d in dicts:
        item = mapper(d)
        logits.append(model([item])[0])
        targets.append(model.targets([item])[0])
    model.train()
    return multilabel_metrics(torch.stack(logits), torch.stack(targets), SYNTHETIC_CLASSES)


def run(args: argparse.Namespace) -> Dict[str, float]:
    """Pre-train, evaluate on ``pretrain_val`` and write the checkpoint; returns the metrics."""
    os.makedirs(args.output_dir, exist_ok=True)
    setup_logger(os.path.join(args.output_dir, "log.txt"), name="segvit")
    logger.info("Arguments: %s", vars(args))
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    data_root = generate_pretrain_images(
        os.path.join(args.output_dir, "data"),
        num_train=args.num_train,
        num_val=args.num_val,
        seed=args.data_seed,
    )
    cfg = load_config(args.config_file, args.opts)
    cfg.dataloader.train.mapper.num_classes = len(SYNTHETIC_CLASSES)
    model = build_classifier(cfg, args.min_fraction)
    model.train()
    loader = build_semseg_train_loader(
        load_pretrain_split(data_root, "pretrain_train"),
        mapper=instantiate(cfg.dataloader.train.mapper),
        total_batch_size=args.batch_size,
        num_workers=0,  # one process: the whole run on one core, reproducible
        seed=args.seed,
    )
    decay = [p for n, p in model.named_parameters() if p.ndim > 1 and "pos_embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1 or "pos_embed" in n]
    optimizer = torch.optim.AdamW(
        [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr,
        weight_decay=args.weight_decay,
    )
    start = time.perf_counter()
    running = 0.0
    for step, batch in zip(range(args.iters), loader):
        for group in optimizer.param_groups:
            group["lr"] = args.lr * lr_factor(step, args.warmup_iters, args.iters)
        loss = model(batch)["loss_cls"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if args.clip_grad > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip_grad)
        optimizer.step()
        running += loss.item()
        if (step + 1) % args.log_period == 0 or step + 1 == args.iters:
            count = (step % args.log_period) + 1
            logger.info(
                "iter %d/%d  loss_cls %.4f  lr %.2e  %.1f s",
                step + 1,
                args.iters,
                running / count,
                optimizer.param_groups[0]["lr"],
                time.perf_counter() - start,
            )
            running = 0.0
    train_seconds = time.perf_counter() - start

    metrics = evaluate(
        model,
        load_pretrain_split(data_root, "pretrain_val"),
        instantiate(cfg.dataloader.test.mapper),
    )
    logger.info(
        "pretrain_val (%d images): mAP %.2f  F1 %.2f", args.num_val, metrics["mAP"], metrics["F1"]
    )
    path = os.path.join(args.output_dir, CHECKPOINT_NAME)
    save_detectron2_checkpoint(
        model.backbone.state_dict(),
        path,
        prefix="backbone.",
        author="segvit pretrain_tiny_backbone",
    )
    summary = {"metrics": metrics, "train_seconds": train_seconds, "args": vars(args)}
    atomic_write_text(
        os.path.join(args.output_dir, "metrics.json"), json.dumps(summary, indent=2), what="report"
    )
    logger.info("Wrote %s (%d backbone tensors)", path, len(model.backbone.state_dict()))
    return metrics


def main(argv: Optional[List[str]] = None) -> int:
    parser = get_parser()
    run(check_args(parser, parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    setup_tool_logger()
    raise SystemExit(main())
