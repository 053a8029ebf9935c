"""Registration of the built-in datasets, the folder helper and label-value validation."""

import importlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image
from repo_scripts import load_script

import segvit.data.datasets.builtin as builtin
from segvit.data.datasets.folder import load_sem_seg_pairs, make_palette, register_folder_dataset
from segvit.data.datasets.pascal_context_classes import (
    PASCAL_CONTEXT_59_CLASSES,
    PASCAL_CONTEXT_459_IDS,
)
from segvit.data.datasets.validation import check_label_values

REPO = Path(__file__).resolve().parents[2]
NAMES = {
    "ade20k_sem_seg_train": 150,
    "ade20k_sem_seg_val": 150,
    "coco_stuff_10k_sem_seg_train": 171,
    "coco_stuff_10k_sem_seg_test": 171,
    "pascal_context_59_sem_seg_train": 59,
    "pascal_context_59_sem_seg_val": 59,
    "pascal_context_60_sem_seg_train": 60,
    "pascal_context_60_sem_seg_val": 60,
}
COMMANDS = {
    "ade20k_sem_seg_val": "python datasets/prepare_ade20k.py",
    "coco_stuff_10k_sem_seg_test": "python datasets/prepare_coco_stuff_10k.py",
    "pascal_context_59_sem_seg_val": "python datasets/prepare_pascal_context.py",
    "pascal_context_60_sem_seg_train": "python datasets/prepare_pascal_context.py",
}


@pytest.fixture
def root(tmp_path):
    """Register every built-in dataset under an empty tmp root; restore the default afterwards."""
    builtin.register_all(str(tmp_path))
    yield tmp_path
    builtin.register_all()


@pytest.mark.parametrize("name,num_classes", sorted(NAMES.items()))
def test_metadata(name, num_classes):
    meta = MetadataCatalog.get(name)
    assert len(meta.stuff_classes) == num_classes
    assert meta.ignore_label == 255 and meta.evaluator_type == "sem_seg"
    assert meta.image_root and meta.sem_seg_root
    if not name.startswith("ade20k"):  # Detectron2's ADE20K metadata has no colors
        assert len(meta.stuff_colors) == num_classes


def test_ade20k_keeps_detectron2_classes():
    from detectron2.data.datasets.builtin_meta import ADE20K_SEM_SEG_CATEGORIES

    assert MetadataCatalog.get("ade20k_sem_seg_val").stuff_classes == ADE20K_SEM_SEG_CATEGORIES
    assert MetadataCatalog.get("pascal_context_60_sem_seg_val").stuff_classes[0] == "background"
    pc59 = MetadataCatalog.get("pascal_context_59_sem_seg_val")
    assert pc59.stuff_classes[0] == "aeroplane" and pc59.stuff_classes[-1] == "wood"
    assert MetadataCatalog.get("coco_stuff_10k_sem_seg_train").stuff_classes[-1] == "wood"


def test_import_twice_is_harmless():
    importlib.reload(builtin)
    importlib.reload(builtin)
    assert all(name in DatasetCatalog.list() for name in NAMES)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_missing_folder_names_path_and_command(root, name):
    with pytest.raises(FileNotFoundError) as e:
        DatasetCatalog.get(name)
    assert str(Path(MetadataCatalog.get(name).sem_seg_root).resolve()) in str(e.value)
    assert str(root) in str(e.value) and COMMANDS[name] in str(e.value)


def test_prepared_datasets_load(root):
    """prepare_*.convert on tiny raw trees, then DatasetCatalog.get through the registration."""
    ade = root / "ADEChallengeData2016"
    for d in ("images/validation", "annotations/validation", "images/training"):
        (ade / d).mkdir(parents=True)
    Image.new("RGB", (3, 2)).save(ade / "images/validation/a.jpg")
    Image.fromarray(np.ones((2, 3), np.uint8)).save(ade / "annotations/validation/a.png")
    (ade / "annotations/training").mkdir()
    load_script("datasets", "prepare_ade20k").convert(str(ade), progress=False)

    coco = root / "cocostuff-10k-v1.1"
    for d in ("images", "annotations", "imageLists"):
        (coco / d).mkdir(parents=True)
    for split, stem in (("train", "c1"), ("test", "c2")):
        (coco / "imageLists" / f"{split}.txt").write_text(stem + "\n")
        Image.new("RGB", (3, 2)).save(coco / "images" / f"{stem}.jpg")
        scipy.io.savemat(coco / "annotations" / f"{stem}.mat", {"S": np.ones((2, 3), np.uint16)})
    load_script("datasets", "prepare_coco_stuff_10k").convert(str(coco), progress=False)

    voc = root / "VOCdevkit" / "VOC2010"
    for d in ("JPEGImages", "trainval", "ImageSets/SegmentationContext"):
        (voc / d).mkdir(parents=True)
    (voc / "labels.txt").write_text(
        "".join(f"{i}: {n}\n" for i, n in zip(PASCAL_CONTEXT_459_IDS, PASCAL_CONTEXT_59_CLASSES))
    )
    for split, stem in (("train", "p1"), ("val", "p2")):
        (voc / "ImageSets/SegmentationContext" / f"{split}.txt").write_text(stem + "\n")
        Image.new("RGB", (3, 2)).save(voc / "JPEGImages" / f"{stem}.jpg")
        scipy.io.savemat(
            voc / "trainval" / f"{stem}.mat", {"LabelMap": np.full((2, 3), 2, np.uint16)}
        )
    load_script("datasets", "prepare_pascal_context").convert(str(voc), progress=False)

    builtin.register_all(str(root))
    (record,) = DatasetCatalog.get("ade20k_sem_seg_val")
    assert record["file_name"] == str(ade / "images/validation/a.jpg")
    (record,) = DatasetCatalog.get("coco_stuff_10k_sem_seg_test")
    assert record["file_name"] == str(coco / "images/c2.jpg")
    assert record["sem_seg_file_name"] == str(coco / "annotations_detectron2/test/c2.png")
    assert np.asarray(Image.open(record["sem_seg_file_name"])).tolist() == [[0] * 3] * 2
    for n, value in ((59, 0), (60, 1)):  # 459-id 2 = aeroplane
        (record,) = DatasetCatalog.get(f"pascal_context_{n}_sem_seg_val")
        assert record["file_name"] == str(voc / "JPEGImages/p2.jpg")
        assert np.asarray(Image.open(record["sem_seg_file_name"])).tolist() == [[value] * 3] * 2


