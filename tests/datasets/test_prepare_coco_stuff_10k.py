"""datasets/prepare_coco_stuff_10k.py on tiny raw v1.0 and v1.1 trees built here."""

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image
from repo_scripts import load_script

REPO = Path(__file__).resolve().parents[2]


prep = load_script("datasets", "prepare_coco_stuff_10k")

# The same annotation in both layouts. v1.1: 0 = unlabeled, COCO-Stuff ids (13 = stop sign, the
# 12th used thing; 92 = banner, the first stuff; 182 = wood, the last; 12 and 91 are unused ids).
S_V11 = np.array([[0, 1, 11, 13], [92, 182, 12, 91]], dtype=np.uint16)
# v1.0: 1-based indices into 172 names: 1 = unlabeled, 2.. = the 171 used classes in order.
S_V10 = np.array([[1, 2, 12, 13], [82, 172, 1, 1]], dtype=np.uint16)
EXPECTED = np.array([[255, 0, 10, 11], [80, 170, 255, 255]], dtype=np.uint8)
NAMES = {
    "1.0": ["unlabeled"] + [f"class{i}" for i in range(171)],
    "1.1": ["person"] + [f"class{i}" for i in range(181)],
}
SPLITS = {"train": ["COCO_train2014_000000000077", "COCO_train2014_000000000078"], "test": ["t1"]}


def tree_digest(folder):
    out = {}
    for dirpath, _, files in os.walk(folder):
        for f in files:
            path = os.path.join(dirpath, f)
            out[os.path.relpath(path, folder)] = hashlib.sha1(Path(path).read_bytes()).hexdigest()
    return out


def make_raw(root, version, with_names=True, folder=None):
    src = root / (folder or f"cocostuff-10k-v{version}")
    for d in ("images", "annotations", "imageLists"):
        (src / d).mkdir(parents=True)
    S = S_V11 if version == "1.1" else S_V10
    for split, stems in SPLITS.items():
        (src / "imageLists" / f"{split}.txt").write_text("\n".join(stems) + "\n")
        for stem in stems:
            Image.new("RGB", (4, 2)).save(src / "images" / f"{stem}.jpg")
            mat = {"S": S, "captions": np.array(["a caption"], dtype=object)}
            if with_names:
                mat["names"] = np.array(NAMES[version], dtype=object)
            scipy.io.savemat(src / "annotations" / f"{stem}.mat", mat)
    return src


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_both_layouts_are_detected_and_give_the_same_labels(tmp_path, version):
    src = make_raw(tmp_path, version)
    summary = prep.convert(str(src), progress=False)
    assert summary == {"train": 2, "test": 1, "versions": {version: 3}}
    for split, stems in SPLITS.items():
        for stem in stems:
            out = Image.open(src / "annotations_detectron2" / split / f"{stem}.png")
            assert out.mode == "L"
            np.testing.assert_array_equal(np.asarray(out), EXPECTED)


def test_lookup_tables():
    lut11, lut10 = prep.build_lut("1.1"), prep.build_lut("1.0")
    assert (lut11 != 255).sum() == (lut10 != 255).sum() == 171
    assert lut11[0] == lut10[1] == 255 and lut11[182] == lut10[172] == 170


def test_version_from_folder_name_when_names_are_missing(tmp_path):
    src = make_raw(tmp_path, "1.0", with_names=False)
    assert prep.convert(str(src), progress=False)["versions"] == {"1.0": 3}
    out = Image.open(src / "annotations_detectron2" / "test" / "t1.png")
    np.testing.assert_array_equal(np.asarray(out), EXPECTED)


def test_undecidable_version_asks_for_flag(tmp_path):
    src = make_raw(tmp_path, "1.1", with_names=False, folder="cocostuff")
    with pytest.raises(ValueError, match="--version"):
        prep.convert(str(src), progress=False)
    assert prep.convert(str(src), version="1.1", overwrite=True, progress=False)["versions"]


def test_explicit_version_contradicting_names_fails(tmp_path):
    src = make_raw(tmp_path, "1.1")
    with pytest.raises(ValueError, match="not v1.0"):
        prep.convert(str(src), version="1.0", progress=False)


def test_raw_folders_are_not_modified(tmp_path):
    src = make_raw(tmp_path, "1.1")
    raw = ("images", "annotations", "imageLists")
    before = {d: tree_digest(src / d) for d in raw}
    prep.convert(str(src), progress=False)
    assert {d: tree_digest(src / d) for d in raw} == before
    assert sorted(os.listdir(src)) == sorted(raw + ("annotations_detectron2",))


def test_refuses_to_overwrite(tmp_path):
    src = make_raw(tmp_path, "1.1")
    prep.convert(str(src), progress=False)
    with pytest.raises(FileExistsError, match=r"\.png.*--overwrite"):
        prep.convert(str(src), progress=False)
    prep.convert(str(src), overwrite=True, progress=False)


def test_missing_raw_folder_names_expected_tree(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        prep.convert(str(tmp_path / "cocostuff-10k-v1.1"), progress=False)
    assert str(tmp_path / "cocostuff-10k-v1.1" / "images") in str(e.value)
    assert "imageLists/{train,test}.txt" in str(e.value)


def test_out_of_range_value_names_file(tmp_path):
    src = make_raw(tmp_path, "1.1")
    scipy.io.savemat(src / "annotations" / "t1.mat", {"S": np.array([[183]], np.uint16)})
    with pytest.raises(ValueError, match=r"t1\.mat.*183"):
        prep.convert(str(src), version="1.1", progress=False)


def test_cli_finds_v10_folder_under_env_root(tmp_path, monkeypatch):
    src = make_raw(tmp_path, "1.0")
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path))
    assert prep.main([]) == 0
    assert (src / "annotations_detectron2" / "train" / f"{SPLITS['train'][0]}.png").is_file()
