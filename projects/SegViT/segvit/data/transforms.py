"""Augmentations of the SegViT training / test pipelines that Detectron2 lacks.

The official SegViT code trains with mmseg 0.24's pipeline (zbwxp/SegVit
``configs/segvit/*.py``; docs/official_reference.md#segvit-training-recipe):
``Resize(img_scale, ratio_range=(0.5, 2.0), keep_ratio=True)`` -> ``RandomCrop(crop,
cat_max_ratio=0.75)`` -> ``RandomFlip(0.5)`` -> ``PhotoMetricDistortion`` -> ``Pad(crop, img 0,
label 255)``. The augmentations here reproduce mmseg's size arithmetic (``mmcv.rescale_size``) and
the order in which mmseg draws its random numbers from numpy's global RNG, so a seeded Detectron2
worker is reproducible. The crop and
flip are Detectron2's own (:class:`RandomCrop_CategoryAreaConstraint`, :class:`RandomFlip`).

Known pixel-level difference: resizing uses Detectron2's :class:`ResizeTransform` (PIL bilinear for
the image, PIL nearest for the label), while mmcv uses OpenCV; output sizes are identical.
"""

from typing import List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from detectron2.data import transforms as T
from fvcore.transforms.transform import NoOpTransform, PadTransform, Transform
from PIL import Image

__all__ = [
    "rescale_size",
    "ResizeByScaleRatio",
    "TestResize",
    "PhotoMetricDistortion",
    "PhotoMetricDistortionTransform",
    "PadToSize",
    "build_train_augmentations",
    "build_test_augmentations",
]


def _check_pair(name: str, value: Sequence[float], positive: bool = True) -> Tuple:
    if len(value) != 2 or (positive and min(value) <= 0):
        raise ValueError(f"{name} must be two positive numbers, got {value!r}.")
    return tuple(value)


def rescale_size(h: int, w: int, scale: Sequence[float]) -> Tuple[int, int]:
    """Keep-ratio output size of ``mmcv.imrescale(img, scale)`` (mmcv's ``rescale_size``).

    The image is scaled by ``f = min(max(scale) / max(h, w), min(scale) / min(h, w))``: the largest
    factor with long side <= max(scale) and short side <= min(scale). The order of ``scale`` does
    not matter. Sizes round as mmcv does: ``int(x * f + 0.5)``.

    Returns:
        (new_h, new_w)
    """
    f = min(max(scale) / max(h, w), min(scale) / min(h, w))
    return int(h * float(f) + 0.5), int(w * float(f) + 0.5)


class ResizeByScaleRatio(T.Augmentation):
    """Training scale jitter of mmseg's ``Resize(img_scale, ratio_range, keep_ratio=True)``.

    Draws ``r ~ U(ratio_range)`` (``np.random.random_sample``, as mmseg), sets the target scale to
    ``(int(img_scale[0] * r), int(img_scale[1] * r))`` and rescales keeping the aspect ratio so that
    the image fits it (:func:`rescale_size`). With ``img_scale=(2048, 512)`` the short side becomes
    ``512 r`` unless the long side would exceed ``2048 r``; with ``(520, 520)`` (PASCAL-Context) the
    long side becomes ``520 r``.
    """

    def __init__(
        self,
        img_scale: Tuple[int, int],
        ratio_range: Optional[Tuple[float, float]] = (0.5, 2.0),
    ):
        """
        Args:
            img_scale (tuple[int, int]): base (long side max, short side max), in any order.
            ratio_range (tuple[float, float] or None): range of the ratio r. ``None`` means r = 1.
        """
        super().__init__()
        img_scale = _check_pair("img_scale", img_scale)
        if ratio_range is not None:
            ratio_range = _check_pair("ratio_range", ratio_range)
            if ratio_range[0] > ratio_range[1]:
                raise ValueError(f"ratio_range must be (low, high) with low <= high: {ratio_range}")
        self._init(locals())

    def get_transform(self, image: np.ndarray) -> T.ResizeTransform:
        h, w = image.shape[:2]
        if self.ratio_range is None:
            ratio = 1.0
        else:
            low, high = self.ratio_range
            ratio = np.random.random_sample() * (high - low) + low
        scale = int(self.img_scale[0] * ratio), int(self.img_scale[1] * ratio)
        new_h, new_w = rescale_size(h, w, scale)
        return T.ResizeTransform(h, w, new_h, new_w, Image.BILINEAR)


