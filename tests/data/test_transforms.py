"""Augmentations of the paper's (mmseg 0.24) pipeline: resize rules, crop cap, flip, color, pad."""

import cv2
import numpy as np
import pytest
from detectron2.data import transforms as T
from PIL import Image

from segvit.data import transforms as ST


def _augment(augs, image, sem_seg):
    aug_input = T.AugInput(image.copy(), sem_seg=sem_seg.copy())
    tfms = T.AugmentationList(augs)(aug_input)
    return aug_input.image, aug_input.sem_seg, tfms


def _max_class_fraction(crop, ignore=255):
    labels, cnt = np.unique(crop, return_counts=True)
    cnt = cnt[labels != ignore]
    return cnt.max() / cnt.sum() if cnt.size > 1 else 1.0


# ----------------------------------------------------------------------------- resize (train)
@pytest.mark.parametrize(
    "hw, img_scale, expected",
    [
        ((300, 500), (2048, 512), (512, 853)),  # short side binds: f = 512 / 300
        ((100, 1000), (2048, 512), (205, 2048)),  # long side cap binds: f = 2048 / 1000
        ((1000, 100), (2048, 512), (2048, 205)),  # portrait, same rule
        ((375, 500), (520, 520), (390, 520)),  # PASCAL-Context training: LONG side 520
        ((300, 500), (512, 2048), (512, 853)),  # order of img_scale does not matter
    ],
)
def test_rescale_size_rule(hw, img_scale, expected):
    assert ST.rescale_size(*hw, img_scale) == expected
    aug = ST.ResizeByScaleRatio(img_scale, ratio_range=None)  # r = 1
    tfm = aug.get_transform(np.zeros((*hw, 3), np.uint8))
    assert isinstance(tfm, T.ResizeTransform)
    assert (tfm.new_h, tfm.new_w) == expected and tfm.interp == Image.BILINEAR


def test_resize_ratio_range_short_side():
    # Short side binds for this (60, 80) image: new_h = int(60 r), r ~ U(0.5, 2.0).
    aug = ST.ResizeByScaleRatio((2048, 60), ratio_range=(0.5, 2.0))
    image = np.zeros((60, 80, 3), np.uint8)
    sizes = np.array([(t.new_h, t.new_w) for t in (aug.get_transform(image) for _ in range(300))])
    assert sizes[:, 0].min() >= 30 and sizes[:, 0].max() <= 120
    assert sizes[:, 0].min() <= 33 and sizes[:, 0].max() >= 115  # the whole range is used
    np.testing.assert_allclose(sizes[:, 1] / sizes[:, 0], 80 / 60, atol=0.03)  # keeps aspect


def test_resize_ratio_matches_mmseg_draw():
    # mmseg: r = random_sample() * (hi - lo) + lo; scale = (int(L r), int(S r)); mmcv rescale.
    aug = ST.ResizeByScaleRatio((100, 50), ratio_range=(0.5, 2.0))
    image = np.zeros((10, 200, 3), np.uint8)  # long side cap binds
    for seed in range(20):
        np.random.seed(seed)
        r = np.random.random_sample() * 1.5 + 0.5
        np.random.seed(seed)
        tfm = aug.get_transform(image)
        assert tfm.new_w == int(200 * (int(100 * r) / 200) + 0.5) == int(100 * r)
        assert tfm.new_w <= 100 * r and tfm.new_h == int(10 * int(100 * r) / 200 + 0.5)


def test_resize_label_nearest():
    label = np.random.choice(np.array([0, 3, 255], np.uint8), size=(13, 17))
    aug = ST.ResizeByScaleRatio((40, 30), ratio_range=(0.5, 2.0))
    _, out, _ = _augment([aug], np.zeros((13, 17, 3), np.uint8), label)
    assert set(np.unique(out)) <= {0, 3, 255}


def test_invalid_arguments():
    with pytest.raises(ValueError, match="ratio_range"):
        ST.ResizeByScaleRatio((2048, 512), ratio_range=(2.0, 0.5))
    with pytest.raises(ValueError, match="img_scale"):
        ST.TestResize((512,))
    with pytest.raises(NotImplementedError, match="YUV"):
        ST.PhotoMetricDistortion(image_format="YUV-BT.601")


