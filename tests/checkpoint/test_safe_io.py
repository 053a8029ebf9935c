"""The one safe reader and the one atomic writer (``segvit.checkpoint.safe_io``): files we write get
the user's umask, a full disk names the folder, and a damaged ``.safetensors`` or an ``.npz`` of
Python objects is named with what is wrong with it, at every entry point, without touching it."""

import errno
import hashlib
import json
import os
import pickle

import numpy as np
import pytest
import torch
from crafted_pickles import WritesMarker
from repo_scripts import load_script
from safetensors.torch import save_file
from torch import nn

from segvit.checkpoint import (
    CheckpointError,
    DiskFullError,
    SafeCheckpointer,
    atomic_write,
    disk_full_error,
    load_model_weights,
    read_state_dict,
    read_weights,
)
from segvit.checkpoint.official_segvit import ALLOWED_META_GLOBALS
from segvit.checkpoint.safe_io import atomic_write_text
from segvit.checkpoint.swin_weights import load_swin_state_dict
from segvit.checkpoint.writer import save_detectron2_checkpoint


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture
def umask():
    """Set the process umask for one test and restore it afterwards."""
    previous = os.umask(0o022)
    os.umask(previous)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(previous)


# ----------------------------------------------------------------------------- (a) permissions


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_written_files_get_the_umask_permissions(tmp_path, umask, mask):
    umask(mask)
    checkpointer = SafeCheckpointer(nn.Linear(2, 2), str(tmp_path))
    checkpointer.save("model_0000001")  # model_0000001.pth and last_checkpoint
    save_detectron2_checkpoint(
        {"w": torch.zeros(1)}, str(tmp_path / "conv.pth"), prefix="", author="t"
    )
    atomic_write_text(str(tmp_path / "report.json"), "{}")
    plain = tmp_path / "plain.txt"
    plain.write_text("what open() gives")
    want = 0o666 & ~mask
    assert want == plain.stat().st_mode & 0o777
    for name in ("model_0000001.pth", "last_checkpoint", "conv.pth", "report.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == want, name
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "conv.pth",
        "last_checkpoint",
        "model_0000001.pth",
        "plain.txt",
        "report.json",
    ]  # no temporary file left


# ----------------------------------------------------------------------------- (b) full disk


