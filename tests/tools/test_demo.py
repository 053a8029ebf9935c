"""tools/demo.py and tools/visualize_predictions.py: files written, palettes, and clear errors."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from allocation_tracker import LargestTensor
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import LazyConfig, instantiate
from detectron2.data import transforms as T
from PIL import Image
from repo_scripts import load_script

from segvit.data.synthetic import SYNTHETIC_COLORS, generate_synthetic_dataset, register_synthetic
from segvit.engine.cli import ConfigOverrideError
from segvit.modeling.meta_arch.postprocess import ARGMAX_BAND_ELEMENTS
from segvit.predictor import SemSegPredictor

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / "configs/synthetic/segvit_tiny.py")
TINY = ["model.backbone.depth=2", "model.backbone.out_indices=[0,1]"]
TINY += ["model.head.in_features=[block1,block0]", "model.head.layers_per_stage=1"]


demo = load_script("tools", "demo")
visualize = load_script("tools", "visualize_predictions")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A random-init tiny SegViT saved like a trained one."""
    folder = tmp_path_factory.mktemp("ckpt")
    cfg = LazyConfig.apply_overrides(LazyConfig.load(CONFIG), TINY)
    DetectionCheckpointer(instantiate(cfg.model), save_dir=str(folder)).save("model_final")
    return str(folder / "model_final.pth")


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.RandomState(0)
    for name, (h, w) in {"a.jpg": (70, 100), "b.png": (67, 93)}.items():
        Image.fromarray(rng.randint(0, 255, (h, w, 3), dtype=np.uint8)).save(folder / name)
    return folder


def run_demo(checkpoint, inputs, output):
    """The tool on ``inputs``; returns the class areas it wrote to areas.json."""
    argv = ["--config-file", CONFIG, "--input", *inputs, "--output", str(output)]
    return demo.run(
        demo.get_parser().parse_args([*argv, *TINY, f"train.init_checkpoint={checkpoint}"])
    )


def test_demo_writes_overlays_palette_labels_and_areas(checkpoint, images, tmp_path):
    out = tmp_path / "out"
    areas = run_demo(checkpoint, [str(images)], out)
    assert sorted(p.name for p in out.iterdir()) == [
        ".segvit_output",  # the marker: a folder our tools wrote (tools write only into those)
        "a_label.png",
        "a_overlay.jpg",
        "areas.json",
        "b_label.png",
        "b_overlay.jpg",
    ]
    label = Image.open(out / "b_label.png")
    assert label.mode == "P" and label.size == (93, 67)
    assert np.array(label).max() < len(SYNTHETIC_COLORS)
    assert label.getpalette()[:3] == list(SYNTHETIC_COLORS[0])
    width, height = Image.open(out / "a_overlay.jpg").size
    assert width == 100 and height > 70  # the image, then the legend strip (18 px a row)
    assert (height - 70) % 18 == 0
    saved = json.loads((out / "areas.json").read_text())
    assert saved == areas and set(saved) == {"a.jpg", "b.png"}
    assert sum(saved["a.jpg"].values()) == pytest.approx(1.0, abs=1e-4)


def test_demo_accepts_globs(checkpoint, images, tmp_path):
    areas = run_demo(checkpoint, [str(images / "*.jpg")], tmp_path / "out")
    assert set(areas) == {"a.jpg"}


def test_missing_checkpoint_is_a_clear_error(images, tmp_path):
    with pytest.raises(FileNotFoundError, match="init_checkpoint"):
        run_demo(str(tmp_path / "nope.pth"), [str(images)], tmp_path / "out")


def test_unreadable_image_is_named(checkpoint, images, tmp_path):
    (images / "broken.jpg").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="broken.jpg"):
        run_demo(checkpoint, [str(images)], tmp_path / "out")