# ----------------------------------------------------------------------------- resize (test)
@pytest.mark.parametrize(
    "hw, img_scale, min_size, ratio, expected",
    [
        ((384, 512), (2048, 512), None, 1.0, (512, 683)),  # ADE20K: short side 512
        ((100, 1000), (2048, 512), None, 1.0, (205, 2048)),  # ADE20K: long cap binds
        ((512, 683), (2048, 640), None, 1.0, (640, 854)),  # ADE20K-640
        ((480, 640), (2048, 512), 512, 1.0, (512, 683)),  # COCO-Stuff: short 512
        ((100, 1000), (2048, 512), 512, 1.0, (512, 5120)),  # COCO-Stuff: min_size lifts the cap
        ((375, 500), (520, 520), 480, 1.0, (520, 693)),  # PC: SHORT side 520 (not long side)
        ((500, 375), (520, 520), 480, 1.0, (693, 520)),  # PC portrait
        ((375, 500), (520, 520), 480, 0.5, (480, 640)),  # PC ms-test ratio 0.5 clamped to 480
        ((375, 500), (520, 520), 480, 1.5, (780, 1040)),  # PC ms-test ratio 1.5: short 780
        ((375, 500), (520, 520), None, 1.0, (390, 520)),  # no min_size: fit inside 520x520
    ],
)
def test_test_resize_rules(hw, img_scale, min_size, ratio, expected):
    aug = ST.TestResize(img_scale, min_size=min_size, ratio=ratio)
    assert aug.get_output_size(*hw) == expected


def test_test_resize_applies_to_image_and_label():
    image = np.random.randint(0, 256, (30, 40, 3), dtype=np.uint8)
    label = np.random.randint(0, 4, (30, 40), dtype=np.uint8)
    (aug,) = ST.build_test_augmentations((100, 45), min_size=None)
    out_img, out_lab, _ = _augment([aug], image, label)
    assert out_img.shape == (45, 60, 3) and out_lab.shape == (45, 60)


# ----------------------------------------------------------------------------- crop
def _dominated_label():
    # Class 0 covers 2/3 of the non-ignored area; one third of 24x24 crops exceed the 0.75 cap,
    # and ignoring 255 matters (counting it would make 84% of crops valid instead of 66%).
    label = np.zeros((48, 64), np.uint8)
    label[:, 24:40] = 1
    label[:16, :] = 255
    return label


@pytest.mark.parametrize("cat_max_ratio, max_invalid_rate", [(0.75, 0.0), (1.0, 1.0)])
def test_crop_category_area_constraint(cat_max_ratio, max_invalid_rate):
    label = _dominated_label()
    valid = [
        _max_class_fraction(label[y : y + 24, x : x + 24]) < 0.75
        for y in range(48 - 24 + 1)
        for x in range(64 - 24 + 1)
    ]
    assert 0.5 < np.mean(valid) < 0.8  # a valid crop exists, but not everywhere
    aug = T.RandomCrop_CategoryAreaConstraint(
        "absolute", (24, 24), single_category_max_area=cat_max_ratio, ignored_category=255
    )
    invalid = 0
    for _ in range(300):
        tfm = aug.get_transform(np.zeros((48, 64, 3), np.uint8), label)
        crop = tfm.apply_segmentation(label)
        assert crop.shape == (24, 24)
        invalid += _max_class_fraction(crop) >= 0.75
    assert invalid / 300 <= max_invalid_rate
    if cat_max_ratio >= 1.0:
        assert invalid / 300 > 0.2  # without the cap about a third of the crops are dominated


# ----------------------------------------------------------------------------- pad, flip
def test_pad_small_image_to_crop_size():
    image = np.random.randint(1, 256, (20, 30, 3), dtype=np.uint8)
    label = np.random.randint(0, 5, (20, 30), dtype=np.uint8)
    augs = ST.build_train_augmentations(
        crop_size=(32, 48), img_scale=(30, 20), ratio_range=None, photometric=False
    )
    for _ in range(10):
        out_img, out_lab, _ = _augment(augs, image, label)
        assert out_img.shape == (32, 48, 3) and out_lab.shape == (32, 48)
        assert (out_lab[20:] == 255).all() and (out_lab[:, 30:] == 255).all()
        assert (out_img[20:] == 0).all() and (out_img[:, 30:] == 0).all()
        content = out_lab[:20, :30]
        assert (content == label).all() or (content == label[:, ::-1]).all()


def test_pad_to_size_noop_when_large_enough():
    tfm = ST.PadToSize((8, 8)).get_transform(np.zeros((10, 12, 3), np.uint8))
    assert tfm.apply_image(np.ones((10, 12, 3), np.uint8)).shape == (10, 12, 3)