class TestResize(T.Augmentation):
    """Test-time keep-ratio resize of mmseg 0.24's ``Resize(keep_ratio=True, min_size=...)``.

    Rule (``scale = (int(img_scale[0] * ratio), int(img_scale[1] * ratio))`` as in
    ``MultiScaleFlipAug``):

    * ``min_size is None``: fit the image into ``scale`` (:func:`rescale_size`). ADE20K
      ``(2048, 512)``: short side 512 unless the long side would exceed 2048.
    * ``min_size`` given: the SHORT side is set to ``new_short = max(min(scale), min_size)`` and the
      long side follows the aspect ratio, without any long-side cap. COCO-Stuff ``(2048, 512)``,
      ``min_size=512``: short side 512 for any aspect ratio; PASCAL-Context ``(520, 520)``,
      ``min_size=480``: short side 520 (not long side 520 as in training). In multi-scale testing
      small ratios are clamped up to ``min_size`` so a ``min_size`` sliding window always fits.
    """

    __test__ = False  # not a pytest test class despite the name

    def __init__(
        self, img_scale: Tuple[int, int], min_size: Optional[int] = None, ratio: float = 1.0
    ):
        """
        Args:
            img_scale (tuple[int, int]): (long side max, short side max); order does not matter.
            min_size (int or None): lower bound of the short side; switches to the rule above.
            ratio (float): multiplier of ``img_scale`` (multi-scale testing); 1.0 for single scale.
        """
        super().__init__()
        img_scale = _check_pair("img_scale", img_scale)
        if min_size is not None and min_size <= 0:
            raise ValueError(f"min_size must be a positive int or None, got {min_size!r}.")
        if ratio <= 0:
            raise ValueError(f"ratio must be positive, got {ratio!r}.")
        self._init(locals())

    def get_output_size(self, h: int, w: int) -> Tuple[int, int]:
        """(new_h, new_w) of an (h, w) image, following mmseg's arithmetic step by step."""
        scale = (int(self.img_scale[0] * self.ratio), int(self.img_scale[1] * self.ratio))
        if self.min_size is not None:
            new_short = max(min(scale), self.min_size)
            scale = (new_short * h / w, new_short) if h > w else (new_short, new_short * w / h)
        return rescale_size(h, w, scale)

    def get_transform(self, image: np.ndarray) -> T.ResizeTransform:
        h, w = image.shape[:2]
        new_h, new_w = self.get_output_size(h, w)
        return T.ResizeTransform(h, w, new_h, new_w, Image.BILINEAR)


_HSV_CODES = {
    "RGB": (cv2.COLOR_RGB2HSV, cv2.COLOR_HSV2RGB),
    "BGR": (cv2.COLOR_BGR2HSV, cv2.COLOR_HSV2BGR),
}


def _convert(img: np.ndarray, alpha: float = 1.0, beta: float = 0.0) -> np.ndarray:
    """mmseg's ``convert``: ``uint8(clip(float32(img) * alpha + beta, 0, 255))`` (truncating)."""
    return np.clip(img.astype(np.float32) * alpha + beta, 0, 255).astype(np.uint8)


