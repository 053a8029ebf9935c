"""Mask2Former with a plain ViT-B/16 backbone, for a like-for-like comparison with SegViT ViT-B.

As in ``maskformer_vit.py``: the ViT's last block goes through ViTDet's ``SimpleFeaturePyramid``
to 256-d maps p2..p5 (strides 4-32) that replace Swin's res2..res5; the deformable encoder reads
p3-p5. Everything else is the Swin-T Mask2Former recipe of ``mask2former.py``.
"""

from .mask2former import model
from .maskformer_vit import model as maskformer_vit

# The same ViT-B + SimpleFeaturePyramid backbone (p2..p5) as the MaskFormer ViT-B config.
model.backbone = maskformer_vit.backbone
model.sem_seg_head.input_shape = maskformer_vit.sem_seg_head.input_shape
model.sem_seg_head.pixel_decoder.transformer_in_features = ["p3", "p4", "p5"]