def test_coexists_with_mask2former_coco_stuff_registration():
    # maskformer2 is installed by `make setup`; load its registration file without importing
    # the whole package (which needs the compat fallback).
    package = importlib.util.find_spec("mask2former")
    assert package is not None, "maskformer2 is missing: run `make setup`"
    path = Path(package.origin).parent / "data/datasets/register_coco_stuff_10k.py"
    spec = importlib.util.spec_from_file_location("_m2f_register_coco_stuff_10k", path)
    theirs = ["coco_2017_train_stuff_10k_sem_seg", "coco_2017_test_stuff_10k_sem_seg"]
    if not any(n in DatasetCatalog.list() for n in theirs):
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
    try:
        importlib.reload(builtin)
        names = DatasetCatalog.list()
        assert all(n in names for n in theirs + ["coco_stuff_10k_sem_seg_train"])
    finally:
        for name in theirs:
            DatasetCatalog.pop(name, None)
            MetadataCatalog.pop(name, None)


def test_register_folder_dataset_end_to_end(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "lbl").mkdir()
    for stem in ("b", "a"):
        Image.new("RGB", (3, 2)).save(tmp_path / "img" / f"{stem}.jpg")
        Image.fromarray(np.zeros((2, 3), np.uint8)).save(tmp_path / "lbl" / f"{stem}.png")
    Image.new("RGB", (3, 2)).save(tmp_path / "img" / "no_label.jpg")
    register_folder_dataset(
        "_test_folder", str(tmp_path / "img"), str(tmp_path / "lbl"), ["x", "y"]
    )
    try:
        records = DatasetCatalog.get("_test_folder")
        assert [r["file_name"] for r in records] == [
            str(tmp_path / "img" / f"{s}.jpg") for s in "ab"
        ]
        assert records[0]["sem_seg_file_name"] == str(tmp_path / "lbl" / "a.png")
        meta = MetadataCatalog.get("_test_folder")
        assert meta.stuff_classes == ["x", "y"] and meta.stuff_colors == make_palette(2)
        assert meta.ignore_label == 255 and meta.evaluator_type == "sem_seg"
        # registering again replaces the dataset instead of crashing
        register_folder_dataset("_test_folder", str(tmp_path / "img"), str(tmp_path / "lbl"), ["x"])
        assert MetadataCatalog.get("_test_folder").stuff_classes == ["x"]
    finally:
        DatasetCatalog.remove("_test_folder")
        MetadataCatalog.remove("_test_folder")


def test_register_folder_dataset_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="ignore_label=1"):
        register_folder_dataset("_bad", str(tmp_path), str(tmp_path), ["a", "b"], ignore_label=1)
    with pytest.raises(ValueError, match="1 colors for 2 classes"):
        register_folder_dataset(
            "_bad", str(tmp_path), str(tmp_path), ["a", "b"], colors=[[0, 0, 0]]
        )
    with pytest.raises(FileNotFoundError, match="nope"):
        load_sem_seg_pairs(str(tmp_path), str(tmp_path / "nope"))


def test_check_label_values():
    check_label_values(np.array([[0, 4, 255]], np.uint8), 5, 255, "ok.png")
    with pytest.raises(ValueError, match=r"bad\.png.*value\(s\) 5, 7"):
        check_label_values(np.array([[0, 5, 255, 7]], np.uint8), 5, 255, "bad.png")
    with pytest.raises(ValueError, match="-1"):
        check_label_values(np.array([[-1, 0]], np.int32), 5, 255, "neg.png")


def test_make_palette_is_distinct_and_never_black():
    colors = make_palette(256)
    assert len({tuple(c) for c in colors}) == 256
    # a black class 0 (often the background) would darken a whole overlay
    assert [0, 0, 0] not in colors
