"""Pre-training images of the tiny backbone: disjoint from the synthetic train and val splits,
deterministic, and their image-level (presence) labels."""

import hashlib
import os

import numpy as np
import pytest
import torch
from PIL import Image

from segvit.data import synthetic
from segvit.data.synthetic import generate_synthetic_dataset
from segvit.data.synthetic_pretrain import (
    PRETRAIN_SPLITS,
    generate_pretrain_images,
    load_pretrain_split,
    presence_labels,
)


def _pixel_hashes(folder: str) -> dict:
    """{sha1 of the decoded pixels: file name} of every image in ``folder``."""
    out = {}
    for name in sorted(os.listdir(folder)):
        pixels = np.asarray(Image.open(os.path.join(folder, name)))
        out[hashlib.sha1(pixels.tobytes() + str(pixels.shape).encode()).hexdigest()] = name
    return out


def test_pretraining_images_share_no_image_with_train_or_val(tmp_path):
    # The real splits (default seed and sizes) against pre-training images of the same seed.
    data = tmp_path / "synthetic"
    generate_synthetic_dataset(str(data), **synthetic._DEFAULTS)
    pretrain = generate_pretrain_images(
        str(tmp_path / "pretrain"), num_train=200, num_val=50, seed=synthetic._DEFAULTS["seed"]
    )
    seen = {}
    for root, split in [(str(data), "train"), (str(data), "val")] + [
        (pretrain, s) for s in PRETRAIN_SPLITS
    ]:
        for kind in ("images", "annotations_detectron2"):
            hashes = _pixel_hashes(os.path.join(root, kind, split))
            assert len(hashes) == len(os.listdir(os.path.join(root, kind, split)))  # no repeats
            shared = {h: (seen[h], name) for h, name in hashes.items() if h in seen}
            assert not shared, f"{split} {kind} repeats {list(shared.values())[:3]}"
            seen.update({h: f"{split}/{name}" for h, name in hashes.items()})
    # by construction: each split draws its samples from its own stream id
    ids = [synthetic._SPLIT_IDS[s] for s in ("train", "val", *PRETRAIN_SPLITS)]
    assert len(set(ids)) == len(ids)


def test_pretraining_images_are_deterministic_and_reused(tmp_path):
    a = generate_pretrain_images(str(tmp_path / "a"), num_train=3, num_val=2, seed=0)
    b = generate_pretrain_images(str(tmp_path / "b"), num_train=5, num_val=2, seed=0)
    for name in os.listdir(os.path.join(a, "images", "pretrain_train")):  # first 3 of 5 equal
        with open(os.path.join(a, "images", "pretrain_train", name), "rb") as f, open(
            os.path.join(b, "images", "pretrain_train", name), "rb"
        ) as g:
            assert f.read() == g.read()
    assert generate_pretrain_images(a, num_train=3, num_val=2, seed=0) == a  # reused as it is
    with pytest.raises(ValueError, match="other pre-training images"):
        generate_pretrain_images(a, num_train=4, num_val=2, seed=0)
    dicts = load_pretrain_split(a, "pretrain_val")
    assert len(dicts) == 2 and all(os.path.isfile(d["sem_seg_file_name"]) for d in dicts)


def test_presence_labels_use_the_area_threshold_and_skip_ignored_pixels():
    label = torch.zeros(10, 10, dtype=torch.int64)
    label[:3, :] = 2  # 30 of 90 labelled pixels
    label[9, 0] = 5  # 1 of 90: a sliver
    label[8, :] = 255  # ignored
    label[9, 1:] = 255
    assert presence_labels(label, 8, 0.05).tolist() == [1, 0, 1, 0, 0, 0, 0, 0]
    assert presence_labels(label, 8, 0.0).tolist() == [1, 0, 1, 0, 0, 1, 0, 0]
    assert presence_labels(torch.full((4, 4), 255), 8, 0.01).sum() == 0
    with pytest.raises(ValueError, match="num_classes"):
        presence_labels(torch.full((4, 4), 9), 8, 0.01)
