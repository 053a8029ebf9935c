"""Shared by the model tests: tiny models and random Detectron2-style input dicts."""

import torch

from segvit.modeling.backbone.vit import ViT
from segvit.modeling.heads.atm_head import ATMHead
from segvit.modeling.heads.depict_head import DEPICTHead
from segvit.modeling.heads.segmenter_head import SegmenterMaskHead
from segvit.modeling.heads.setr_head import SETRNaiveHead
from segvit.modeling.losses.atm_criterion import ATMCriterion
from segvit.modeling.meta_arch.segvit import SegViT
from segvit.modeling.meta_arch.setr import PerPixelSegmentor

IMAGENET_MEAN, IMAGENET_STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def tiny_vit(cls=ViT, **kwargs) -> ViT:
    """A 64-wide, 4-block ViT/16 tapping blocks 1-3 (override any argument; ``cls``: ``ViT`` or
    a subclass taking its arguments, e.g. ``ShrunkViT``)."""
    args = dict(
        pretrain_img_size=64,
        patch_size=16,
        embed_dim=64,
        depth=4,
        num_heads=4,
        drop_path_rate=0.0,
        out_indices=(1, 2, 3),
    )
    args.update(kwargs)
    return cls(**args)


def tiny_segvit(num_classes: int, inference=None) -> SegViT:
    """SegViT: a 2-stage x 2-layer ATM head (d 32) on blocks 3, 2, 1 of :func:`tiny_vit`."""
    head = ATMHead(
        in_features=["block3", "block2", "block1"],
        in_channels=64,
        num_classes=num_classes,
        embed_dim=32,
        num_heads=4,
        layers_per_stage=2,
    )
    return SegViT(
        backbone=tiny_vit(drop_path_rate=0.1),
        head=head,
        criterion=ATMCriterion(num_classes=num_classes),
        pixel_mean=IMAGENET_MEAN,
        pixel_std=IMAGENET_STD,
        inference=inference,
    )


# The per-pixel decoders on a 2-block ViT whose block 1 they read: small widths, official shapes.
PER_PIXEL_HEADS = {
    "setr": lambda k: SETRNaiveHead(
        in_feature="block1", in_channels=64, num_classes=k, channels=16
    ),
    "segmenter": lambda k: SegmenterMaskHead(
        in_feature="block1", in_channels=64, num_classes=k, d_model=64, num_heads=4
    ),
    "depict_sa": lambda k: DEPICTHead(in_feature="block1", in_channels=64, num_classes=k),
    "depict_ca": lambda k: DEPICTHead(
        in_feature="block1", in_channels=64, num_classes=k, mode="ca"
    ),
}


def tiny_per_pixel_model(head: str, num_classes: int, inference=None) -> PerPixelSegmentor:
    """SETR-naive / Segmenter / DEPICT (``head``, a key of PER_PIXEL_HEADS) on a tiny ViT."""
    return PerPixelSegmentor(
        backbone=tiny_vit(depth=2, drop_path_rate=0.1, out_indices=(1,)),
        head=PER_PIXEL_HEADS[head](num_classes),
        pixel_mean=IMAGENET_MEAN,
        pixel_std=IMAGENET_STD,
        inference=inference,
    )


def random_inputs(sizes, num_classes, with_target=True):
    """One dict per (H, W): a random uint8 image, its size, and (optionally) a random target
    with an ignored (255) top-left corner."""
    batch = []
    for h, w in sizes:
        item = {
            "image": torch.randint(0, 256, (3, h, w), dtype=torch.uint8),
            "height": h,
            "width": w,
        }
        if with_target:
            target = torch.randint(0, num_classes, (h, w))
            target[: h // 4, : w // 4] = 255
            item["sem_seg"] = target
        batch.append(item)
    return batch