def test_full_disk_while_writing_names_the_folder(tmp_path):
    target = tmp_path / "run" / "model_0000002.pth"

    def no_space(f):
        f.write(b"PK partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(DiskFullError) as info:
        atomic_write(str(target), no_space, what="checkpoint")
    assert info.value.filename == str(tmp_path / "run")
    assert f"Free space in {tmp_path / 'run'}" in str(info.value) and "--resume" in str(info.value)
    assert list((tmp_path / "run").iterdir()) == []  # nothing partial, no temporary file


def test_full_disk_elsewhere_in_a_run_names_the_output_folder(tmp_path):
    """A metrics or log write that hits a full disk is reported as the same one error."""
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")  # e.g. metrics.json
        except OSError:
            raise RuntimeError("hook failed")  # what a trainer hook wraps it in
    except RuntimeError as e:
        error = disk_full_error(e, folder=str(tmp_path))
    assert isinstance(error, DiskFullError) and error.filename == str(tmp_path)
    assert f"writing into {tmp_path}" in str(error) and "--resume" in str(error)
    assert disk_full_error(ValueError("not a disk problem"), folder=str(tmp_path)) is None
    same = DiskFullError(errno.ENOSPC, "from the checkpointer", str(tmp_path))
    assert disk_full_error(same, folder="elsewhere") is same


# ----------------------------------------------------------------------------- (c) named damage


def _safetensors(tmp_path) -> bytes:
    path = tmp_path / "whole.safetensors"
    save_file({"weight": torch.randn(4, 4), "bias": torch.zeros(4)}, str(path))
    return path.read_bytes()


def damaged_safetensors(tmp_path):
    """{name: (file, what the message must say)} for three kinds of damage."""
    whole = _safetensors(tmp_path)
    length = int.from_bytes(whole[:8], "little")
    files = {
        "bad_length": (b"\xff" * 8 + whole[8:], r"header of \d+ bytes, but only \d+ bytes follow"),
        "bad_json": (whole[:8] + b"X" + whole[9:], "header is not valid safetensors JSON"),
        "cut_data": (whole[: 8 + length + 10], r"tensor data but the file holds 10: .*truncated"),
    }
    out = {}
    for name, (data, says) in files.items():
        path = tmp_path / f"{name}.safetensors"
        path.write_bytes(data)
        out[name] = (path, says)
    return out


def test_damaged_safetensors_is_named_with_what_is_wrong(tmp_path):
    model = nn.Linear(4, 4)
    for name, (path, says) in damaged_safetensors(tmp_path).items():
        before = digest(path)
        for read in (read_weights, read_state_dict, lambda p: load_model_weights(model, p)):
            with pytest.raises(CheckpointError, match=says) as info:
                read(str(path))
            message = str(info.value)
            assert f"{path} is not a readable .safetensors file" in message, name
            assert "not a checkpoint" not in message and "killed while saving" not in message
        assert digest(path) == before


def test_converters_name_the_damaged_file(tmp_path):
    path, says = damaged_safetensors(tmp_path)["bad_length"]
    before = digest(path)
    out = tmp_path / "out.pth"
    convert = load_script("tools", "convert_pretrained")
    with pytest.raises(CheckpointError, match=says) as info:
        convert.main(["--input", str(path), "--output", str(out)])
    assert str(path) in str(info.value)
    with pytest.raises(CheckpointError, match=says):
        load_swin_state_dict(str(path))  # what tools/convert_swin_pretrained.py reads with
    assert digest(path) == before and not out.exists()


def test_npz_of_python_objects_is_refused_not_called_truncated(tmp_path):
    marker = tmp_path / "MARKER"
    path = tmp_path / "vit.npz"
    payload = np.empty(1, dtype=object)
    payload[0] = WritesMarker(marker)
    np.savez(path, **{"embedding/kernel": np.zeros((16, 16, 3, 8), np.float32), "cfg": payload})
    before = digest(path)
    for read in (read_weights, read_state_dict):
        with pytest.raises(
            CheckpointError, match=r"vit\.npz: refused: array 'cfg' is an object"
        ) as e:
            read(str(path))
        assert "truncated" not in str(e.value) and "killed while saving" not in str(e.value)
    assert not marker.exists() and digest(path) == before


def test_npz_as_a_checkpoint_points_to_the_converter(tmp_path):
    path = tmp_path / "ViT-B_16.npz"
    np.savez(path, **{"embedding/kernel": np.zeros((16, 16, 3, 8), np.float32)})
    with pytest.raises(
        CheckpointError, match=r"ViT-B_16\.npz is a NumPy \.npz.*convert_pretrained"
    ):
        load_model_weights(nn.Linear(2, 2), str(path))


def test_truncated_npz_is_named(tmp_path):
    path = tmp_path / "cut.npz"
    np.savez(path, a=np.zeros(1000, np.float32))
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CheckpointError, match=r"cut\.npz is truncated or corrupt"):
        read_weights(str(path))


def test_torch_file_with_allowed_globals_only(tmp_path):
    """``allowed_globals`` lets a caller's format through and nothing else."""
    path = tmp_path / "meta.pth"
    torch.save({"w": torch.zeros(1), "seed": np.int64(3)}, path)
    with pytest.raises(CheckpointError, match=r"meta\.pth: refused: .*numpy"):
        read_weights(str(path))
    assert read_weights(str(path), allowed_globals=ALLOWED_META_GLOBALS)["seed"] == 3


def test_pickle_reader_refuses_a_pkl_that_calls_a_function(tmp_path):
    marker = tmp_path / "MARKER"
    path = tmp_path / "zoo.pkl"
    path.write_bytes(pickle.dumps({"model": WritesMarker(marker)}))
    with pytest.raises(CheckpointError, match=r"zoo\.pkl: refused .*builtins\.exec"):
        read_weights(str(path))
    assert not marker.exists()


def test_report_is_written_whole(tmp_path):
    path = tmp_path / "reports" / "r.json"
    atomic_write_text(str(path), json.dumps({"mIoU": 1.0}))
    assert json.loads(path.read_text()) == {"mIoU": 1.0}
