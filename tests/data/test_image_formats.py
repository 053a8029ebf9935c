"""One image reader and one label reader for the loader, the demo and the doctor (issue 23, items
5 and 6): a 16-bit image is scaled to 8 bits (not read as all white), a float image is refused
with its name, and palette ('P') labels give their indices everywhere. The user's files are
unchanged (sha256 before and after)."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image
from repo_scripts import load_script

from segvit.data.dataset_mapper import SemSegDatasetMapper
from segvit.data.datasets.folder import register_folder_dataset
from segvit.data.image_io import read_image_pixels, read_label

check = load_script("datasets", "check")

GRAY16 = np.array([[0, 257 * 100], [257 * 200, 65535]], np.uint16)  # 8-bit 0, 100, 200, 255
LABEL = np.array([[0, 1], [2, 255]], np.uint8)


def digests(folder: Path) -> dict:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*.*")}


@pytest.fixture
def data(tmp_path):
    """img/{gray16,float}.png|tif and lbl/*.png (palette labels)."""
    (tmp_path / "img").mkdir()
    (tmp_path / "lbl").mkdir()
    Image.fromarray(GRAY16).save(tmp_path / "img" / "gray16.png")
    Image.fromarray(GRAY16.astype(np.float32)).save(tmp_path / "img" / "float.tif")
    palette = Image.fromarray(LABEL, mode="P")
    palette.putpalette([255, 255, 255, 200, 0, 0, 0, 200, 0] + [9] * (253 * 3))
    for stem in ("gray16", "float"):
        palette.save(tmp_path / "lbl" / f"{stem}.png")
    return tmp_path


def test_16_bit_image_is_scaled_not_white(data):
    before = digests(data)
    path = str(data / "img" / "gray16.png")
    assert Image.open(path).mode == "I;16"
    rgb = read_image_pixels(path, "RGB")
    assert rgb.dtype == np.uint8 and rgb.shape == (2, 2, 3)
    np.testing.assert_array_equal(rgb[..., 0], [[0, 100], [200, 255]])
    # The loader reads the same pixels, with the palette label's indices.
    mapper = SemSegDatasetMapper(is_train=False, augmentations=[], num_classes=3)
    out = mapper({"file_name": path, "sem_seg_file_name": str(data / "lbl" / "gray16.png")})
    np.testing.assert_array_equal(out["image"].numpy()[0], [[0, 100], [200, 255]])
    np.testing.assert_array_equal(out["sem_seg"].numpy(), LABEL)
    assert digests(data) == before


def test_float_and_out_of_range_images_are_refused_with_their_name(data, tmp_path):
    with pytest.raises(ValueError, match=r"float\.tif'.*floating-point"):
        read_image_pixels(str(data / "img" / "float.tif"), "RGB")
    wide = tmp_path / "wide.tif"
    Image.fromarray(np.array([[0, 70000]], np.int32)).save(wide)  # 32-bit: not a 16-bit image
    with pytest.raises(ValueError, match=r"wide\.tif'.*outside the 16-bit range"):
        read_image_pixels(str(wide), "RGB")


def test_palette_label_gives_indices_and_rgb_label_is_refused(data, tmp_path):
    np.testing.assert_array_equal(read_label(str(data / "lbl" / "gray16.png")), LABEL)
    Image.new("RGB", (2, 2)).save(tmp_path / "rgb.png")
    with pytest.raises(ValueError, match=r"rgb\.png' must be a single-channel image"):
        read_label(str(tmp_path / "rgb.png"))


def test_doctor_agrees_with_the_loader(data):
    before = digests(data)
    register_folder_dataset(
        "_formats", str(data / "img"), str(data / "lbl"), ["a", "b", "c"], image_ext="png"
    )
    try:
        problems = check.check_dataset("_formats")
    finally:
        DatasetCatalog.remove("_formats")
        MetadataCatalog.remove("_formats")
    # the float image is not a registered .png image; the 16-bit one is a warning, the palette
    # label no problem (the loader reads its indices), so the exit status would be 0.
    assert [(p.kind, Path(p.file_name).name) for p in problems] == [
        ("missing_image", "float.png"),
        ("high_bit_depth", "gray16.png"),
    ]
    assert "value / 257" in problems[1].message
    assert digests(data) == before


def test_doctor_refuses_what_the_loader_refuses(data):
    register_folder_dataset(
        "_formats_tif", str(data / "img"), str(data / "lbl"), ["a", "b", "c"], image_ext="tif"
    )
    try:
        problems = check.check_dataset("_formats_tif")
    finally:
        DatasetCatalog.remove("_formats_tif")
        MetadataCatalog.remove("_formats_tif")
    kinds = {(p.kind, Path(p.file_name).name) for p in problems}
    assert ("unreadable_image", "float.tif") in kinds
    (bad,) = [p for p in problems if p.kind == "unreadable_image"]
    assert "floating-point" in bad.message
