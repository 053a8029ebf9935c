"""RSSeg-R (a reconstruction of RSSeg) on a ViT-L/16 backbone: 24 blocks, width 1024, 16 heads.

RSSeg's plain-ViT results use an AugReg ViT-L (its Fig. 2 cites Steiner et al. 2021), hence mean =
std = 127.5, as SegViT's ViT-L. LSB taps: blocks 5, 11, 17; SASM tap: block 23. Head width 256.
Defaults: ADE20K at 640x640 (150 classes, slide 640 / 608).
"""

from detectron2.config import LazyCall as L

from segvit.modeling.meta_arch.inference import InferenceConfig

from .rsseg_r import model

model.backbone.update(
    embed_dim=1024,
    depth=24,
    num_heads=16,
    drop_path_rate=0.3,
    out_indices=(5, 11, 17, 23),
)
model.head.update(local_features=["block5", "block11", "block17"], global_feature="block23")
model.pixel_mean = [127.5, 127.5, 127.5]  # AugReg normalisation: images to [-1, 1]
model.pixel_std = [127.5, 127.5, 127.5]
model.inference = L(InferenceConfig)(mode="slide", crop_size=(640, 640), stride=(608, 608))
