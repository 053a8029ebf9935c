"""SafeCheckpointer / load_model_weights: no code runs from a file, named errors, atomic saves,
pos-embed resizing, and no partial weights for evaluation."""

import errno
import hashlib
import os
import pickle

import numpy as np
import pytest
import torch
from crafted_pickles import crafted_files
from torch import nn

from segvit.checkpoint import CheckpointError, DiskFullError, SafeCheckpointer, load_model_weights
from segvit.modeling.backbone.utils import resize_pos_embed
from segvit.modeling.backbone.vit import ViT


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture(params=["default", "1"], ids=["torch-default", "FORCE_NO_WEIGHTS_ONLY=1"])
def weights_only_env(request, monkeypatch):
    """Both settings of TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD (read by torch.load at each call)."""
    if request.param == "1":
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    else:
        monkeypatch.delenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", raising=False)
    return request.param


def test_crafted_pickles_never_run(tmp_path, weights_only_env):
    marker = tmp_path / "MARKER"
    for path in crafted_files(tmp_path, marker):
        before = digest(path)
        with pytest.raises(CheckpointError, match=r"evil\.\w+.*(refused|run code)") as info:
            SafeCheckpointer(nn.Linear(2, 2)).load(str(path))
        assert "torch.save" in str(info.value)  # the fix: re-save only the tensors
        assert digest(path) == before
    assert not marker.exists()


def test_legacy_pkl_of_numpy_arrays_loads(tmp_path):
    """Detectron2 / Caffe2 model-zoo .pkl files (numpy arrays in dicts) still load."""
    model = nn.Linear(3, 2)
    weights = {"weight": np.full((2, 3), 0.5, np.float32), "bias": np.arange(2, dtype=np.float32)}
    path = tmp_path / "zoo.pkl"
    with open(path, "wb") as f:
        pickle.dump({"model": weights, "__author__": "zoo"}, f, protocol=2)
    load_model_weights(model, str(path))
    assert torch.equal(model.bias.data, torch.tensor([0.0, 1.0]))


def test_text_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("learning rate 0.001, 80k iterations\n")
    with pytest.raises(CheckpointError, match=r"notes\.pth is not a checkpoint: it is a text"):
        load_model_weights(nn.Linear(2, 2), str(path))
    assert path.read_text().startswith("learning rate")


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_broken_checkpoint_names_the_fix(tmp_path, damage):
    model = nn.Linear(2, 2)
    checkpointer = SafeCheckpointer(model, str(tmp_path))
    checkpointer.save("model_0000001")
    checkpointer.save("model_0000003")
    broken = tmp_path / "model_0000003.pth"
    data = broken.read_bytes()
    broken.write_bytes(b"" if damage == "empty" else data[: len(data) // 2])
    before = {p.name: digest(p) for p in tmp_path.iterdir()}
    with pytest.raises(CheckpointError) as info:
        SafeCheckpointer(model, str(tmp_path)).resume_or_load("", resume=True)
    message = str(info.value)
    assert "model_0000003.pth" in message and ("empty" in message or "truncated" in message)
    assert "Delete it and resume from model_0000001.pth" in message
    assert {p.name: digest(p) for p in tmp_path.iterdir()} == before


def test_saves_are_atomic_and_a_full_disk_is_one_clear_error(tmp_path, monkeypatch):
    model = nn.Linear(2, 2)
    checkpointer = SafeCheckpointer(model, str(tmp_path))
    checkpointer.save("model_0000001")
    before = {p.name: digest(p) for p in tmp_path.iterdir()}

    def no_space(obj, f, *args, **kwargs):
        f.write(b"PK partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", no_space)
    with pytest.raises(DiskFullError, match=r"No space left.*--resume") as info:
        checkpointer.save("model_0000002")
    assert str(tmp_path) in str(info.value)
    # Nothing partial under a final name, no temporary file left, last_checkpoint unchanged.
    assert {p.name: digest(p) for p in tmp_path.iterdir()} == before
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000001.pth"


def test_load_model_weights_refuses_unloaded_tensors(tmp_path):
    trained = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    other = tmp_path / "other.pth"
    torch.save({"model": nn.Sequential(nn.Linear(4, 5), nn.Linear(5, 2)).state_dict()}, other)
    empty = tmp_path / "empty_dict.pth"
    torch.save({}, empty)
    for path in (other, empty):
        before = digest(path)
        with pytest.raises(CheckpointError, match="--allow-partial-weights") as info:
            load_model_weights(trained, str(path))
        assert str(path) in str(info.value) and "0.weight" in str(info.value)
        assert digest(path) == before
    with pytest.raises(CheckpointError, match=r"0\.weight: shape \(5, 4\) in the checkpoint"):
        load_model_weights(trained, str(other))
    unloaded, _ = load_model_weights(trained, str(other), allow_partial=True)
    assert any(line.startswith("0.weight") for line in unloaded)


def test_pos_embed_of_another_grid_is_resized_not_skipped(tmp_path, caplog):
    """An init checkpoint with a 4x4 table (+ a class token) loads into an 8x8 backbone."""
    small = ViT(
        pretrain_img_size=32, patch_size=8, embed_dim=16, depth=1, num_heads=2, out_indices=(0,)
    )
    table = torch.randn(1, 1 + 16, 16)  # timm layout: class-token position first
    state = {f"backbone.{k}": v for k, v in small.state_dict().items()}
    state["backbone.pos_embed"] = table
    path = tmp_path / "small_grid.pth"
    torch.save({"model": state}, path)

    model = nn.Module()
    model.backbone = ViT(
        pretrain_img_size=64, patch_size=8, embed_dim=16, depth=1, num_heads=2, out_indices=(0,)
    )
    with caplog.at_level("INFO"):
        SafeCheckpointer(model).resume_or_load(str(path), resume=False)
    expected = resize_pos_embed(table[:, 1:], (4, 4), (8, 8))
    assert torch.allclose(model.backbone.pos_embed.data, expected)
    assert "Resized backbone.pos_embed from a 4x4 grid" in caplog.text
    assert os.path.getsize(path) > 0
