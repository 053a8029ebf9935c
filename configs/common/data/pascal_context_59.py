"""PASCAL-Context, 59 classes (background ignored, mmseg ``PascalContextDataset59`` with
``reduce_zero_label``): ``pascal_context_59_sem_seg_{train,val}`` (4,996 train, 5,104 val images).

Same pipeline as the 60-class set: keep-ratio resize into (520, 520) x [0.5, 2.0] (LONG side
520 x ratio), 480x480 crops; test: short side 520 (mmseg ``min_size=480`` rule,
docs/official_reference.md#segvit-training-recipe).
``datasets/prepare_pascal_context.py`` writes both label sets.
"""

from .pascal_context_60 import dataloader

dataloader.train.dataset.names = "pascal_context_59_sem_seg_train"
dataloader.train.mapper.num_classes = 59
dataloader.test.dataset.names = "pascal_context_59_sem_seg_val"
