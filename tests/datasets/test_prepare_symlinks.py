"""The prepare scripts never write through a symbolic link out of their output tree (issue 23,
item 1): a dangling link and a link to a user's file inside ``annotations_detectron2/`` are
refused, naming the link and the fix, with and without ``--overwrite``; the user's file is
unchanged (sha256 before and after) and nothing is created where a dangling link points."""

import hashlib
import os

import numpy as np
import pytest
from PIL import Image
from repo_scripts import load_script
from test_prepare_ade20k import ade_src  # noqa: F401  (fixture)
from test_prepare_coco_stuff_10k import make_raw as make_coco
from test_prepare_pascal_context import make_raw as make_pascal

from segvit.data.datasets.prepare_utils import check_no_links, save_png

ade = load_script("datasets", "prepare_ade20k")
coco = load_script("datasets", "prepare_coco_stuff_10k")
pascal = load_script("datasets", "prepare_pascal_context")


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture
def user_photo(tmp_path):
    """A user's file outside every dataset tree."""
    path = tmp_path / "home" / "holiday.jpg"
    path.parent.mkdir()
    Image.new("RGB", (5, 4), (200, 10, 10)).save(path)
    return path


def _plant(out_file, target):
    out_file.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, out_file)


@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("kind", ["to_user_file", "dangling", "linked_folder"])
def test_ade20k_refuses_links(ade_src, user_photo, tmp_path, kind, overwrite):  # noqa: F811
    out = ade_src / "annotations_detectron2" / "training" / "ADE_training_1.png"
    elsewhere = tmp_path / "elsewhere"
    if kind == "to_user_file":
        link = out
        _plant(out, user_photo)
    elif kind == "dangling":
        link = out
        _plant(out, elsewhere / "created.png")
        elsewhere.mkdir()
    else:  # the split folder itself links to the user's folder
        link = out.parent
        _plant(out.parent, user_photo.parent)
    before = sha(user_photo)
    with pytest.raises(ValueError) as info:
        ade.convert(str(ade_src), overwrite=overwrite, progress=False)
    message = str(info.value)
    assert f"{link} is a symbolic link" in message and f"rm {link}" in message
    assert sha(user_photo) == before
    assert sorted(os.listdir(user_photo.parent)) == ["holiday.jpg"]
    assert not (elsewhere / "created.png").exists()
    # The command line says the same, exits 1, and writes nothing either.
    argv = ["--root", str(ade_src.parent)] + (["--overwrite"] if overwrite else [])
    assert ade.main(argv) == 1
    assert sha(user_photo) == before and not (elsewhere / "created.png").exists()


def test_coco_stuff_and_pascal_context_refuse_links(tmp_path, user_photo):
    before = sha(user_photo)
    src = make_coco(tmp_path, "1.1")
    link = src / "annotations_detectron2" / "train" / "COCO_train2014_000000000077.png"
    _plant(link, user_photo)
    with pytest.raises(ValueError, match=f"{link} is a symbolic link"):
        coco.convert(str(src), overwrite=True, progress=False)
    src = make_pascal(tmp_path)
    link = src / "annotations_detectron2" / "pc59"
    _plant(link, user_photo.parent)
    with pytest.raises(ValueError, match=f"{link} is a symbolic link"):
        pascal.convert(str(src), overwrite=True, progress=False)
    assert sha(user_photo) == before
    assert sorted(os.listdir(user_photo.parent)) == ["holiday.jpg"]


def test_save_png_replaces_a_link_instead_of_following_it(tmp_path, user_photo):
    """A link made after the check (a race) is replaced by the file, its target untouched."""
    before = sha(user_photo)
    out = tmp_path / "x.png"
    os.symlink(user_photo, out)
    save_png(np.full((2, 3), 7, np.uint8), str(out))
    assert not out.is_symlink() and np.asarray(Image.open(out)).tolist() == [[7, 7, 7]] * 2
    assert sha(user_photo) == before
    assert [p.name for p in tmp_path.glob(".*tmp")] == []


def test_real_trees_pass(tmp_path):
    (tmp_path / "out" / "a").mkdir(parents=True)
    check_no_links(str(tmp_path / "out"), [str(tmp_path / "out" / "a" / "x.png")])
