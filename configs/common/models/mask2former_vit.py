"""Mask2Former with a plain ViT-B/16 backbone, for a like-for-like comparison with SegViT ViT-B.

As in ``maskformer_vit.py``: the ViT's last block goes through ViTDet's ``SimpleFeaturePyramid``
to 256-d maps p2..p5 (strides 4-32) that replace Swin's res2..res5; the deformable encoder reads
p3-p5. Everything else is the Swin-T Mask2Former recipe of ``mask2former.py``.
"""

from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec
from detectron2.modeling.backbone import SimpleFeaturePyramid

from segvit.modeling.backbone.vit import ViT

from .mask2former import model

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
model.sem_seg_head.pixel_decoder.transformer_in_features = ["p3", "p4", "p5"]
