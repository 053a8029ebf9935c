"""The demo's tiny SegViT (``configs/synthetic/segvit_tiny.py``) on your own folders of images and
label PNGs, trained from scratch on the CPU. docs/custom_data.md walks through it::

    .venv/bin/python tools/train_net.py --config-file configs/custom/segvit_tiny_folder.py \\
        --num-gpus 0 custom.train_images=my_data/images/train \\
        custom.train_labels=my_data/labels/train custom.val_images=my_data/images/val \\
        custom.val_labels=my_data/labels/val 'custom.class_names=[background,cat,dog]'

Images are resized to a short side of 128 (x 0.75-1.25 in training) and cropped to 128x128, as
in the demo; the class count follows ``custom.class_names``. 2,000 iterations of 8 crops take
about 10 minutes on 2 idle cores.
"""

from ..common.data.folder import custom, dataloader
from ..synthetic.segvit_tiny import lr_multiplier, model, optimizer, train

__all__ = ["custom", "dataloader", "lr_multiplier", "model", "optimizer", "train"]

model.head.num_classes = "${segvit.len:${custom.class_names}}"
dataloader.train.mapper.num_classes = "${model.head.num_classes}"
dataloader.train.mapper.augmentations.crop_size = (128, 128)
dataloader.train.mapper.augmentations.img_scale = (256, 128)  # long side cap 256, short side 128
dataloader.train.mapper.augmentations.ratio_range = (0.75, 1.25)
dataloader.train.total_batch_size = 8
dataloader.train.num_workers = 1
dataloader.test.mapper.augmentations.img_scale = (256, 128)
dataloader.test.num_workers = 1

train.update(
    output_dir="output/custom",
    eval_period=500,
    checkpointer=dict(period=500, max_to_keep=2),
)
