#!/usr/bin/env python
"""Why MaskFormer fine-tuned from the pre-trained tiny ViT scores 3-8 mIoU: its 16 queries give one
and the same answer at test time, and differ only through dropout while training.

MaskFormer's decoder (the real ``maskformer2`` DETR decoder) starts every query from zeros
(``tgt``) and tells them apart only by their learned position (``query_embed``), added to the
attention queries and keys. In the first layer the self-attention reads values of zeros, so its
output is ``out_proj.bias`` for every query and the first LayerNorm makes ``tgt`` one vector for
all of them; with dropout (p 0.1) each query gets its own random copy of it. For each checkpoint
(a run folder of ``benchmarks.compare`` or its ``model_final.pth``) and for the random
initialisation of the config, this prints over the first val crops (128x128):

- the mean cosine between the 16 queries' decoder outputs, at test time (eval) and with the
  training dropout on (train mode, no gradient);
- how many distinct classes the 16 queries predict, and how many the image's prediction holds;
- ``||tgt|| / ||query_embed||`` after the first layer's self-attention block, at test time.

    .venv/bin/python -m benchmarks.studies.maskformer_query_collapse [run folder or .pth ...]

CPU, a few seconds per checkpoint; the synthetic dataset is generated on first use.
"""

import argparse
import os
import statistics
from typing import Dict, List

import torch
import torch.nn.functional as F

from benchmarks.common import build_model
from benchmarks.compare.methods import parse_run_folder
from benchmarks.studies.shrunk_tiny_probe import load_images
from segvit.checkpoint import SafeCheckpointer

CONFIG = "configs/synthetic/maskformer_tiny.py"


def checkpoint_path(name: str) -> str:
    """``name`` itself, or the ``model_final.pth`` of the run folder ``name``."""
    path = os.path.join(name, "model_final.pth") if os.path.isdir(name) else name
    if not os.path.isfile(path):
        raise SystemExit(f"{name}: no checkpoint (a run folder with model_final.pth, or a .pth)")
    return path


def label(name: str) -> str:
    """A run folder of benchmarks.compare as "MaskFormer, pretrained, seed 1", else its name."""
    try:
        method, recipe, seed, _ = parse_run_folder(name)
        return f"{method.name}, {recipe}, seed {seed}"
    except ValueError:
        return os.path.basename(os.path.normpath(name))


def normalized(model, image: torch.Tensor) -> torch.Tensor:
    """(1, 3, H, W) network input of one (3, H, W) RGB 0-255 image, as the model's forward."""
    return ((image - model.pixel_mean) / model.pixel_std)[None]


def probe(model, images: torch.Tensor, dropout: bool) -> Dict[str, float]:
    """Medians over the images of what the queries say; ``dropout``: the head in train mode."""
    predictor = model.sem_seg_head.predictor
    layer0 = predictor.transformer.decoder.layers[0]
    seen: Dict[str, torch.Tensor] = {}
    hooks = [
        predictor.transformer.decoder.norm.register_forward_hook(
            lambda m, i, o: seen.__setitem__("hs", o)  # (Q, B, C); the last call is the output
        ),
        layer0.norm1.register_forward_hook(lambda m, i, o: seen.setdefault("tgt0", o)),
    ]
    cosines, query_classes, image_classes, ratios = [], [], [], []
    model.sem_seg_head.train(dropout)
    try:
        for image in images:
            seen.clear()
            features = model.backbone(normalized(model, image))
            out = model.sem_seg_head(features)
            hs = F.normalize(seen["hs"][:, 0], dim=-1)  # (Q, C)
            q = len(hs)
            cosines.append(float(((hs @ hs.T).sum() - q) / (q * (q - 1))))
            query_classes.append(len(set(out["pred_logits"][0, :, :-1].argmax(-1).tolist())))
            semseg = model.semantic_inference(out["pred_logits"][0], out["pred_masks"][0])
            image_classes.append(len(semseg.argmax(0).unique()))
            tgt = seen["tgt0"][:, 0].norm(dim=-1).mean()
            ratios.append(float(tgt / predictor.query_embed.weight.norm(dim=-1).mean()))
    finally:
        for hook in hooks:
            hook.remove()
        model.sem_seg_head.eval()
    return {
        "cosine": statistics.median(cosines),
        "query_classes": statistics.median(query_classes),
        "image_classes": statistics.median(image_classes),
        "ratio": statistics.median(ratios),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="*", help="run folders or .pth files")
    parser.add_argument("--images", type=int, default=8, help="val crops")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    images = load_images(args.images)
    rows: List[tuple] = []
    for name in ["(random init)"] + list(args.checkpoints):
        torch.manual_seed(
            0
        )  # the same initial weights and dropout draws for every row, in any order
        model = build_model(CONFIG)
        if name != "(random init)":
            SafeCheckpointer(model).load(checkpoint_path(name), checkpointables=[])
        test, train = probe(model, images, False), probe(model, images, True)
        rows.append((label(name), test, train))
    print(
        "| model | query cosine, test / dropout on | classes of the 16 queries, test / dropout on"
        " | classes in the image, test / dropout on | layer-0 tgt / query_embed (test) |"
    )
    print("|---|---|---|---|---|")
    for name, test, train in rows:
        print(
            f"| {name} | {test['cosine']:.3f} / {train['cosine']:.3f} |"
            f" {test['query_classes']:g} / {train['query_classes']:g} |"
            f" {test['image_classes']:g} / {train['image_classes']:g} | {test['ratio']:.2f} |"
        )


if __name__ == "__main__":
    main()
