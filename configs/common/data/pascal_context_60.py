"""PASCAL-Context, 60 classes (background = class 0, as the official SegViT config):
``pascal_context_60_sem_seg_{train,val}`` (4,996 train, 5,104 val images).

Train: keep-ratio resize into (520, 520) x [0.5, 2.0] (LONG side 520 x ratio), 480x480 crops
(padded when smaller); test: short side 520 (mmseg ``min_size=480`` rule,
docs/official_reference.md#segvit-training-recipe).
``datasets/prepare_pascal_context.py`` writes the labels."""

from .semseg import dataloader

dataloader.train.dataset.names = "pascal_context_60_sem_seg_train"
dataloader.train.mapper.num_classes = 60
dataloader.train.mapper.augmentations.update(crop_size=(480, 480), img_scale=(520, 520))
dataloader.test.dataset.names = "pascal_context_60_sem_seg_val"
dataloader.test.mapper.augmentations.update(img_scale=(520, 520), min_size=480)
