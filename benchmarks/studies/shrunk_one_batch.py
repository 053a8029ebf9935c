#!/usr/bin/env python
"""Can a tiny model overfit one fixed batch? Shrunk SegViT against SegViT (issue 25).

Trains ``--config`` on the same ``--images`` synthetic train crops (top-left 128x128) for
``--steps`` steps with the config's recipe (AdamW lr 5e-4, weight decay 0.01, no head lr factor,
gradient clipping 35; a 20-step linear warm-up instead of 100), and prints every ``--every`` steps:
the final dice and class losses, the per-image mIoU on the batch (eval mode), the fraction of pixels
predicted background, and for a Shrunk model what its ATM stage reads:

- ``qu_diff``: ``||u(img0) - u(img1)|| / ||u(img0)||`` for the QU output ``u`` (the ATM memory);
- ``mem_diff``: the same for the first QU decoder's memory (the projected, normed input);
- ``ca_diff``: the same for the first QU layer's cross-attention output (with the official
  queries, the only way the image enters them), and ``ca/q``: its size against those queries;
- gradient norms per parameter group (before clipping);
- ``local``: for each QU layer, the attention mass that a query puts on the 3x3 memory tokens
  around its own position (query grid scaled onto the memory grid); uniform attention gives 0.032
  on the 16x16 grid of the first input (9/256 less the border), 0.118 on the 8x8 grid of the
  second (9/64 less the border).

    .venv/bin/python -m benchmarks.studies.shrunk_one_batch [--config ...] [--steps 300] \
        [--init-checkpoint backbone_tiny.pth] [model.head.feature_queries=True ...]

``--held-out N`` scores N other train crops at the end (does it transfer?).

CPU, one thread: about 0.4 s (SegViT) to 0.6 s (Shrunk) per step at 4 crops.
"""

import argparse

import numpy as np
import torch
import torch.nn.functional as F
from detectron2.data import DatasetCatalog
from detectron2.data import detection_utils as utils
from torch import Tensor, nn

import segvit.data  # noqa: F401  (registers the synthetic dataset)
from benchmarks.common import build_model
from segvit.checkpoint import SafeCheckpointer
from segvit.modeling.backbone.utils import map_to_tokens
from segvit.modeling.heads.sdpa_decoder import decoder_layer_forward, multihead_attention
from segvit.solver import build_param_groups

SHRUNK = "configs/synthetic/segvit_shrunk_tiny.py"


def load_batch(count: int, start: int = 0):
    """(count, 3, 128, 128) RGB 0-255 crops and (count, 128, 128) labels of train images
    ``start`` .. ``start + count - 1`` (top-left crops)."""
    images, labels = [], []
    for record in DatasetCatalog.get("synthetic_sem_seg_train")[start : start + count]:
        image = utils.read_image(record["file_name"], format="RGB")[:128, :128]
        label = utils.read_image(record["sem_seg_file_name"]).astype("int64")[:128, :128]
        images.append(torch.as_tensor(image.copy()).permute(2, 0, 1).float())
        labels.append(torch.as_tensor(label.copy()))
    return torch.stack(images), torch.stack(labels)


def per_image_miou(pred: torch.Tensor, labels: torch.Tensor, num_classes: int) -> list:
    """mIoU (%) of each image over the classes present in its labels."""
    result = []
    for p, t in zip(pred, labels):
        ious = [
            float(((p == k) & (t == k)).sum()) / float(((p == k) | (t == k)).sum())
            for k in range(num_classes)
            if (t == k).any()
        ]
        result.append(round(100 * float(np.mean(ious)), 1))
    return result


def relative_difference(tokens: torch.Tensor) -> float:
    return float((tokens[0] - tokens[1]).norm() / tokens[0].norm())


