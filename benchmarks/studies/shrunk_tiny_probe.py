#!/usr/bin/env python
"""Why Shrunk SegViT does not learn on the tiny from-scratch setting: how much of what its ATM
stage reads depends on the image, at initialisation.

SegViT's ATM head reads the backbone features (Linear + LayerNorm). Shrunk SegViT's ATM stage reads
the output of the QU decoders instead: a grid of learnable queries (``nn.Embedding``, N(0, 1), as
officially) that cross-attends to the features through post-norm ``nn.TransformerDecoderLayer``s
whose projections start at trunc-normal(0.02). For each model this prints, over pairs of synthetic
val images and several initial seeds, the relative difference between the two images' ATM input
tokens, ``||a(img1) - a(img2)|| / ||a(img1)||``, and for Shrunk the cosine between the QU output and
the (layer-normed) query table it started from. A mask can only follow the image as much as its
input does. ``--init-checkpoint`` loads a pre-trained backbone (``tools/pretrain_tiny_backbone.py``)
into both models first: the same numbers at the start of fine-tuning (heads still random).

    .venv/bin/python -m benchmarks.studies.shrunk_tiny_probe [--init-checkpoint backbone_tiny.pth]

CPU, a few seconds; random weights; the synthetic dataset is generated on first use.
"""

import argparse
import statistics

import torch
import torch.nn.functional as F
from detectron2.data import DatasetCatalog
from detectron2.data import detection_utils as utils

import segvit.data  # noqa: F401  (registers the synthetic dataset)
from benchmarks.common import build_model
from segvit.checkpoint import SafeCheckpointer
from segvit.modeling.backbone.utils import map_to_tokens

SEGVIT = "configs/synthetic/segvit_tiny.py"
SHRUNK = "configs/synthetic/segvit_shrunk_tiny.py"


def load_images(count: int) -> torch.Tensor:
    """(count, 3, 128, 128) float: the top-left 128x128 crops of the first val images, as RGB
    0-255 like the training mapper's input (the model normalises)."""
    records = DatasetCatalog.get("synthetic_sem_seg_val")[:count]
    crops = []
    for record in records:
        image = utils.read_image(record["file_name"], format="RGB")[:128, :128]
        crops.append(torch.as_tensor(image.copy()).permute(2, 0, 1).float())
    return torch.stack(crops)


def segvit_atm_input(model, images: torch.Tensor) -> torch.Tensor:
    """(B, N, d) tokens the first ATM stage of SegViT attends to (projected, normed feature)."""
    features = model.backbone(model.normalize(images))
    head = model.head
    tokens, _ = map_to_tokens(features[head.in_features[0]])
    return head.proj_norm[0](head.input_proj[0](tokens))


def shrunk_atm_input(model, images: torch.Tensor):
    """(B, N, d) QU output that Shrunk's ATM stage attends to, and the (1, N, d) query table."""
    query, hw = model.head.upsample(model.backbone(model.normalize(images)))
    return query, model.head.queries(hw)


def relative_pair_differences(tokens: torch.Tensor) -> list:
    """||t_i - t_j|| / ||t_i|| over consecutive pairs of the batch."""
    return [
        float((tokens[i] - tokens[i + 1]).norm() / tokens[i].norm())
        for i in range(0, len(tokens) - 1, 2)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="initialisations per model")
    parser.add_argument("--images", type=int, default=8, help="val images (pairs of them)")
    parser.add_argument("--init-checkpoint", default="", help="pre-trained backbone to load")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    images = load_images(args.images)
    rows = []
    for name, config in (("SegViT", SEGVIT), ("Shrunk SegViT", SHRUNK)):
        diffs, cosines = [], []
        for seed in range(args.seeds):
            torch.manual_seed(seed)
            model = build_model(config, whole=False)
            if args.init_checkpoint:  # as train.init_checkpoint: the backbone's tensors only
                SafeCheckpointer(model).load(args.init_checkpoint, checkpointables=[])
            if name == "SegViT":
                diffs += relative_pair_differences(segvit_atm_input(model, images))
            else:
                tokens, table = shrunk_atm_input(model, images)
                diffs += relative_pair_differences(tokens)
                normed = F.layer_norm(table, table.shape[-1:])
                cosines.append(float(F.cosine_similarity(tokens, normed, dim=-1).mean()))
        cosine = f"{statistics.median(cosines):.3f}" if cosines else "-"
        rows.append((name, statistics.median(diffs), min(diffs), max(diffs), cosine))
    print("| model | ATM input: image-to-image difference (median, min-max) |", end="")
    print(" cos(QU output, query table) |")
    print("|---|---|---|")
    for name, median, low, high, cosine in rows:
        print(f"| {name} | {median:.3f} ({low:.3f}-{high:.3f}) | {cosine} |")


if __name__ == "__main__":
    main()