class PhotoMetricDistortionTransform(Transform):
    """Deterministic color distortion with parameters drawn by :class:`PhotoMetricDistortion`.

    Image only: segmentation masks, coordinates and boxes are returned unchanged.
    """

    def __init__(
        self,
        brightness: Optional[float] = None,
        contrast: Optional[float] = None,
        contrast_first: bool = True,
        saturation: Optional[float] = None,
        hue: Optional[int] = None,
        image_format: str = "RGB",
    ):
        """
        Args:
            brightness (float or None): value added to every pixel; None skips the step.
            contrast (float or None): multiplier of every pixel; None skips the step.
            contrast_first (bool): apply contrast before (True) or after (False) saturation and hue.
            saturation (float or None): multiplier of the HSV S channel; None skips the step.
            hue (int or None): shift of the HSV H channel (OpenCV uint8 units, modulo 180).
            image_format (str): channel order of the images, "RGB" or "BGR".
        """
        super().__init__()
        if image_format not in _HSV_CODES:
            raise NotImplementedError(
                f"PhotoMetricDistortion supports image_format 'RGB' or 'BGR', got {image_format!r}."
            )
        self._set_attributes(locals())

    def apply_image(self, img: np.ndarray) -> np.ndarray:
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(
                f"PhotoMetricDistortion expects an (H, W, 3) uint8 image, got {img.dtype} "
                f"of shape {img.shape}."
            )
        to_hsv, from_hsv = _HSV_CODES[self.image_format]
        if self.brightness is not None:
            img = _convert(img, beta=self.brightness)
        if self.contrast_first and self.contrast is not None:
            img = _convert(img, alpha=self.contrast)
        if self.saturation is not None:
            img = cv2.cvtColor(img, to_hsv)
            img[:, :, 1] = _convert(img[:, :, 1], alpha=self.saturation)
            img = cv2.cvtColor(img, from_hsv)
        if self.hue is not None:
            img = cv2.cvtColor(img, to_hsv)
            img[:, :, 0] = (img[:, :, 0].astype(int) + self.hue) % 180
            img = cv2.cvtColor(img, from_hsv)
        if not self.contrast_first and self.contrast is not None:
            img = _convert(img, alpha=self.contrast)
        return img

    def apply_segmentation(self, segmentation: np.ndarray) -> np.ndarray:
        return segmentation

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        return coords

    def inverse(self) -> Transform:
        # Same convention as Detectron2's ColorTransform: no geometric change to undo.
        return NoOpTransform()


class PhotoMetricDistortion(T.Augmentation):
    """mmseg's ``PhotoMetricDistortion`` (SSD-style color jitter) on uint8 images.

    In order: brightness; a coin flip deciding whether contrast comes first or last; saturation;
    hue; each step applied with probability 0.5 and followed by clipping to [0, 255]. Random
    numbers are drawn from ``np.random`` in exactly mmseg's order (the ``mode == 1`` branch of
    mmseg applies contrast first).
    """

    def __init__(
        self,
        brightness_delta: int = 32,
        contrast_range: Tuple[float, float] = (0.5, 1.5),
        saturation_range: Tuple[float, float] = (0.5, 1.5),
        hue_delta: int = 18,
        image_format: str = "RGB",
    ):
        """
        Args:
            brightness_delta (int): brightness shift drawn from U(-delta, delta).
            contrast_range (tuple[float, float]): contrast factor range.
            saturation_range (tuple[float, float]): saturation factor range.
            hue_delta (int): hue shift drawn from ``np.random.randint(-delta, delta)`` (as mmseg).
            image_format (str): channel order of the images, "RGB" or "BGR" (mmseg: BGR).
        """
        super().__init__()
        if image_format not in _HSV_CODES:
            raise NotImplementedError(
                f"PhotoMetricDistortion supports image_format 'RGB' or 'BGR', got {image_format!r}."
            )
        contrast_range = _check_pair("contrast_range", contrast_range, positive=False)
        saturation_range = _check_pair("saturation_range", saturation_range, positive=False)
        self._init(locals())

    def get_transform(self, image: np.ndarray) -> PhotoMetricDistortionTransform:
        rand = np.random
        brightness = contrast = saturation = hue = None
        if rand.randint(2):
            brightness = rand.uniform(-self.brightness_delta, self.brightness_delta)
        contrast_first = bool(rand.randint(2))  # mmseg: mode == 1 -> contrast first
        if contrast_first and rand.randint(2):
            contrast = rand.uniform(*self.contrast_range)
        if rand.randint(2):
            saturation = rand.uniform(*self.saturation_range)
        if rand.randint(2):
            hue = int(rand.randint(-self.hue_delta, self.hue_delta))
        if not contrast_first and rand.randint(2):
            contrast = rand.uniform(*self.contrast_range)
        return PhotoMetricDistortionTransform(
            brightness, contrast, contrast_first, saturation, hue, self.image_format
        )


