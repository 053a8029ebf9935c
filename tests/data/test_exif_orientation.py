"""Phone photos (issue 13, case 4): an EXIF orientation tag is ignored for image and label alike,
so pairs stay aligned, and the dataset doctor lists tagged images. Square and non-square."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.detection_utils import read_image
from PIL import Image
from repo_scripts import load_script

from segvit.data.dataset_mapper import SemSegDatasetMapper
from segvit.data.datasets.folder import register_folder_dataset
from segvit.data.image_io import EXIF_ORIENTATION

check = load_script("datasets", "check")


def _tagged_pair(folder: Path, stem: str, size):
    """A JPEG tagged "turn 90 degrees" whose stored left half is bright, and its label
    (class 1 on the left half, 0 on the right) aligned with the stored pixels."""
    w, h = size
    pixels = np.zeros((h, w, 3), np.uint8)
    pixels[:, : w // 2] = 230
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    Image.fromarray(pixels).save(folder / "img" / f"{stem}.jpg", exif=exif, quality=95)
    label = np.zeros((h, w), np.uint8)
    label[:, : w // 2] = 1
    Image.fromarray(label).save(folder / "lbl" / f"{stem}.png")


@pytest.fixture
def photos(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "lbl").mkdir()
    _tagged_pair(tmp_path, "square", (32, 32))
    _tagged_pair(tmp_path, "wide", (48, 32))
    return tmp_path


def digests(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*.*")}


@pytest.mark.parametrize("stem", ["square", "wide"])
def test_image_and_label_stay_aligned(photos, stem):
    before = digests(photos)
    image_file = str(photos / "img" / f"{stem}.jpg")
    # Detectron2's reader turns the image (the misaligned pairs this rule prevents).
    assert read_image(image_file, "RGB")[0, -1].mean() > 128
    mapper = SemSegDatasetMapper(is_train=False, augmentations=[], num_classes=2)
    out = mapper(
        {"file_name": image_file, "sem_seg_file_name": str(photos / "lbl" / f"{stem}.png")}
    )
    image, label = out["image"].numpy().mean(0), out["sem_seg"].numpy()
    assert image.shape == label.shape == ((32, 32) if stem == "square" else (32, 48))
    assert (image[label == 1] > 128).all() and (image[label == 0] < 128).all()
    assert digests(photos) == before


def test_doctor_lists_tagged_images_as_a_warning(photos, capsys):
    register_folder_dataset("_exif_photos", str(photos / "img"), str(photos / "lbl"), ["a", "b"])
    try:
        problems = check.check_dataset("_exif_photos")
        assert {(p.kind, Path(p.file_name).name) for p in problems} == {
            ("exif_orientation", "square.jpg"),
            ("exif_orientation", "wide.jpg"),
        }
        assert "EXIF orientation 6" in problems[0].message
        assert "exif_transpose" in problems[0].message  # the fix, for labels drawn upright
        assert check.main(["_exif_photos"]) == 0  # a warning: the pairs are read consistently
        assert "exif_orientation: 2" in capsys.readouterr().out
    finally:
        DatasetCatalog.remove("_exif_photos")
        MetadataCatalog.remove("_exif_photos")
