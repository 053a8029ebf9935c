"""COCO-Stuff-10K (171 classes): ``coco_stuff_10k_sem_seg_{train,test}`` (9k train, 1k test images).

Train: short side 512 x [0.5, 2.0] (long side <= 2048 x ratio), 512x512 crops; test: short side 512
for any aspect ratio (mmseg ``min_size=512``, so every slide window is a full 512x512 crop;
docs/official_reference.md#segvit-training-recipe). ``datasets/prepare_coco_stuff_10k.py`` writes
the labels."""

from .semseg import dataloader

dataloader.train.dataset.names = "coco_stuff_10k_sem_seg_train"
dataloader.train.mapper.num_classes = 171
dataloader.train.mapper.augmentations.update(crop_size=(512, 512), img_scale=(2048, 512))
dataloader.test.dataset.names = "coco_stuff_10k_sem_seg_test"
dataloader.test.mapper.augmentations.update(img_scale=(2048, 512), min_size=512)
