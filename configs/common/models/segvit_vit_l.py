"""SegViT with a ViT-L/16 backbone and the cascaded ATM head (paper Sec. 3; official
``zbwxp/SegVit: configs/segvit/segvit_vit-l_jax_640x640_160k_ade20k.py``).

Defaults: ADE20K at 640x640 (150 classes, slide window 640 / stride 608). Weights: the AugReg
ViT-L/16 (in21k -> in1k @384) of the official configs, hence mean = std = 127.5.
"""

from detectron2.config import LazyCall as L

from segvit.modeling.meta_arch.inference import InferenceConfig

from .segvit import model

model.backbone.update(
    embed_dim=1024,
    depth=24,
    num_heads=16,  # head_dim 64
    drop_path_rate=0.3,
    out_indices=(7, 15, 23),  # 0-indexed blocks 8, 16, 24
)
model.head.update(
    in_features=["block23", "block15", "block7"],  # stage 1 reads the deepest block
    embed_dim=512,  # C / 2
    num_heads=16,  # head_dim 32
)
model.pixel_mean = [127.5, 127.5, 127.5]  # AugReg normalisation: images to [-1, 1]
model.pixel_std = [127.5, 127.5, 127.5]
model.inference = L(InferenceConfig)(mode="slide", crop_size=(640, 640), stride=(608, 608))
