"""datasets/check.py (the dataset doctor) on tiny broken datasets built here."""

from pathlib import Path

import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image
from repo_scripts import load_script

import segvit.data.datasets.builtin as builtin
from segvit.data.datasets.folder import register_folder_dataset

REPO = Path(__file__).resolve().parents[2]


check = load_script("datasets", "check")
LABEL = np.array([[0, 1, 2], [3, 4, 255]], dtype=np.uint8)  # valid for 5 classes


def _pair(img_dir, lbl_dir, stem, image_size=(3, 2), label=LABEL):
    Image.new("RGB", image_size, (10, 20, 30)).save(img_dir / f"{stem}.jpg")
    if label is not None:
        (label if isinstance(label, Image.Image) else Image.fromarray(label)).save(
            lbl_dir / f"{stem}.png"
        )


@pytest.fixture
def broken(tmp_path):
    img, lbl = tmp_path / "img", tmp_path / "lbl"
    img.mkdir()
    lbl.mkdir()
    _pair(img, lbl, "good")
    _pair(img, lbl, "no_label", label=None)
    Image.fromarray(LABEL).save(lbl / "orphan.png")
    _pair(img, lbl, "size", image_size=(4, 3))
    _pair(img, lbl, "rgb", label=Image.new("RGB", (3, 2)))
    _pair(img, lbl, "palette", label=Image.fromarray(LABEL).convert("P"))
    _pair(img, lbl, "values", label=np.array([[0, 7, 5], [1, 255, 254]], np.uint8))
    _pair(img, lbl, "corrupt_image")
    (img / "corrupt_image.jpg").write_bytes(b"not a jpeg at all")
    _pair(img, lbl, "corrupt_label")
    (lbl / "corrupt_label.png").write_bytes(Path(lbl / "good.png").read_bytes()[:30])
    register_folder_dataset("_check_broken", str(img), str(lbl), [f"c{i}" for i in range(5)])
    yield tmp_path
    DatasetCatalog.remove("_check_broken")
    MetadataCatalog.remove("_check_broken")


def test_finds_every_kind_of_problem(broken):
    problems = check.check_dataset("_check_broken")
    found = {(p.kind, Path(p.file_name).name) for p in problems}
    assert found == {
        ("missing_label", "no_label.jpg"),
        ("missing_image", "orphan.png"),
        ("size_mismatch", "size.png"),
        ("label_mode", "rgb.png"),
        ("label_values", "values.png"),
        ("unreadable_image", "corrupt_image.jpg"),
        ("unreadable_label", "corrupt_label.png"),
    }
    (values,) = [p for p in problems if p.kind == "label_values"]
    assert "[5, 7, 254]" in values.message
    # A palette label is read as the loader reads it (its indices are the class ids): no problem.
    (rgb,) = [p for p in problems if p.kind == "label_mode"]
    assert "single-channel" in rgb.message


def test_cli_exit_codes(broken, tmp_path, capsys):
    assert check.main(["_check_broken"]) == 1
    out = capsys.readouterr().out
    assert "no_label.jpg" in out and "rgb.png" in out and "7 problem(s)" in out
    assert "palette.png" not in out
    img, lbl = tmp_path / "clean_img", tmp_path / "clean_lbl"
    img.mkdir()
    lbl.mkdir()
    _pair(img, lbl, "good")
    assert check.main(["--folder", str(img), str(lbl), "--num-classes", "5", "_clean"]) == 0
    assert "no problems" in capsys.readouterr().out
    DatasetCatalog.remove("_clean")
    MetadataCatalog.remove("_clean")


def test_split_list_datasets(tmp_path):
    """COCO-Stuff-like layout: shared image folder, split list, labels define the split."""
    base = tmp_path / "cocostuff-10k-v1.1"
    img, lbl = base / "images", base / "annotations_detectron2" / "test"
    img.mkdir(parents=True)
    lbl.mkdir(parents=True)
    (base / "imageLists").mkdir()
    (base / "imageLists" / "test.txt").write_text("a\nb\nc\n")
    _pair(img, lbl, "a")
    _pair(img, lbl, "b", label=None)  # listed, no label
    Image.fromarray(LABEL).save(lbl / "c.png")  # label, no image
    _pair(img, lbl, "train_only", label=None)  # another split's image: not a problem
    builtin.register_all(str(tmp_path))
    try:
        problems = check.check_dataset("coco_stuff_10k_sem_seg_test")
        assert {(p.kind, Path(p.file_name).name) for p in problems} == {
            ("missing_label", "b.jpg"),
            ("missing_image", "c.png"),
        }
        (error,) = check.check_dataset("pascal_context_59_sem_seg_val")
        assert error.kind == "dataset_error" and "prepare_pascal_context.py" in error.message
    finally:
        builtin.register_all()


def test_unregistered_name():
    (problem,) = check.check_dataset("_no_such_dataset")
    assert problem.kind == "dataset_error"


def test_more_classes_than_a_label_png_holds_says_so(tmp_path, capsys):
    (tmp_path / "img").mkdir()
    (tmp_path / "lbl").mkdir()
    argv = ["--folder", str(tmp_path / "img"), str(tmp_path / "lbl"), "--num-classes", "300"]
    with pytest.raises(SystemExit):
        check.main(argv)
    err = capsys.readouterr().err
    assert "--num-classes 300" in err and "1..255" in err and "e.g. 255" not in err
    with pytest.raises(ValueError, match="300 classes do not fit 8-bit label PNGs"):
        register_folder_dataset("_too_many", str(tmp_path), str(tmp_path), range(300))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img", "lbl"]
