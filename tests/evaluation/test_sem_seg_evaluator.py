"""Detectron2's SemSegEvaluator on our data: perfect predictions and hand-computed confusions."""

import uuid

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import SemSegEvaluator
from PIL import Image

from segvit.data.synthetic import SYNTHETIC_CLASSES, generate_synthetic_dataset, register_synthetic


def _one_hot(label: np.ndarray, num_classes: int) -> torch.Tensor:
    """(H, W) class ids (255 allowed) -> (K, H, W) one-hot scores; ignored pixels predict 0."""
    label = torch.as_tensor(label.astype(np.int64))
    label = torch.where(label == 255, torch.zeros_like(label), label)
    return torch.nn.functional.one_hot(label, num_classes).permute(2, 0, 1).float()  # (K, H, W)


def _run(name, records, predict):
    evaluator = SemSegEvaluator(name, distributed=False, output_dir=None)
    evaluator.reset()
    for d in records:
        gt = np.asarray(Image.open(d["sem_seg_file_name"]))
        evaluator.process([{"file_name": d["file_name"]}], [{"sem_seg": predict(gt)}])
    return evaluator.evaluate()["sem_seg"]


@pytest.fixture(scope="module")
def synthetic_val(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("d2datasets") / "synthetic")
    generate_synthetic_dataset(root, num_train=1, num_val=6, seed=0)
    prefix = f"synthetic_evaltest_{uuid.uuid4().hex[:8]}"
    register_synthetic(root, name_prefix=prefix)
    yield f"{prefix}_val"
    for split in ("train", "val"):
        DatasetCatalog.remove(f"{prefix}_{split}")
        MetadataCatalog.remove(f"{prefix}_{split}")


@pytest.fixture
def tiny_dataset(tmp_path):
    """One 4x6 label map with known pixel counts, registered under a unique name."""
    label = np.array(
        [
            [0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 0],
            [1, 1, 1, 1, 1, 1],
            [2, 2, 2, 2, 255, 255],
        ],
        dtype=np.uint8,
    )  # class 0: 12 pixels, class 1: 6, class 2: 4, ignored: 2
    path = str(tmp_path / "gt.png")
    Image.fromarray(label).save(path)
    name = f"tiny_sem_seg_{uuid.uuid4().hex[:8]}"
    DatasetCatalog.register(name, lambda: [{"file_name": "img.jpg", "sem_seg_file_name": path}])
    MetadataCatalog.get(name).set(stuff_classes=["a", "b", "c"], ignore_label=255)
    yield name, DatasetCatalog.get(name)
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)


def test_ground_truth_gives_100(synthetic_val):
    records = DatasetCatalog.get(synthetic_val)
    metrics = _run(synthetic_val, records, lambda gt: _one_hot(gt, len(SYNTHETIC_CLASSES)))
    assert metrics["mIoU"] == pytest.approx(100.0)
    assert metrics["pACC"] == pytest.approx(100.0)


def test_hand_computed_confusion(tiny_dataset):
    """Predict class 0 wherever the truth is class 1; ignored pixels predict class 1."""
    name, records = tiny_dataset

    def predict(gt):
        pred = np.where(gt == 1, 0, gt)
        pred = np.where(gt == 255, 1, pred)  # must not count: the truth is ignored there
        return _one_hot(pred, 3)

    metrics = _run(name, records, predict)
    # IoU(a) = 12 / (12 + 6) = 2/3; IoU(b) = 0 / 6 = 0; IoU(c) = 4 / 4 = 1.
    assert metrics["IoU-a"] == pytest.approx(100 * 2 / 3)
    assert metrics["IoU-b"] == pytest.approx(0.0)
    assert metrics["IoU-c"] == pytest.approx(100.0)
    assert metrics["mIoU"] == pytest.approx(100 * (2 / 3 + 0 + 1) / 3)  # 55.56
    assert metrics["pACC"] == pytest.approx(100 * 16 / 22)  # 12 + 0 + 4 right of 22 labelled


def test_confusion_on_synthetic(synthetic_val):
    """Predict background wherever the truth is a disk; expected IoUs from pixel counts."""
    records = DatasetCatalog.get(synthetic_val)
    k = len(SYNTHETIC_CLASSES)
    disk = SYNTHETIC_CLASSES.index("disk")
    counts = np.zeros(256, dtype=np.int64)
    for d in records:
        counts += np.bincount(np.asarray(Image.open(d["sem_seg_file_name"])).ravel(), minlength=256)
    assert counts[0] > 0 and counts[disk] > 0

    metrics = _run(synthetic_val, records, lambda gt: _one_hot(np.where(gt == disk, 0, gt), k))
    present = [c for c in range(k) if counts[c] > 0]
    expected = {c: 1.0 for c in present}
    expected[0] = counts[0] / (counts[0] + counts[disk])  # bg predicted on bg + disk pixels
    expected[disk] = 0.0
    for c in present:
        assert metrics[f"IoU-{SYNTHETIC_CLASSES[c]}"] == pytest.approx(100 * expected[c])
    assert metrics["mIoU"] == pytest.approx(100 * np.mean([expected[c] for c in present]))
