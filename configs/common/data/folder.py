"""Your own dataset: a folder of images and a folder of label PNGs per split, chosen by overrides.

The ``custom`` node holds the folders, the class names and the image extension; the loaders'
``names`` build :func:`segvit.data.datasets.config_datasets.folder_dataset` from them, which
registers ``<custom.name>_train`` / ``<custom.name>_val`` when the config is built (registering
again is harmless). Labels hold class ids 0..K-1 in the order of ``custom.class_names``, and
``custom.ignore_label`` (255) for pixels that are scored nowhere; docs/custom_data.md has the
walkthrough. Crop and scales are set by the model config that imports this file.
"""

from detectron2.config import LazyCall as L
from omegaconf import OmegaConf

from segvit.data.datasets.config_datasets import folder_dataset

from .semseg import dataloader

custom = OmegaConf.create(
    dict(
        name="custom",  # datasets "custom_train" and "custom_val"
        train_images="",  # e.g. my_data/images/train
        train_labels="",  # e.g. my_data/labels/train
        val_images="",  # a split of its own: scores on training images say little
        val_labels="",
        class_names=[],  # e.g. [background,cat,dog]: label value k is class_names[k]
        image_ext="",  # "" finds it from the images named like the labels (jpg, png, ...)
        ignore_label=255,  # label value of unlabelled pixels (not trained, not scored)
    )
)

dataloader.train.dataset.names = L(folder_dataset)(
    name="${custom.name}_train",
    image_root="${custom.train_images}",
    label_root="${custom.train_labels}",
    class_names="${custom.class_names}",
    image_ext="${custom.image_ext}",
    ignore_label="${custom.ignore_label}",
    keys="custom.train_images / custom.train_labels",
)
dataloader.test.dataset.names = L(folder_dataset)(
    name="${custom.name}_val",
    image_root="${custom.val_images}",
    label_root="${custom.val_labels}",
    class_names="${custom.class_names}",
    image_ext="${custom.image_ext}",
    ignore_label="${custom.ignore_label}",
    keys="custom.val_images / custom.val_labels",
)
dataloader.train.mapper.num_classes = "${segvit.len:${custom.class_names}}"