def local_mass(attn: nn.MultiheadAttention, query: Tensor, memory: Tensor, hw, memory_hw) -> float:
    """Mean attention mass (over heads, queries, images) on the 3x3 memory tokens around each
    query's own position; the (h, w) query grid maps onto the memory grid by scaling."""
    embed, heads = attn.embed_dim, attn.num_heads
    w_q, w_k, _ = attn.in_proj_weight.chunk(3)
    b_q, b_k, _ = attn.in_proj_bias.chunk(3)
    q = F.linear(query, w_q, b_q).unflatten(-1, (heads, embed // heads)).transpose(1, 2)
    k = F.linear(memory, w_k, b_k).unflatten(-1, (heads, embed // heads)).transpose(1, 2)
    weights = ((q @ k.transpose(-1, -2)) * (embed // heads) ** -0.5).softmax(-1).mean(1)
    index = torch.arange(hw[0] * hw[1])
    rows = (index // hw[1]) * memory_hw[0] // hw[0]  # the query's cell on the memory grid
    cols = (index % hw[1]) * memory_hw[1] // hw[1]
    keys = torch.arange(memory_hw[0] * memory_hw[1])
    key_rows, key_cols = keys // memory_hw[1], keys % memory_hw[1]
    near = ((rows[:, None] - key_rows[None]).abs() <= 1) & (
        (cols[:, None] - key_cols[None]).abs() <= 1
    )
    return float((weights * near).sum(-1).mean())


@torch.no_grad()
def qu_probe(head, features) -> dict:
    """Image dependence and locality of Shrunk's QU path (see the module docstring)."""
    tokens, hw = map_to_tokens(features[head.in_features[0]])
    memory = head.proj_norm[0](head.input_proj[0](tokens))  # (B, N, d), N = Gh * Gw
    query = head.queries(hw).repeat(tokens.shape[0], 1, 1)
    first_memory, local, cross = memory, [], None
    for name, proj, norm, layers in zip(
        head.in_features, head.input_proj, head.proj_norm, head.qu_decoders
    ):
        tokens, memory_hw = map_to_tokens(features[name])
        memory = norm(proj(tokens))
        for layer in layers:
            normed = layer.norm1(query + multihead_attention(layer.self_attn, query, query))
            attn = layer.multihead_attn
            local.append(round(local_mass(attn, normed, memory, hw, memory_hw), 3))
            if cross is None:
                cross = multihead_attention(attn, normed, memory)
                ca_size = float(cross.norm() / normed.norm())
            query = decoder_layer_forward(layer, query, memory)
    memory = first_memory
    output, _ = head.upsample(features)
    return {
        "mem_diff": round(relative_difference(memory), 3),
        "qu_diff": round(relative_difference(output), 3),
        "ca_diff": round(relative_difference(cross), 3),
        "ca/q": round(ca_size, 3),
        "local": local,
    }


GROUPS = (  # (name prefix/part, group) in match order
    ("backbone.", "backbone"),
    ("qu_queries", "table"),
    ("qu_decoders", "qu"),
    ("input_proj", "proj"),
    ("proj_norm", "proj"),
    ("class_embed", "class_embed"),
    ("query_embed", "class_queries"),
)


def gradient_norms(model) -> dict:
    """L2 norm of the gradients per parameter group (before clipping); "atm": the ATM layers."""
    squares = {}
    for name, param in model.named_parameters():
        group = next((g for key, g in GROUPS if key in name), "atm")
        value = 0.0 if param.grad is None else float(param.grad.norm() ** 2)
        squares[group] = squares.get(group, 0.0) + value
    return {group: round(value**0.5, 4) for group, value in squares.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=SHRUNK)
    parser.add_argument("--init-checkpoint", default="", help="pre-trained backbone to load")
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--every", type=int, default=25)
    parser.add_argument("--held-out", type=int, default=0, help="other crops scored at the end")
    parser.add_argument(
        "--freeze", nargs="*", default=[], help="parameter name prefixes left out of training"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("overrides", nargs="*", help="config overrides key=value")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    images, labels = load_batch(args.images)
    model = build_model(args.config, args.overrides)
    if args.init_checkpoint:  # as train.init_checkpoint: the backbone's tensors only
        SafeCheckpointer(model).load(args.init_checkpoint, checkpointables=[])
    for name, param in model.named_parameters():
        if name.startswith(tuple(args.freeze)):
            param.requires_grad_(False)
    groups = build_param_groups(model, base_lr=5e-4, weight_decay=0.01, head_lr_multiplier=1.0)
    optimizer = torch.optim.AdamW(groups, lr=5e-4, weight_decay=0.01)
    inputs = model.normalize(images)
    num_classes = model.criterion.num_classes
    shrunk = hasattr(model.head, "upsample")

    for step in range(1, args.steps + 1):
        model.train()
        for group in optimizer.param_groups:
            group["lr"] = 5e-4 * min(1.0, step / 20)
        losses = model.losses(inputs, labels)
        optimizer.zero_grad()
        sum(losses.values()).backward()
        norms = gradient_norms(model)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 35.0)
        optimizer.step()
        if step % args.every and step != 1:
            continue
        model.eval()
        with torch.no_grad():
            pred = model.predict_scores(inputs).argmax(1)
            probe = qu_probe(model.head, model.backbone(inputs)) if shrunk else {}
        print(
            f"step {step} dice {losses['loss_dice'].item():.3f} ce {losses['loss_ce'].item():.3f} "
            f"mIoU {per_image_miou(pred, labels, num_classes)} "
            f"background {float((pred == 0).float().mean()):.2f} "
            + " ".join(f"{k} {v}" for k, v in probe.items()),
            flush=True,
        )
        print(f"  gradient norms {norms}", flush=True)
    if args.held_out:  # does what was learnt on the batch transfer to other crops?
        other, other_labels = load_batch(args.held_out, start=args.images)
        model.eval()
        with torch.no_grad():
            pred = model.predict_scores(model.normalize(other)).argmax(1)
        print(
            f"held-out crops: mIoU {per_image_miou(pred, other_labels, num_classes)} "
            f"background {float((pred == 0).float().mean()):.2f}"
        )


if __name__ == "__main__":
    main()
