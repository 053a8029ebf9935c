"""The main job (``make demo``): a tiny SegViT trained from scratch on the synthetic dataset.

A 4-block ViT (dim 96, patch 8: the images are small, so 1/8 masks instead of the paper's 1/16)
with a conv stem and a cascaded ATM head over blocks 4, 3, 2. 2,000 iterations x 8 crops of
128x128 take 8.5-9.5 minutes on the 2-core CPU (0.25-0.29 s/iter). Everything else is the SegViT
recipe: ATM loss (CE + 20 focal + dice, deep supervision), AdamW, poly schedule with warm-up,
grad clipping 35; from scratch, so a higher lr and no head lr multiplier. One addition that is not
in the paper: a per-pixel cross-entropy across the class queries' mask logits (weight 10), which
makes the masks of two classes that share a hue compete (70.29 -> 75.88 mIoU; docs/design.md).
Where a step's time goes, and what was tried to make the demo faster: docs/results.md ("Demo
speed").
"""

from detectron2.config import LazyCall as L

from segvit.data.synthetic import SYNTHETIC_CLASSES
from segvit.modeling.backbone.conv_stem import ConvStem
from segvit.modeling.meta_arch.inference import InferenceConfig

from ..common.data.synthetic import dataloader
from ..common.models.segvit import model
from ..common.optim import optimizer
from ..common.schedule import lr_multiplier
from ..common.train import train

model.backbone.update(
    pretrain_img_size=128,
    patch_size=8,
    embed_dim=96,
    depth=4,
    num_heads=4,
    drop_path_rate=0.0,
    out_indices=(1, 2, 3),
    # From scratch: the rule every stored tiny run used (not mmseg's); docs/design.md.
    init="trunc_normal",
    # Trained from scratch: a conv stem instead of the linear patch embedding (Xiao et al. 2021)
    # makes the tiny ViT learn shapes within the demo's few minutes; see docs/design.md.
    patch_embed=L(ConvStem)(patch_size="${..patch_size}", embed_dim="${..embed_dim}"),
)
model.head.update(
    in_features=["block3", "block2", "block1"],
    num_classes=len(SYNTHETIC_CLASSES),  # 8
    embed_dim=64,
    num_heads=4,
    layers_per_stage=2,
)
model.inference = L(InferenceConfig)(mode="whole", crop_size=(128, 128), stride=(96, 96))
dataloader.train.mapper.num_classes = "${model.head.num_classes}"
model.criterion.pixel_ce_weight = 10.0  # not in the paper; 0 gives the paper's loss
# The demo was tuned with independently drawn decoder layers (the paper configs copy the official
# equal in_proj init); kept so its numbers stay comparable. Its drop_path_rate 0 makes the
# stochastic-depth placement irrelevant, and "whole" inference the ms_flip averaging.
model.head.shared_in_proj_init = False
# 1: the paper's loss at every label pixel. 4 (not in the paper) evaluates the losses on every 4th
# pixel in each direction, 21-28% less CPU per step, but gave 72.39 mIoU at 2,000 iterations on
# one thread (docs/results.md, "Demo speed").
model.criterion.loss_stride = 1
# 0: the paper's loss at every label pixel. N > 0 (not in the paper, Mask2Former's rule) computes
# focal, dice and the pixel CE on N importance-sampled label pixels per mask (of 16,384 in a
# 128x128 crop); docs/design.md. A key here so that runs can override it.
model.criterion.num_points = 0
model.criterion.oversample_ratio = 3.0
model.criterion.importance_sample_ratio = 0.75
# One loader process is enough for 8 small crops per step, and leaves the 2 cores to training.
# The crops do not depend on the number of workers (each item is seeded by its position).
dataloader.train.num_workers = 1

optimizer.lr = 5e-4  # from scratch: much higher than the 2e-5 used to fine-tune pretrained ViTs
optimizer.weight_decay = 0.01
optimizer.params.head_lr_multiplier = 1.0  # no pretrained backbone to protect
lr_multiplier.warmup_iters = 100

train.update(
    output_dir="output/demo",
    max_iter=2000,
    eval_period=2000,  # evaluate once, at the end
    log_period=50,
    device="cpu",
    checkpointer=dict(period=500, max_to_keep=2),
)
