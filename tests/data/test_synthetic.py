"""The built-in synthetic dataset: determinism, layout, registration, safety, colour baseline."""

import json
import os
import subprocess
import sys
import uuid

import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image

from segvit.analysis.color_baseline import evaluate_color_baseline
from segvit.data import synthetic
from segvit.data.synthetic import (
    SYNTHETIC_CLASSES,
    SYNTHETIC_COLORS,
    ensure_synthetic_dataset,
    generate_synthetic_dataset,
    register_synthetic,
)

NUM_TRAIN, NUM_VAL = 12, 4


def _tree(root):
    """{relative path: bytes} of every file under ``root``."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("d2datasets") / "synthetic")
    generate_synthetic_dataset(root, num_train=NUM_TRAIN, num_val=NUM_VAL, seed=0)
    return root


@pytest.fixture(scope="module")
def registered(dataset_root):
    """Register the tmp dataset under unique names; yields the name prefix."""
    prefix = f"synthetic_test_{uuid.uuid4().hex[:8]}"
    register_synthetic(dataset_root, name_prefix=prefix)
    yield prefix
    for split in ("train", "val"):
        DatasetCatalog.remove(f"{prefix}_{split}")
        MetadataCatalog.remove(f"{prefix}_{split}")


def test_deterministic(dataset_root, tmp_path):
    again = str(tmp_path / "synthetic")
    generate_synthetic_dataset(again, num_train=NUM_TRAIN, num_val=NUM_VAL, seed=0)
    first, second = _tree(dataset_root), _tree(again)
    assert sorted(first) == sorted(second)
    labels = [k for k in first if k.endswith(".png")]
    assert len(labels) == NUM_TRAIN + NUM_VAL
    assert all(first[k] == second[k] for k in labels)

    other = str(tmp_path / "seed1")
    generate_synthetic_dataset(other, num_train=2, num_val=1, seed=1)
    other_tree = _tree(other)
    assert any(other_tree[k] != first[k] for k in other_tree if k.endswith(".png"))


def test_layout_and_meta(dataset_root):
    for split, count in (("train", NUM_TRAIN), ("val", NUM_VAL)):
        images = sorted(os.listdir(os.path.join(dataset_root, "images", split)))
        labels = sorted(os.listdir(os.path.join(dataset_root, "annotations_detectron2", split)))
        assert len(images) == len(labels) == count
        assert all(f.endswith(".jpg") for f in images)
        assert [f[:-4] for f in images] == [f[:-4] for f in labels]
    with open(os.path.join(dataset_root, "meta.json")) as f:
        meta = json.load(f)
    assert (meta["seed"], meta["num_train"], meta["num_val"]) == (0, NUM_TRAIN, NUM_VAL)
    assert not [f for f in os.listdir(os.path.dirname(dataset_root)) if ".tmp-" in f]


def test_registration_metadata(registered, dataset_root):
    for split in ("train", "val"):
        meta = MetadataCatalog.get(f"{registered}_{split}")
        assert len(meta.stuff_classes) >= 8 and meta.stuff_classes == SYNTHETIC_CLASSES
        assert len(meta.stuff_colors) == len(meta.stuff_classes)
        assert meta.ignore_label == 255
        assert meta.evaluator_type == "sem_seg"
        assert meta.image_root == os.path.join(dataset_root, "images", split)
        assert meta.sem_seg_root == os.path.join(dataset_root, "annotations_detectron2", split)
    dicts = DatasetCatalog.get(f"{registered}_val")
    assert len(dicts) == NUM_VAL
    assert all(
        os.path.isfile(d["file_name"]) and os.path.isfile(d["sem_seg_file_name"]) for d in dicts
    )
    # The default names are registered at import time.
    assert "synthetic_sem_seg_train" in DatasetCatalog.list()
    assert MetadataCatalog.get("synthetic_sem_seg_val").stuff_colors == SYNTHETIC_COLORS


def test_images_and_labels(registered):
    sizes, num_ignored = set(), 0
    seen = set()
    for split in ("train", "val"):
        for d in DatasetCatalog.get(f"{registered}_{split}"):
            image = np.asarray(Image.open(d["file_name"]))
            label = np.asarray(Image.open(d["sem_seg_file_name"]))
            assert image.ndim == 3 and image.shape[2] == 3 and label.dtype == np.uint8
            assert image.shape[:2] == label.shape
            h, w = label.shape
            assert h != w and 128 <= min(h, w) and max(h, w) <= 256
            sizes.add((h, w))
            num_ignored += int((label == 255).sum())
            valid = label[label != 255]
            assert valid.max() < len(SYNTHETIC_CLASSES)
            seen.update(np.unique(valid).tolist())
            # The ignore band follows the shape boundaries: a few percent of the pixels at most.
            assert (label == 255).mean() < 0.2
    assert len(sizes) >= NUM_TRAIN  # varied sizes
    assert any(h % 2 or w % 2 for h, w in sizes)  # odd sizes
    assert num_ignored > 0
    assert len(seen) >= 6


def test_ignore_band_is_aligned_with_shapes():
    image, label = synthetic.render_sample(np.random.default_rng([0, 0, 3]))
    assert image.shape[:2] == label.shape
    # Every pixel next to a change of class is ignored: the label never jumps between two classes.
    for a, b in ((label[1:], label[:-1]), (label[:, 1:], label[:, :-1])):
        jump = (a != b) & (a != 255) & (b != 255)
        assert not jump.any()


def test_refuses_foreign_folder(tmp_path):
    root = tmp_path / "synthetic"
    root.mkdir()
    (root / "my_notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="DETECTRON2_DATASETS"):
        generate_synthetic_dataset(str(root), num_train=1, num_val=1)
    with pytest.raises(ValueError, match=str(root)):
        ensure_synthetic_dataset(str(root))
    assert os.listdir(root) == ["my_notes.txt"]
    assert (root / "my_notes.txt").read_text() == "keep me"
    assert os.listdir(tmp_path) == ["synthetic"]  # no temporary folder left behind


def test_other_settings_refused_same_reused(dataset_root):
    before = _tree(dataset_root)
    generate_synthetic_dataset(dataset_root, num_train=NUM_TRAIN, num_val=NUM_VAL, seed=0)
    assert ensure_synthetic_dataset(dataset_root) == dataset_root
    with pytest.raises(ValueError, match="other settings"):
        generate_synthetic_dataset(dataset_root, num_train=NUM_TRAIN, num_val=NUM_VAL, seed=5)
    assert _tree(dataset_root) == before


def test_lost_race_uses_winner(dataset_root, tmp_path):
    """A process whose rename loses against a finished dataset keeps the winner's files."""
    loser = tmp_path / ".synthetic.tmp-loser"
    loser.mkdir()
    (loser / "meta.json").write_text("{}")
    before = _tree(dataset_root)
    meta = synthetic._expected_meta(NUM_TRAIN, NUM_VAL, 0)
    synthetic._publish(str(loser), dataset_root, meta)
    assert not loser.exists()
    assert _tree(dataset_root) == before