def test_flip_image_and_label_together():
    label = np.random.randint(0, 5, (16, 24), dtype=np.uint8)
    image = np.repeat((label * 40)[:, :, None], 3, axis=2)  # image encodes the label
    augs = ST.build_train_augmentations(
        crop_size=(16, 24), img_scale=(24, 16), ratio_range=None, photometric=False
    )
    flipped = 0
    for _ in range(20):
        out_img, out_lab, _ = _augment(augs, image, label)
        assert (out_img[:, :, 0] == out_lab * 40).all()
        flipped += bool((out_lab == label[:, ::-1]).all() and not (out_lab == label).all())
    assert 0 < flipped < 20


# ----------------------------------------------------------------------------- photometric
def _mmseg_photometric_bgr(img):
    """mmseg 0.24 ``PhotoMetricDistortion.__call__`` on a BGR uint8 image (reference)."""

    def convert(x, alpha=1, beta=0):
        return np.clip(x.astype(np.float32) * alpha + beta, 0, 255).astype(np.uint8)

    def contrast(x):
        return convert(x, alpha=np.random.uniform(0.5, 1.5)) if np.random.randint(2) else x

    if np.random.randint(2):
        img = convert(img, beta=np.random.uniform(-32, 32))
    mode = np.random.randint(2)
    if mode == 1:
        img = contrast(img)
    if np.random.randint(2):
        img = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
        img[:, :, 1] = convert(img[:, :, 1], alpha=np.random.uniform(0.5, 1.5))
        img = cv2.cvtColor(img, cv2.COLOR_HSV2BGR)
    if np.random.randint(2):
        img = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
        img[:, :, 0] = (img[:, :, 0].astype(int) + np.random.randint(-18, 18)) % 180
        img = cv2.cvtColor(img, cv2.COLOR_HSV2BGR)
    if mode == 0:
        img = contrast(img)
    return img


def test_photometric_matches_mmseg_reference():
    image = np.random.randint(0, 256, (12, 10, 3), dtype=np.uint8)
    aug = ST.PhotoMetricDistortion(image_format="BGR")
    for seed in range(30):
        np.random.seed(seed)
        expected = _mmseg_photometric_bgr(image.copy())
        state_after_reference = np.random.random_sample()
        np.random.seed(seed)
        out = aug.get_transform(image).apply_image(image.copy())
        np.testing.assert_array_equal(out, expected)
        assert np.random.random_sample() == state_after_reference  # same number of draws


def test_photometric_rgb_equals_bgr_on_reversed_channels():
    image = np.random.randint(0, 256, (9, 11, 3), dtype=np.uint8)
    kwargs = dict(brightness=10.0, contrast=1.3, contrast_first=False, saturation=0.7, hue=7)
    rgb = ST.PhotoMetricDistortionTransform(**kwargs, image_format="RGB").apply_image(image)
    bgr = ST.PhotoMetricDistortionTransform(**kwargs, image_format="BGR").apply_image(
        np.ascontiguousarray(image[:, :, ::-1])
    )
    np.testing.assert_array_equal(rgb, bgr[:, :, ::-1])


def test_photometric_clips_and_keeps_label():
    bright = ST.PhotoMetricDistortionTransform(brightness=32.0)
    dark = ST.PhotoMetricDistortionTransform(brightness=-32.0)
    assert (bright.apply_image(np.full((2, 2, 3), 250, np.uint8)) == 255).all()
    assert (dark.apply_image(np.full((2, 2, 3), 10, np.uint8)) == 0).all()

    image = np.random.randint(0, 256, (16, 16, 3), dtype=np.uint8)
    label = np.random.randint(0, 5, (16, 16), dtype=np.uint8)
    aug = ST.PhotoMetricDistortion()
    changed = 0
    for _ in range(20):
        out_img, out_lab, _ = _augment([aug], image, label)
        assert out_img.dtype == np.uint8 and out_img.shape == image.shape
        np.testing.assert_array_equal(out_lab, label)
        changed += not np.array_equal(out_img, image)
    assert changed > 10


def test_builders_are_plain_functions():
    train = ST.build_train_augmentations(crop_size=(512, 512), img_scale=(2048, 512))
    kinds = [type(a).__name__ for a in train]
    assert kinds == [
        "ResizeByScaleRatio",
        "RandomCrop_CategoryAreaConstraint",
        "RandomFlip",
        "PhotoMetricDistortion",
        "PadToSize",
    ]
    assert train[1].single_category_max_area == 0.75 and train[1].ignored_category == 255
    no_crop = ST.build_train_augmentations(crop_size=None, img_scale=(2048, 512), flip=False)
    assert [type(a).__name__ for a in no_crop] == ["ResizeByScaleRatio", "PhotoMetricDistortion"]
    (test,) = ST.build_test_augmentations((520, 520), min_size=480)
    assert isinstance(test, ST.TestResize) and test.min_size == 480
