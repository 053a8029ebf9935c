"""ADE20K (SceneParsing, 150 classes): Detectron2's ``ade20k_sem_seg_{train,val}``.

Train: short side 512 x [0.5, 2.0] (long side <= 2048 x ratio), 512x512 crops; test: short side
512 (``datasets/prepare_ade20k.py`` writes the labels)."""

from .semseg import dataloader

dataloader.train.dataset.names = "ade20k_sem_seg_train"
dataloader.train.mapper.num_classes = 150
dataloader.test.dataset.names = "ade20k_sem_seg_val"
