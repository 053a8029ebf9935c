"""A tiny SETR-style yacs config (2-block ViT, one tapped block) for the per-pixel heads' tests."""

from detectron2.config import get_cfg

from segvit.config import add_segvit_config


def tiny_setr_yacs_cfg(head_name: str, num_classes: int):
    """yacs config of ``SETR`` over a 2-block, 64-wide ViT whose block 1 feeds ``head_name``."""
    cfg = add_segvit_config(get_cfg())
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.META_ARCHITECTURE = "SETR"
    cfg.MODEL.BACKBONE.NAME = "SegViTViT"
    vit = cfg.MODEL.SEGVIT.VIT
    vit.PRETRAIN_IMG_SIZE, vit.EMBED_DIM, vit.DEPTH, vit.NUM_HEADS = 64, 64, 2, 4
    vit.OUT_INDICES = [1]
    head = cfg.MODEL.SEM_SEG_HEAD
    head.NAME, head.IN_FEATURES, head.NUM_CLASSES = head_name, ["block1"], num_classes
    return cfg