def test_output_folder_with_other_files_is_refused_and_kept(checkpoint, images, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "my_notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="my_notes.txt"):
        run_demo(checkpoint, [str(images)], out)
    assert (out / "my_notes.txt").read_text() == "keep me"


def test_missing_input_is_a_clear_error(checkpoint, tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing_here"):
        run_demo(checkpoint, [str(tmp_path / "nothing_here*.jpg")], tmp_path / "out")


@pytest.mark.parametrize("tool", ["demo", "visualize_predictions"])
def test_typo_and_wrong_type_in_overrides_are_named_before_running(
    tool, checkpoint, images, tmp_path
):
    """Issue 23: every tool checks its overrides as train_net.py does. A typo'd key is named with
    the key it resembles (not "checkpoint '' does not exist"); a list for train.device is named
    with the config's value (not an omegaconf or torch traceback). Nothing is written."""
    module = {"demo": demo, "visualize_predictions": visualize}[tool]
    out = tmp_path / "out"
    argv = ["--config-file", CONFIG, *(["--input", str(images)] if tool == "demo" else [])]
    argv += ["--output", str(out), *TINY]
    with pytest.raises(ConfigOverrideError) as info:
        module.main([*argv, f"train.init_checkpont={checkpoint}"])
    assert "'train.init_checkpont' does not exist" in str(info.value)
    assert "Did you mean 'train.init_checkpoint'?" in str(info.value)
    with pytest.raises(ConfigOverrideError) as info:
        module.main([*argv, f"train.init_checkpoint={checkpoint}", "train.device=[1,2]"])
    message = str(info.value)
    assert "'train.device=[1,2]': train.device must be of type str" in message
    assert "train.device=cpu" in message  # the fix, from the config's value
    assert not out.exists()


def test_visualize_predictions_draws_panels(checkpoint, tmp_path):
    root = tmp_path / "synthetic"
    generate_synthetic_dataset(str(root), num_train=1, num_val=2, seed=3)
    register_synthetic(str(root), name_prefix="viz_synthetic")
    out = tmp_path / "panels"
    argv = ["--config-file", CONFIG, "--output", str(out), "--dataset", "viz_synthetic_val"]
    assert visualize.main([*argv, *TINY, f"train.init_checkpoint={checkpoint}"]) == 0
    panels = sorted(out.glob("*.png"))
    assert len(panels) == 2
    panel = np.array(Image.open(panels[0]))
    image = np.array(Image.open(next((root / "images/val").glob("*.jpg"))))
    # input | ground truth | prediction | 1-3 masks, each as wide as the image
    assert panel.shape[1] >= 4 * image.shape[1]


def test_inputs_with_the_same_stem_get_their_own_files(checkpoint, tmp_path):
    folder, sub = tmp_path / "images", tmp_path / "images" / "sub"
    sub.mkdir(parents=True)
    rng = np.random.RandomState(1)
    for path in (folder / "a.jpg", folder / "a.png", sub / "a.jpg"):
        Image.fromarray(rng.randint(0, 255, (40, 50, 3), dtype=np.uint8)).save(path)
    inputs = [str(folder / "a.jpg"), str(folder / "a.png"), str(sub / "a.jpg"), str(folder)]
    before = {p: p.read_bytes() for p in folder.rglob("*.*")}
    areas = run_demo(checkpoint, inputs, tmp_path / "out")  # the folder repeats a.jpg and a.png
    assert {p: p.read_bytes() for p in folder.rglob("*.*")} == before
    assert sorted(p.name for p in (tmp_path / "out").glob("*_overlay.jpg")) == [
        "a_jpg_2_overlay.jpg",
        "a_jpg_overlay.jpg",
        "a_png_overlay.jpg",
    ]
    assert len(areas) == 3 and str(sub / "a.jpg") in areas and "a.png" in areas


@pytest.mark.parametrize("num_classes", [8, 64])
def test_large_photo_never_holds_per_class_maps_at_full_size(num_classes, tmp_path, monkeypatch):
    """Issue 13 item 7: the label of a photo much larger than the test resolution is the argmax of
    the resized scores, taken in bands; no tensor with a class axis at the photo's size exists, so
    the largest tensor is the same for 8 and 64 classes (counted, not timed)."""
    overrides = [*TINY, f"model.head.num_classes={num_classes}"]
    cfg = LazyConfig.apply_overrides(LazyConfig.load(CONFIG), overrides)
    model = instantiate(cfg.model)
    DetectionCheckpointer(model, save_dir=str(tmp_path)).save("model")
    # 64 classes on the 8-class synthetic data: skip the start-up class-count check (tested in
    # tests/tools/test_reliability.py); only the memory bound is under test here
    monkeypatch.setattr("segvit.predictor.check_num_classes", lambda *args, **kwargs: None)
    predictor = SemSegPredictor(cfg, str(tmp_path / "model.pth"))
    height, width = 900, 1400  # the test resize brings it to 128 x 199
    rgb = np.random.RandomState(0).randint(0, 255, (height, width, 3), dtype=np.uint8)
    with LargestTensor() as largest:
        label = predictor(rgb)["sem_seg"]
    assert label.shape == (height, width) and "mask_probs" not in predictor(rgb)
    assert largest.numel <= max(ARGMAX_BAND_ELEMENTS, height * width)
    assert num_classes * height * width > 2 * max(ARGMAX_BAND_ELEMENTS, height * width)

    # the same labels as resizing all class scores to the photo's size, then argmax
    aug_input = T.AugInput(rgb)
    T.AugmentationList(predictor.augmentations)(aug_input)
    small = torch.as_tensor(np.ascontiguousarray(aug_input.image.transpose(2, 0, 1)))
    assert small.shape[-2:] == (128, 199)
    with torch.no_grad():
        scores = predictor.model([{"image": small, "height": height, "width": width}])
    np.testing.assert_array_equal(label, scores[0]["sem_seg"].argmax(0).numpy())
