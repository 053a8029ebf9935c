"""The built-in synthetic dataset (``segvit.data.synthetic``): small non-square images, no resize.

Training crops are 128x128 (shapes are 25-45% of the short side); testing runs on whole images.
"""

from .semseg import dataloader

dataloader.train.dataset.names = "synthetic_sem_seg_train"
dataloader.train.mapper.augmentations.crop_size = (128, 128)
dataloader.train.mapper.augmentations.img_scale = (256, 192)  # long cap 256, short side 192
dataloader.train.mapper.augmentations.ratio_range = (0.75, 1.25)
dataloader.train.total_batch_size = 8
dataloader.train.num_workers = 2
dataloader.test.dataset.names = "synthetic_sem_seg_val"
dataloader.test.mapper.augmentations = []  # evaluate at the native size
dataloader.test.num_workers = 1
