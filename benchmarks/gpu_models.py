"""The models of the GPU benchmark (``benchmarks/gpu.py``) and the widths that make them run in
seconds on a CPU (``--tiny``): data only."""

from typing import List, NamedTuple

TINY_SIZE = 64  # input side with --tiny; a multiple of 32 (Swin's and Shrunk's coarsest stride)
TINY_CLASSES = 5

# Widths that make the configs run in seconds on a CPU (--tiny; LazyConfig override syntax, lists
# in brackets); depths, tapped blocks, QD/QU placement and head structure are the configs' own.
_TINY_VIT = [
    "model.backbone.embed_dim=32",
    "model.backbone.num_heads=2",
    "model.backbone.pretrain_img_size=64",
    "model.head.embed_dim=16",
    "model.head.num_heads=2",
    f"model.head.num_classes={TINY_CLASSES}",
]
_TINY_SHRUNK = _TINY_VIT + [f"model.head.query_grid=[{TINY_SIZE // 16},{TINY_SIZE // 16}]"]
_TINY_MASK2FORMER = [
    "model.backbone.embed_dim=32",
    "model.backbone.num_heads=[1,2,4,8]",
    f"model.sem_seg_head.num_classes={TINY_CLASSES}",
    "model.sem_seg_head.pixel_decoder.conv_dim=32",  # GroupNorm(32, .) needs a multiple of 32
    "model.sem_seg_head.pixel_decoder.mask_dim=32",
    "model.sem_seg_head.pixel_decoder.transformer_nheads=2",
    "model.sem_seg_head.pixel_decoder.transformer_enc_layers=1",
    "model.sem_seg_head.pixel_decoder.transformer_dim_feedforward=64",
    "model.sem_seg_head.transformer_predictor.hidden_dim=32",
    "model.sem_seg_head.transformer_predictor.nheads=2",
    "model.sem_seg_head.transformer_predictor.dim_feedforward=64",
    "model.sem_seg_head.transformer_predictor.dec_layers=2",
    "model.num_queries=10",
    "model.criterion.num_points=64",
]


class ModelSpec(NamedTuple):
    name: str  # what --models selects
    label: str  # the table's model column
    config: str  # relative to the repository root
    size: int  # input side (square crops at the config's training / inference crop size)
    tiny_overrides: List[str]  # LazyConfig overrides applied with --tiny


MODELS: List[ModelSpec] = [
    ModelSpec(
        "segvit_vit_b",
        "SegViT ViT-B",
        "configs/ade20k/segvit_vit_b16_512x512_160k.py",
        512,
        _TINY_VIT,
    ),
    ModelSpec(
        "shrunk_vit_b",
        "Shrunk ViT-B",
        "configs/ade20k/ablations/segvit_shrunk_vit_b16_512x512_160k.py",
        512,
        _TINY_SHRUNK,
    ),
    ModelSpec(
        "segvit_vit_l",
        "SegViT ViT-L",
        "configs/ade20k/segvit_vit_l16_640x640_160k.py",
        640,
        _TINY_VIT,
    ),
    ModelSpec(
        "shrunk_vit_l",
        "Shrunk ViT-L",
        "configs/ade20k/segvit_shrunk_vit_l16_640x640_160k.py",
        640,
        _TINY_SHRUNK,
    ),
    ModelSpec(
        "mask2former_swin_t",
        "Mask2Former Swin-T",
        "configs/ade20k/mask2former_swin_t_512x512_160k.py",
        512,
        _TINY_MASK2FORMER,
    ),
]
