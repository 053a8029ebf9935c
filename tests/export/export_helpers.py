"""Shared by the export tests: tiny models of every exportable decoder, from the real configs."""

import torch
from detectron2.config import LazyConfig, instantiate
from repo_scripts import REPO

TINY_SEGVIT = str(REPO / "configs/synthetic/segvit_tiny.py")
SHRUNK_B = str(REPO / "configs/ade20k/ablations/segvit_shrunk_vit_b16_512x512_160k.py")
NAIVE_SHRUNK_B = str(REPO / "configs/ade20k/ablations/segvit_naive_shrunk_vit_b16_512x512_160k.py")
SETR_B = str(REPO / "configs/ade20k/ablations/setr_naive_vit_b16_512x512_160k.py")
SYNTHETIC_TINY = [
    str(REPO / f"configs/synthetic/{name}_tiny.py")
    for name in ("segmenter", "depict_sa", "depict_ca", "rsseg_r")
]

# A 4-block ViT (dim 64, patch 16) whose pos-embed is stored for 96x96 (6x6 grid) while the tests
# export at 64x64 (4x4 grid): the one-time resize of fix_input_size is exercised.
_TINY_VIT = [
    "model.backbone.embed_dim=64",
    "model.backbone.depth=4",
    "model.backbone.num_heads=2",
    "model.backbone.pretrain_img_size=96",
    "model.backbone.drop_path_rate=0.0",
]
TINY_OVERRIDES = {
    TINY_SEGVIT: [],
    **{config: [] for config in SYNTHETIC_TINY},
    SHRUNK_B: _TINY_VIT
    + [
        "model.backbone.shrink_idx=2",
        "model.backbone.out_indices=[1,3]",
        "model.head.in_features=['block1','block3']",
        "model.head.query_grid=[6,6]",  # stored for 96x96, resized to 4x4
        "model.head.embed_dim=32",
        "model.head.num_heads=2",
        "model.head.num_classes=5",
        "model.head.qu_layers=1",  # fewer layers: a smaller graph, a faster ONNX export
        "model.head.atm_layers=2",
    ],
    NAIVE_SHRUNK_B: _TINY_VIT
    + [
        "model.backbone.shrink_idx=2",
        "model.backbone.out_indices=[3]",
        "model.head.in_feature=block3",
        "model.head.embed_dim=32",
        "model.head.num_heads=2",
        "model.head.num_classes=5",
    ],
    SETR_B: _TINY_VIT
    + [
        "model.backbone.out_indices=[3]",
        "model.head.in_feature=block3",
        "model.head.channels=16",
        "model.head.num_classes=5",
    ],
}
# Export size per config: the synthetic models' crop; 64x64 (4x4 tokens) for the ViT-B configs.
TINY_SIZE = {
    TINY_SEGVIT: (128, 128),
    SHRUNK_B: (64, 64),
    NAIVE_SHRUNK_B: (64, 64),
    SETR_B: (64, 64),
    **{config: (128, 128) for config in SYNTHETIC_TINY},
}


def tiny_cfg(config: str):
    return LazyConfig.apply_overrides(LazyConfig.load(config), TINY_OVERRIDES[config])


def tiny_model(config: str, seed: int = 0):
    torch.manual_seed(seed)
    model = instantiate(tiny_cfg(config).model).eval()
    for module in model.modules():  # non-trivial BatchNorm statistics (SETR's head)
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model
