"""datasets/prepare_ade20k.py on a tiny raw ADEChallengeData2016 tree built here."""

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from repo_scripts import load_script

REPO = Path(__file__).resolve().parents[2]


prep = load_script("datasets", "prepare_ade20k")

RAW = {
    "training": np.array([[0, 1, 2], [150, 37, 0]], dtype=np.uint8),
    "validation": np.array([[5, 0], [1, 150]], dtype=np.uint8),
}
EXPECTED = {
    "training": np.array([[255, 0, 1], [149, 36, 255]], dtype=np.uint8),
    "validation": np.array([[4, 255], [0, 149]], dtype=np.uint8),
}


def tree_digest(folder):
    """{relative path: sha1} of every file under ``folder``."""
    out = {}
    for dirpath, _, files in os.walk(folder):
        for f in files:
            path = os.path.join(dirpath, f)
            out[os.path.relpath(path, folder)] = hashlib.sha1(Path(path).read_bytes()).hexdigest()
    return out


@pytest.fixture
def ade_src(tmp_path):
    src = tmp_path / "ADEChallengeData2016"
    for split, label in RAW.items():
        (src / "images" / split).mkdir(parents=True)
        (src / "annotations" / split).mkdir(parents=True)
        h, w = label.shape
        Image.new("RGB", (w, h)).save(src / "images" / split / f"ADE_{split}_1.jpg")
        Image.fromarray(label).save(src / "annotations" / split / f"ADE_{split}_1.png")
    return src


def test_labels_are_shifted_and_zero_becomes_ignore(ade_src):
    counts = prep.convert(str(ade_src), progress=False)
    assert counts == {"training": 1, "validation": 1}
    for split, expected in EXPECTED.items():
        out = Image.open(ade_src / "annotations_detectron2" / split / f"ADE_{split}_1.png")
        assert out.mode == "L"
        np.testing.assert_array_equal(np.asarray(out), expected)


def test_raw_folders_are_not_modified(ade_src):
    before = {d: tree_digest(ade_src / d) for d in ("images", "annotations")}
    prep.convert(str(ade_src), progress=False)
    assert {d: tree_digest(ade_src / d) for d in ("images", "annotations")} == before
    assert sorted(os.listdir(ade_src)) == ["annotations", "annotations_detectron2", "images"]


def test_refuses_to_overwrite(ade_src):
    prep.convert(str(ade_src), progress=False)
    with pytest.raises(FileExistsError, match=r"ADE_training_1\.png.*--overwrite"):
        prep.convert(str(ade_src), progress=False)
    prep.convert(str(ade_src), overwrite=True, progress=False)


def test_missing_raw_folder_names_expected_tree(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        prep.convert(str(tmp_path / "ADEChallengeData2016"), progress=False)
    assert str(tmp_path / "ADEChallengeData2016" / "images" / "training") in str(e.value)
    assert "annotations/{training,validation}" in str(e.value)


def test_out_of_range_raw_value_names_file(ade_src):
    Image.fromarray(np.full((2, 2), 151, np.uint8)).save(
        ade_src / "annotations" / "validation" / "ADE_validation_1.png"
    )
    with pytest.raises(ValueError, match=r"ADE_validation_1\.png.*151"):
        prep.convert(str(ade_src), progress=False)


def test_cli_reads_root_from_env(ade_src, monkeypatch, capsys):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(ade_src.parent))
    assert prep.main([]) == 0
    assert (ade_src / "annotations_detectron2" / "validation" / "ADE_validation_1.png").is_file()
    assert prep.main([]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert prep.main(["--overwrite"]) == 0
    monkeypatch.setenv("DETECTRON2_DATASETS", str(ade_src))
    assert prep.main([]) == 1
    assert str(ade_src / "ADEChallengeData2016" / "images") in capsys.readouterr().err
