"""The built-in synthetic dataset (``segvit.data.synthetic``): small non-square images.

Images (128-256 px a side) are resized to a short side of 128 (x 0.75-1.25 in training) and
cropped to 128x128, so a crop holds most of an image and its shapes whole; testing resizes to a
short side of 128 too, and predictions are resized back to the original image size.
"""

from .semseg import dataloader

dataloader.train.dataset.names = "synthetic_sem_seg_train"
dataloader.train.mapper.augmentations.crop_size = (128, 128)
dataloader.train.mapper.augmentations.img_scale = (256, 128)  # long side cap 256, short side 128
dataloader.train.mapper.augmentations.ratio_range = (0.75, 1.25)
dataloader.train.total_batch_size = 8
dataloader.train.num_workers = 2
dataloader.test.dataset.names = "synthetic_sem_seg_val"
dataloader.test.mapper.augmentations.img_scale = (256, 128)
dataloader.test.num_workers = 1
