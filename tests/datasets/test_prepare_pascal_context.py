"""datasets/prepare_pascal_context.py on a tiny raw VOC2010 + PASCAL-Context tree built here."""

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image
from repo_scripts import load_script

REPO = Path(__file__).resolve().parents[2]


prep = load_script("datasets", "prepare_pascal_context")

# 459-ids of a few of the 59 classes in the official labels.txt (alphabetical, 1-based).
STANDARD = {2: "aeroplane", 9: "bag", 397: "table", 427: "tvmonitor", 458: "wood"}
# Raw LabelMap: 0 = unlabeled, 5 and 459 are classes outside the 59.
LABEL_MAP = np.array([[0, 2, 427, 5], [458, 397, 459, 9]], dtype=np.uint16)
EXPECTED_60 = np.array([[0, 1, 55, 0], [59, 50, 0, 2]], dtype=np.uint8)
EXPECTED_59 = np.array([[255, 0, 54, 255], [58, 49, 255, 1]], dtype=np.uint8)
SPLITS = {"train": ["2008_000002", "2008_000003"], "val": ["2008_000007"]}


def labels_txt(renames=None):
    """A 459-line labels.txt with the 59 names at their standard ids and fillers elsewhere."""
    from segvit.data.datasets.pascal_context_classes import (
        PASCAL_CONTEXT_59_CLASSES,
        PASCAL_CONTEXT_459_IDS,
    )

    names = {i: f"other{i}" for i in range(1, 460)}
    names.update(zip(PASCAL_CONTEXT_459_IDS, PASCAL_CONTEXT_59_CLASSES))
    assert all(names[i] == n for i, n in STANDARD.items())
    names.update(renames or {})
    return "".join(f"{i}: {n}\n" for i, n in sorted(names.items()))


def tree_digest(folder):
    out = {}
    for dirpath, _, files in os.walk(folder):
        for f in files:
            path = os.path.join(dirpath, f)
            out[os.path.relpath(path, folder)] = hashlib.sha1(Path(path).read_bytes()).hexdigest()
    return out


def make_raw(root, renames=None, split_dir="SegmentationContext"):
    src = root / "VOCdevkit" / "VOC2010"
    for d in ("JPEGImages", "trainval", f"ImageSets/{split_dir}"):
        (src / d).mkdir(parents=True)
    (src / "labels.txt").write_text(labels_txt(renames))
    for split, stems in SPLITS.items():
        (src / "ImageSets" / split_dir / f"{split}.txt").write_text("\n".join(stems) + "\n")
        for stem in stems:
            Image.new("RGB", (4, 2)).save(src / "JPEGImages" / f"{stem}.jpg")
            scipy.io.savemat(src / "trainval" / f"{stem}.mat", {"LabelMap": LABEL_MAP})
    Image.new("RGB", (4, 2)).save(src / "JPEGImages" / "2008_000099.jpg")  # VOC-only image
    return src


def check_outputs(src):
    for split, stems in SPLITS.items():
        for stem in stems:
            for n, expected in ((60, EXPECTED_60), (59, EXPECTED_59)):
                out = Image.open(src / "annotations_detectron2" / f"pc{n}" / split / f"{stem}.png")
                assert out.mode == "L"
                np.testing.assert_array_equal(np.asarray(out), expected)


def test_59_and_60_class_labels(tmp_path):
    src = make_raw(tmp_path)
    assert prep.convert(str(src), progress=False) == {"train": 2, "val": 1}
    check_outputs(src)


def test_aliases_in_labels_txt(tmp_path):
    src = make_raw(tmp_path, renames={427: "tv monitor", 397: "diningtable", 2: "airplane"})
    prep.convert(str(src), progress=False)
    check_outputs(src)


def test_canonical_name_wins_over_alias():
    labels = {i: f"other{i}" for i in range(1, 460)}
    labels.update(
        {i: n for i, n in zip(prep.PASCAL_CONTEXT_459_IDS, prep.PASCAL_CONTEXT_59_CLASSES)}
    )
    labels[100] = "diningtable"
    assert prep.find_59_ids(labels)[49] == 397


def test_missing_class_is_named(tmp_path):
    src = make_raw(tmp_path, renames={458: "timber"})
    with pytest.raises(ValueError, match="wood"):
        prep.convert(str(src), progress=False)


def test_voc_main_split_source(tmp_path):
    src = make_raw(tmp_path, split_dir="Main")
    (src / "ImageSets" / "Main" / "train.txt").write_text("2008_000002\n2008_000003\n2008_000099\n")
    assert prep.convert(str(src), split_source="voc-main", progress=False) == {"train": 2, "val": 1}
    check_outputs(src)


def test_raw_folders_are_not_modified(tmp_path):
    src = make_raw(tmp_path)
    raw = ("JPEGImages", "trainval", "ImageSets")
    before = {d: tree_digest(src / d) for d in raw}
    prep.convert(str(src), progress=False)
    assert {d: tree_digest(src / d) for d in raw} == before
    assert sorted(os.listdir(src)) == sorted(raw + ("annotations_detectron2", "labels.txt"))


def test_refuses_to_overwrite(tmp_path):
    src = make_raw(tmp_path)
    prep.convert(str(src), progress=False)
    with pytest.raises(FileExistsError, match=r"2008_000002\.png.*--overwrite"):
        prep.convert(str(src), progress=False)
    prep.convert(str(src), overwrite=True, progress=False)


def test_missing_raw_folder_and_split_list(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        prep.convert(str(tmp_path / "VOCdevkit" / "VOC2010"), progress=False)
    assert str(tmp_path / "VOCdevkit" / "VOC2010" / "JPEGImages") in str(e.value)
    assert "ImageSets/SegmentationContext/{train,val}.txt" in str(e.value)
    src = make_raw(tmp_path)
    os.remove(src / "ImageSets" / "SegmentationContext" / "val.txt")
    with pytest.raises(FileNotFoundError, match=r"SegmentationContext.val\.txt"):
        prep.convert(str(src), progress=False)


def test_value_outside_labels_txt_names_file(tmp_path):
    src = make_raw(tmp_path)
    scipy.io.savemat(
        src / "trainval" / "2008_000007.mat", {"LabelMap": np.array([[460]], np.uint16)}
    )
    with pytest.raises(ValueError, match=r"2008_000007\.mat.*460"):
        prep.convert(str(src), progress=False)


def test_cli_reads_root_from_env(tmp_path, monkeypatch):
    src = make_raw(tmp_path)
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    assert prep.main([]) == 0
    check_outputs(src)
