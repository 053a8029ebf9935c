"""Segmenter (Strudel et al., ICCV 2021): ViT-B/16 + mask transformer, per-pixel cross-entropy.

The backbone is our plain ViT with the options that make it Segmenter's (official
``rstrudel/segmenter: segm/model/vit.py``): a class token kept through the blocks and dropped
afterwards, the final LayerNorm on the last block (the only one read), bilinear pos-embed resizing,
LayerNorm eps 1e-5, drop-path 0.1, "vit" normalisation (mean = std = 127.5, AugReg weights). The
meta-architecture is the per-pixel one (``PerPixelSegmentor``): logits upsampled bilinearly to the
image, cross-entropy with ignore 255; at test time window logits averaged, then softmax; inference
slides windows of the crop with stride crop - 32 (the official ``segm/eval/miou.py``). Defaults:
ADE20K, 150 classes, 512x512.
"""

from detectron2.config import LazyCall as L

from segvit.modeling.backbone.vit import ViT
from segvit.modeling.heads.segmenter_head import SegmenterMaskHead
from segvit.modeling.meta_arch.inference import InferenceConfig
from segvit.modeling.meta_arch.setr import PerPixelSegmentor

model = L(PerPixelSegmentor)(
    backbone=L(ViT)(
        pretrain_img_size=512,  # pos-embed at the crop grid, as Segmenter stores it
        patch_size=16,
        embed_dim=768,
        depth=12,
        num_heads=12,
        mlp_ratio=4.0,
        drop_path_rate=0.1,
        drop_path_on_attn=True,  # Segmenter's own ViT blocks drop both residual branches
        init="trunc_normal",  # Segmenter's own rule (segm/model/utils.py init_weights)
        norm_eps=1e-5,
        out_indices=(11,),  # the last block only
        cls_token=True,
        final_norm=True,
        pos_embed_interp="bilinear",
    ),
    head=L(SegmenterMaskHead)(
        in_feature="block11",
        in_channels="${..backbone.embed_dim}",
        num_classes=150,
        d_model="${..backbone.embed_dim}",
        num_layers=2,
        num_heads=12,  # d_model // 64
        mlp_ratio=4.0,
        dropout=0.1,
        drop_path_rate=0.0,
    ),
    pixel_mean=[127.5, 127.5, 127.5],  # "vit" normalisation: images to [-1, 1]
    pixel_std=[127.5, 127.5, 127.5],
    loss_weight=1.0,
    inference=L(InferenceConfig)(mode="slide", crop_size=(512, 512), stride=(480, 480)),
)
