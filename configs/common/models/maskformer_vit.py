"""MaskFormer with a plain ViT-B/16 backbone, for a like-for-like comparison with SegViT ViT-B.

The ViT (same settings as ``segvit.py``) gives one stride-16 map; ViTDet's ``SimpleFeaturePyramid``
(Li et al., ECCV 2022) turns its last block into 256-d maps at strides 4/8/16/32 (deconvolutions,
identity, max-pool), named p2..p5, which stand in for Swin's res2..res5. Everything else is the
Swin-T MaskFormer recipe of ``maskformer.py``. MaskFormer's paper has no plain-ViT model: this is
our choice, the standard way (ViTDet, and ViT-Adapter's comparison) to feed a plain ViT to a
multi-scale decoder.
"""

from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec
from detectron2.modeling.backbone import SimpleFeaturePyramid

from segvit.modeling.backbone.vit import ViT

from .maskformer import model

model.backbone = L(SimpleFeaturePyramid)(
    net=L(ViT)(
        pretrain_img_size=384,  # stored pos-embed grid 24x24, resized bicubically at run time
        patch_size=16,
        embed_dim=768,
        depth=12,
        num_heads=12,
        mlp_ratio=4.0,
        drop_path_rate=0.1,
        out_indices=(11,),  # the last block only
    ),
    in_feature="block11",
    out_channels=256,
    scale_factors=(4.0, 2.0, 1.0, 0.5),  # strides 4, 8, 16, 32 -> p2, p3, p4, p5
    norm="LN",
    square_pad=0,
)
model.sem_seg_head.input_shape = {
    f"p{level}": L(ShapeSpec)(channels="${....backbone.out_channels}", stride=2**level)
    for level in (2, 3, 4, 5)
}
model.sem_seg_head.transformer_in_feature = "p5"
model.sem_seg_head.transformer_predictor.in_channels = "${...backbone.out_channels}"  # p5