class PadToSize(T.Augmentation):
    """Pad the bottom / right to at least ``size`` = (H, W), as mmseg's ``Pad(size=crop_size)``.

    Image pixels are filled with ``pad_value`` and label pixels with ``seg_pad_value`` (ignore).
    Images already at least as large are left unchanged.
    """

    def __init__(self, size: Tuple[int, int], pad_value: float = 0, seg_pad_value: int = 255):
        """
        Args:
            size (tuple[int, int]): target (H, W).
            pad_value (float): image fill value.
            seg_pad_value (int): segmentation fill value, usually the ignore label.
        """
        super().__init__()
        size = _check_pair("size", size)
        self._init(locals())

    def get_transform(self, image: np.ndarray) -> Transform:
        h, w = image.shape[:2]
        pad_h, pad_w = max(self.size[0] - h, 0), max(self.size[1] - w, 0)
        if pad_h == 0 and pad_w == 0:
            return NoOpTransform()
        return PadTransform(0, 0, pad_w, pad_h, w, h, self.pad_value, self.seg_pad_value)


def build_train_augmentations(
    crop_size: Optional[Tuple[int, int]],
    img_scale: Tuple[int, int],
    ratio_range: Optional[Tuple[float, float]] = (0.5, 2.0),
    cat_max_ratio: float = 0.75,
    ignore_label: int = 255,
    flip: bool = True,
    photometric: bool = True,
    image_format: str = "RGB",
    pad: bool = True,
) -> List[T.Augmentation]:
    """The paper's training augmentations (mmseg order): resize, crop, flip, color, pad.

    Args:
        crop_size (tuple[int, int] or None): (H, W) of the random crop and of the padding; None
            disables both.
        img_scale (tuple[int, int]): (long side max, short side max) of :class:`ResizeByScaleRatio`,
            e.g. (2048, 512) for ADE20K-512 / COCO-Stuff, (520, 520) for PASCAL-Context.
        ratio_range (tuple[float, float] or None): scale jitter range.
        cat_max_ratio (float): max area fraction of one class in the crop (1.0 disables the check).
        ignore_label (int): label excluded from the area check and used to pad labels.
        flip (bool): random horizontal flip with probability 0.5.
        photometric (bool): :class:`PhotoMetricDistortion` with mmseg defaults.
        image_format (str): channel order of the images ("RGB" or "BGR"), for the HSV conversion.
        pad (bool): pad image (0) and label (``ignore_label``) to ``crop_size``.
    """
    augs: List[T.Augmentation] = [ResizeByScaleRatio(img_scale, ratio_range)]
    if crop_size is not None:
        crop_size = _check_pair("crop_size", crop_size)
        augs.append(
            T.RandomCrop_CategoryAreaConstraint(
                "absolute",
                crop_size,
                single_category_max_area=cat_max_ratio,
                ignored_category=ignore_label,
            )
        )
    if flip:
        augs.append(T.RandomFlip(0.5, horizontal=True, vertical=False))
    if photometric:
        augs.append(PhotoMetricDistortion(image_format=image_format))
    if pad and crop_size is not None:
        augs.append(PadToSize(crop_size, pad_value=0, seg_pad_value=ignore_label))
    return augs


def build_test_augmentations(
    img_scale: Tuple[int, int], min_size: Optional[int] = None, ratio: float = 1.0
) -> List[Union[T.Augmentation, Transform]]:
    """The paper's test augmentations: a single keep-ratio :class:`TestResize` (no crop/flip/pad).

    Args:
        img_scale (tuple[int, int]): (2048, S) for ADE20K / COCO-Stuff, (520, 520) for
            PASCAL-Context.
        min_size (int or None): 512 for COCO-Stuff, 480 for PASCAL-Context, None for ADE20K.
        ratio (float): scale multiplier for multi-scale testing.
    """
    return [TestResize(img_scale, min_size=min_size, ratio=ratio)]
