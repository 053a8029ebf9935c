"""SemSegDatasetMapper end to end on tiny image / label files."""

import numpy as np
import pytest
import torch
from detectron2.config import LazyCall as L
from detectron2.config import LazyConfig, get_cfg, instantiate
from omegaconf import OmegaConf
from PIL import Image

from segvit.data.dataset_mapper import SemSegDatasetMapper
from segvit.data.transforms import build_test_augmentations, build_train_augmentations

H, W = 40, 56  # non-square on purpose


def _write_pair(tmp_path, label=None, name="a"):
    rng = np.random.RandomState(0)
    image = rng.randint(0, 256, (H, W, 3), dtype=np.uint8)
    if label is None:
        label = rng.randint(0, 5, (H, W), dtype=np.uint8)
        label[:4] = 255
    image_file, label_file = tmp_path / f"{name}.png", tmp_path / f"{name}_label.png"
    Image.fromarray(image).save(image_file)
    Image.fromarray(label).save(label_file)
    record = {"file_name": str(image_file), "sem_seg_file_name": str(label_file), "image_id": name}
    return record, image, label


def _train_mapper(**kwargs):
    augs = build_train_augmentations(crop_size=(32, 32), img_scale=(112, 40))
    return SemSegDatasetMapper(True, augmentations=augs, num_classes=5, **kwargs)


def test_train_mode(tmp_path):
    record, _, _ = _write_pair(tmp_path)
    out = _train_mapper()(record)
    assert out["file_name"] == record["file_name"] and out["image_id"] == "a"
    assert (out["height"], out["width"]) == (H, W)  # original size
    assert out["image"].shape == (3, 32, 32) and out["image"].dtype == torch.uint8
    assert out["sem_seg"].shape == (32, 32) and out["sem_seg"].dtype == torch.int64
    assert set(out["sem_seg"].unique().tolist()) <= {0, 1, 2, 3, 4, 255}
    assert "sem_seg_file_name" not in out and "sem_seg_file_name" in record  # input untouched


def test_test_mode_keeps_original_size(tmp_path):
    record, image, label = _write_pair(tmp_path)
    record["height"], record["width"] = H, W
    # f = min(112 / 56, 80 / 40) = 2 -> (80, 112)
    mapper = SemSegDatasetMapper(False, augmentations=build_test_augmentations((112, 80)))
    out = mapper(record)
    assert (out["height"], out["width"]) == (H, W)
    assert out["image"].shape == (3, 80, 112) and out["sem_seg"].shape == (80, 112)
    # Nearest-neighbour x2 of the label is exact.
    np.testing.assert_array_equal(out["sem_seg"][::2, ::2].numpy(), label)

    identity = SemSegDatasetMapper(False, augmentations=[], size_divisibility_pad=(64, 64))
    out = identity(record)  # no padding at test time
    np.testing.assert_array_equal(out["image"].permute(1, 2, 0).numpy(), image)
    bgr = SemSegDatasetMapper(False, augmentations=[], image_format="BGR")(record)
    assert torch.equal(bgr["image"], out["image"].flip(0))


def test_pad_in_mapper(tmp_path):
    record, image, label = _write_pair(tmp_path)
    out = SemSegDatasetMapper(True, augmentations=[], size_divisibility_pad=(48, 64))(record)
    assert out["image"].shape == (3, 48, 64) and out["sem_seg"].shape == (48, 64)
    assert (out["sem_seg"][H:] == 255).all() and (out["sem_seg"][:, W:] == 255).all()
    assert (out["image"][:, H:] == 0).all() and (out["image"][:, :, W:] == 0).all()
    np.testing.assert_array_equal(out["sem_seg"][:H, :W].numpy(), label)


def test_record_without_label(tmp_path):
    record, _, _ = _write_pair(tmp_path)
    del record["sem_seg_file_name"]
    out = SemSegDatasetMapper(False, augmentations=build_test_augmentations((112, 80)))(record)
    assert "sem_seg" not in out and out["image"].shape == (3, 80, 112)


def test_palette_label_reads_indices(tmp_path):
    record, _, label = _write_pair(tmp_path)
    pal = Image.fromarray(label, mode="P")
    pal.putpalette([255 - (i % 256) for i in range(768)])  # colors differ from indices
    pal.save(record["sem_seg_file_name"])
    out = SemSegDatasetMapper(False, augmentations=[], num_classes=5)(record)
    np.testing.assert_array_equal(out["sem_seg"].numpy(), label)


def test_deterministic_under_seed(tmp_path):
    record, _, _ = _write_pair(tmp_path)
    mapper = _train_mapper()

    def run(seed):
        np.random.seed(seed)
        return mapper(record)

    a, b = run(123), run(123)
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["sem_seg"], b["sem_seg"])
    others = [run(seed) for seed in (1, 2, 3)]
    assert any(not torch.equal(a["image"], o["image"]) for o in others)


def test_corrupt_image(tmp_path):
    record, _, _ = _write_pair(tmp_path)
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(b"this is not an image")
    record["file_name"] = str(bad)
    with pytest.raises(ValueError, match="corrupt.jpg"):
        _train_mapper()(record)


def test_size_mismatch(tmp_path):
    record, _, _ = _write_pair(tmp_path)
    Image.fromarray(np.zeros((H, W - 6), np.uint8)).save(record["sem_seg_file_name"])
    with pytest.raises(ValueError) as err:
        _train_mapper()(record)
    msg = str(err.value)
    assert "a.png" in msg and "a_label.png" in msg and "(40, 50)" in msg and "(40, 56)" in msg


def test_bad_label_value(tmp_path):
    label = np.zeros((H, W), np.uint8)
    label[3, 5], label[0, 0] = 7, 255  # 255 is the ignore label and allowed
    record, _, _ = _write_pair(tmp_path, label=label)
    with pytest.raises(ValueError, match=r"a_label\.png contains value\(s\) 7,? "):
        _train_mapper()(record)
    SemSegDatasetMapper(False, augmentations=[], num_classes=8)(record)  # fine with 8 classes


def test_from_config(tmp_path):
    record, _, _ = _write_pair(tmp_path)
    cfg = get_cfg()
    cfg.INPUT.CROP.ENABLED = True
    with pytest.raises(NotImplementedError, match="relative_range"):  # Detectron2's default
        SemSegDatasetMapper(cfg, is_train=True)
    cfg.INPUT.CROP.TYPE, cfg.INPUT.CROP.SIZE = "absolute", (32, 32)
    cfg.INPUT.MIN_SIZE_TRAIN, cfg.INPUT.MAX_SIZE_TRAIN = (40,), 112
    cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST = 80, 112
    cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = 5
    train = SemSegDatasetMapper(cfg, is_train=True)
    assert len(train.augmentations.augs) == 5 and train.num_classes == 5
    assert train(record)["image"].shape == (3, 32, 32)
    test = SemSegDatasetMapper(cfg, is_train=False)
    assert test(record)["image"].shape == (3, 80, 112)


def test_lazy_config_round_trip(tmp_path):
    record, _, _ = _write_pair(tmp_path)
    cfg = OmegaConf.create(
        {
            "mapper": L(SemSegDatasetMapper)(
                is_train=True,
                augmentations=L(build_train_augmentations)(crop_size=(32, 32), img_scale=(112, 40)),
                num_classes=5,
            )
        }
    )
    LazyConfig.save(cfg, str(tmp_path / "cfg.yaml"))
    mapper = instantiate(LazyConfig.load(str(tmp_path / "cfg.yaml")).mapper)
    assert mapper(record)["sem_seg"].shape == (32, 32)