def test_register_and_import_write_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("DETECTRON2_DATASETS", str(tmp_path / "d2"))
    prefix = f"synthetic_lazy_{uuid.uuid4().hex[:8]}"
    register_synthetic(name_prefix=prefix)
    try:
        meta = MetadataCatalog.get(f"{prefix}_train")
        assert meta.image_root == os.path.join(str(tmp_path / "d2"), "synthetic", "images", "train")
        assert not (tmp_path / "d2").exists()
    finally:
        for split in ("train", "val"):
            DatasetCatalog.remove(f"{prefix}_{split}")
            MetadataCatalog.remove(f"{prefix}_{split}")


def test_bad_counts():
    with pytest.raises(ValueError, match="num_train"):
        generate_synthetic_dataset("unused", num_train=0)


def test_color_baseline_is_weak(registered):
    result = evaluate_color_baseline(f"{registered}_train", f"{registered}_val")
    assert result["sem_seg"]["mIoU"] < 50
    assert set(result["class_mean_colors"]) == set(SYNTHETIC_CLASSES)


def test_classes_that_share_a_hue_have_different_textures():
    from segvit.data import synthetic_render as render

    shapes = render.SYNTHETIC_CLASSES[1:]
    for a in range(1, len(shapes) + 1):
        for b in range(a + 1, len(shapes) + 1):
            if set(render._CLASS_PALETTES[a]) & set(render._CLASS_PALETTES[b]):
                name_a, name_b = render.SYNTHETIC_CLASSES[a], render.SYNTHETIC_CLASSES[b]
                assert render._CLASS_TEXTURES[name_a] != render._CLASS_TEXTURES[name_b]
    for name in shapes:
        pattern = render._texture(render._CLASS_TEXTURES[name], (64, 64), 32.0, 32.0, 0.3)
        assert pattern.shape == (64, 64) and set(np.unique(pattern)) <= {0.0, 1.0}
        assert (pattern.any() and not pattern.all()) or render._CLASS_TEXTURES[name] == "plain"


def test_killed_generation_leaves_no_tmp_folder_behind(dataset_root, tmp_path):
    """A generation killed half-way left ``.synthetic.tmp-*``; the next run removes it, and keeps
    the folder of a generation that is still running."""
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(finished.stdout)  # a process that has exited
    killed = tmp_path / ".synthetic.tmp-killed"
    (killed / "images" / "train").mkdir(parents=True)
    (killed / ".owner").write_text(f"{synthetic.socket.gethostname()} {dead_pid}")
    running = tmp_path / ".synthetic.tmp-running"
    running.mkdir()
    (running / ".owner").write_text(f"{synthetic.socket.gethostname()} {os.getpid()}")
    (tmp_path / "synthetic").symlink_to(dataset_root)  # the dataset itself is already there
    before = _tree(dataset_root)
    ensure_synthetic_dataset(str(tmp_path / "synthetic"))
    assert not killed.exists() and running.exists()
    assert _tree(dataset_root) == before
