"""``train_net.py --eval-only`` with the ADE20K ViT-B config (shrunk): a missing dataset names the
folder and the prepare command; a tiny converted ADE20K tree is evaluated."""

import numpy as np
import pytest
import torch
from detectron2.config import LazyConfig, instantiate
from PIL import Image
from repo_scripts import load_script
from train_net_helpers import REPO, run

from segvit.data.datasets import builtin

CONFIG = str(REPO / "configs/ade20k/segvit_vit_b16_512x512_160k.py")
SHRUNK = [
    "model.backbone.pretrain_img_size=64",
    "model.backbone.embed_dim=64",
    "model.backbone.depth=2",
    "model.backbone.num_heads=2",
    "model.backbone.out_indices=[0,1]",
    "model.head.in_features=[block1,block0]",
    "model.head.embed_dim=32",
    "model.head.num_heads=2",
    "model.head.layers_per_stage=1",
    "model.inference.crop_size=[64,64]",
    "model.inference.stride=[48,48]",
    "dataloader.test.mapper.augmentations.img_scale=[256,64]",  # short side 64, not 512
    "dataloader.test.num_workers=0",
]


@pytest.fixture
def datasets_root(tmp_path):
    """Registers the built-in datasets under an empty ``tmp_path``; restores them afterwards."""
    builtin.register_all(str(tmp_path))
    yield tmp_path
    builtin.register_all()


@pytest.fixture
def checkpoint(tmp_path):
    """Random weights of the shrunk model, saved as a Detectron2 checkpoint."""
    cfg = LazyConfig.apply_overrides(LazyConfig.load(CONFIG), SHRUNK)
    path = tmp_path / "random_init.pth"
    torch.save({"model": instantiate(cfg.model).state_dict()}, path)
    return path


def make_raw_ade20k(root, sizes=((48, 64), (64, 40), (50, 50))):
    """A raw ``ADEChallengeData2016`` tree: JPG images and PNG labels in 0..150 (0 = other)."""
    rng = np.random.default_rng(0)
    src = root / "ADEChallengeData2016"
    for split in ("training", "validation"):
        (src / "images" / split).mkdir(parents=True)
        (src / "annotations" / split).mkdir(parents=True)
        for i, (h, w) in enumerate(sizes):
            name = f"ADE_{split}_{i:08d}"
            image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            Image.fromarray(image).save(src / "images" / split / f"{name}.jpg")
            label = rng.integers(0, 151, (h, w), dtype=np.uint8)
            Image.fromarray(label).save(src / "annotations" / split / f"{name}.png")
    return src


def test_missing_ade20k_names_the_folder_and_the_prepare_command(datasets_root, checkpoint):
    argv = ["--eval-only", *SHRUNK, f"train.init_checkpoint={checkpoint}"]
    with pytest.raises(FileNotFoundError) as error:
        run([*argv, f"train.output_dir={datasets_root / 'out'}", "train.device=cpu"], CONFIG)
    message = str(error.value)
    assert str(datasets_root / "ADEChallengeData2016") in message
    assert "python datasets/prepare_ade20k.py" in message


def test_eval_only_on_a_tiny_converted_ade20k(datasets_root, checkpoint):
    src = make_raw_ade20k(datasets_root)
    prepare_ade20k = load_script("datasets", "prepare_ade20k")
    assert prepare_ade20k.convert(str(src), progress=False) == {"training": 3, "validation": 3}

    argv = ["--eval-only", *SHRUNK, f"train.init_checkpoint={checkpoint}", "train.device=cpu"]
    results = run([*argv, f"train.output_dir={datasets_root / 'out'}"], CONFIG)
    assert set(results) == {"sem_seg[slide]"}  # the config's mode (window shrunk to 64 / 48)
    assert 0.0 <= results["sem_seg[slide]"]["mIoU"] <= 100.0
