"""Dataset mapper for semantic segmentation: read image + label PNG, augment, return tensors."""

import copy
import logging
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import transforms as T
from fvcore.transforms.transform import Transform

from .datasets.validation import check_label_values
from .image_io import read_image_pixels, read_label
from .transforms import PadToSize, build_test_augmentations, build_train_augmentations

__all__ = ["SemSegDatasetMapper", "read_label"]

logger = logging.getLogger(__name__)


class SemSegDatasetMapper:
    """Map a Detectron2 semantic-segmentation dataset dict to model inputs.

    Like :class:`detectron2.data.DatasetMapper`, restricted to semantic segmentation. Reads
    ``file_name`` (image) and ``sem_seg_file_name`` (label PNG), applies the augmentations to both
    and returns::

        {"file_name": str, "height": int, "width": int,  # ORIGINAL image size
         "image": (3, H, W) uint8 tensor in ``image_format`` channel order (augmented),
         "sem_seg": (H, W) int64 tensor (augmented; only if the dict has ``sem_seg_file_name``),
         ...other keys of the dataset dict}

    ``height`` / ``width`` stay those of the original image, so a model can return predictions
    at the original resolution for :class:`SemSegEvaluator`. Randomness comes from numpy's global
    RNG, which Detectron2 seeds per data-loader worker.
    """

    @configurable
    def __init__(
        self,
        is_train: bool,
        *,
        augmentations: List[Union[T.Augmentation, Transform]],
        image_format: str = "RGB",
        ignore_label: int = 255,
        size_divisibility_pad: Optional[Tuple[int, int]] = None,
        num_classes: Optional[int] = None,
    ):
        """
        Args:
            is_train (bool): training mode; only then is ``size_divisibility_pad`` applied.
            augmentations (list[Augmentation or Transform]): applied in order to image and label,
                e.g. :func:`build_train_augmentations` / :func:`build_test_augmentations`.
            image_format (str): format for :func:`segvit.data.image_io.read_image_pixels`
                ("RGB" or "BGR"); also the channel order of the returned image.
            ignore_label (int): label value ignored by the loss; used to pad labels.
            size_divisibility_pad (tuple[int, int] or None): in training, pad image (0) and label
                (``ignore_label``) at the bottom / right to at least this (H, W), usually the crop
                size. None if the augmentations already pad (``build_train_augmentations`` does).
            num_classes (int or None): if given, labels with a value >= num_classes that is not
                ``ignore_label`` raise ValueError.
        """
        if num_classes is not None and num_classes <= 0:
            raise ValueError(f"num_classes must be positive or None, got {num_classes!r}.")
        self.is_train = is_train
        self.augmentations = T.AugmentationList(augmentations)
        self.image_format = image_format
        self.ignore_label = ignore_label
        self.size_divisibility_pad = size_divisibility_pad
        self.num_classes = num_classes
        self._pad = (
            PadToSize(size_divisibility_pad, pad_value=0, seg_pad_value=ignore_label)
            if is_train and size_divisibility_pad is not None
            else None
        )
        mode = "training" if is_train else "inference"
        logger.info(f"[SemSegDatasetMapper] Augmentations used in {mode}: {augmentations}")

    @classmethod
    def from_config(cls, cfg, is_train: bool = True) -> Dict[str, Any]:
        """Build the paper's pipeline from a yacs config (standard Detectron2 keys).

        Training: ``img_scale = (INPUT.MAX_SIZE_TRAIN, min(INPUT.MIN_SIZE_TRAIN))``, ratio range
        ``INPUT.SCALE_RATIO_RANGE`` (default (0.5, 2.0)); if ``INPUT.CROP.ENABLED``, crop and pad
        to ``INPUT.CROP.SIZE`` ("absolute" only) with ``INPUT.CROP.SINGLE_CATEGORY_MAX_AREA``
        (default 0.75); horizontal flip if ``INPUT.RANDOM_FLIP == "horizontal"``;
        ``PhotoMetricDistortion`` if ``INPUT.COLOR_AUG_SSD`` (default True).
        Test: ``img_scale = (INPUT.MAX_SIZE_TEST, INPUT.MIN_SIZE_TEST)`` and
        ``min_size = INPUT.TEST_RESIZE_MIN_SIZE`` (default None).
        Both: ``INPUT.FORMAT``, ``MODEL.SEM_SEG_HEAD.IGNORE_VALUE``, ``.NUM_CLASSES``.
        Keys marked "default" are optional (not in Detectron2's defaults).
        """
        ignore_label = cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE
        if is_train:
            crop = cfg.INPUT.CROP
            if crop.ENABLED and crop.TYPE != "absolute":
                raise NotImplementedError(
                    "SemSegDatasetMapper supports INPUT.CROP.TYPE 'absolute' only, "
                    f"got {crop.TYPE!r}."
                )
            if cfg.INPUT.RANDOM_FLIP not in ("horizontal", "none"):
                raise NotImplementedError(
                    "INPUT.RANDOM_FLIP must be 'horizontal' or 'none', "
                    f"got {cfg.INPUT.RANDOM_FLIP!r}."
                )
            augs = build_train_augmentations(
                crop_size=tuple(crop.SIZE) if crop.ENABLED else None,
                img_scale=(cfg.INPUT.MAX_SIZE_TRAIN, min(cfg.INPUT.MIN_SIZE_TRAIN)),
                ratio_range=tuple(cfg.INPUT.get("SCALE_RATIO_RANGE", (0.5, 2.0))),
                cat_max_ratio=crop.get("SINGLE_CATEGORY_MAX_AREA", 0.75),
                ignore_label=ignore_label,
                flip=cfg.INPUT.RANDOM_FLIP == "horizontal",
                photometric=cfg.INPUT.get("COLOR_AUG_SSD", True),
                image_format=cfg.INPUT.FORMAT,
            )
        else:
            augs = build_test_augmentations(
                img_scale=(cfg.INPUT.MAX_SIZE_TEST, cfg.INPUT.MIN_SIZE_TEST),
                min_size=cfg.INPUT.get("TEST_RESIZE_MIN_SIZE", None),
            )
        return {
            "is_train": is_train,
            "augmentations": augs,
            "image_format": cfg.INPUT.FORMAT,
            "ignore_label": ignore_label,
            "size_divisibility_pad": None,
            "num_classes": cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
        }

    def __call__(self, dataset_dict: Dict[str, Any]) -> Dict[str, Any]:
        """
        Args:
            dataset_dict (dict): one record in Detectron2 format (``file_name``, optional
                ``sem_seg_file_name``, ``height``, ``width``).

        Returns:
            dict: see the class docstring.
        """
        dataset_dict = copy.deepcopy(dataset_dict)  # it will be modified below
        file_name = dataset_dict["file_name"]
        image = read_image_pixels(file_name, self.image_format)  # (H, W, 3) uint8
        h, w = image.shape[:2]
        for key, actual in (("height", h), ("width", w)):
            expected = dataset_dict.get(key)
            if expected is not None and expected != actual:
                raise ValueError(
                    f"Image '{file_name}' has size (H, W) = {(h, w)}, but the dataset dict says "
                    f"{key}={expected}."
                )
        dataset_dict["height"], dataset_dict["width"] = h, w

        sem_seg = None
        label_file = dataset_dict.pop("sem_seg_file_name", None)
        if label_file is not None:
            sem_seg = read_label(label_file)  # (H, W) uint8
            if sem_seg.shape != (h, w):
                raise ValueError(
                    f"Label '{label_file}' has size (H, W) = {sem_seg.shape} but image "
                    f"'{file_name}' has size {(h, w)}."
                )
            if self.num_classes is not None:
                check_label_values(sem_seg, self.num_classes, self.ignore_label, label_file)

        aug_input = T.AugInput(image, sem_seg=sem_seg)
        self.augmentations(aug_input)
        if self._pad is not None:
            self._pad(aug_input)
        image, sem_seg = aug_input.image, aug_input.sem_seg

        # (H, W, 3) -> (3, H, W); contiguous so the tensor owns a plain layout (e.g. after a flip).
        dataset_dict["image"] = torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))
        if sem_seg is not None:
            dataset_dict["sem_seg"] = torch.as_tensor(sem_seg.astype(np.int64))
        return dataset_dict
