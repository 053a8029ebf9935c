"""train.device="auto": the GPU when CUDA is available, else the CPU; --num-gpus 0 is the CPU."""

import pytest
import torch

from segvit.engine.device import default_device, describe_device, resolve_device


@pytest.mark.parametrize("cuda", [True, False])
def test_auto_picks_cuda_only_when_available(monkeypatch, cuda):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    expected = "cuda" if cuda else "cpu"
    assert default_device() == expected
    assert resolve_device("auto") == expected
    assert resolve_device("auto", num_gpus=2) == expected
    assert resolve_device("auto", num_gpus=0) == "cpu"  # --num-gpus 0: the CPU, GPU or not


def test_explicit_devices_are_kept(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for device in ("cpu", "cuda", "cuda:1"):
        assert resolve_device(device, num_gpus=0) == device


def test_cpu_description_names_the_threads():
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert describe_device("cpu") == "cpu (1 thread)"
        torch.set_num_threads(2)
        assert describe_device("cpu") == "cpu (2 threads)"
    finally:
        torch.set_num_threads(previous)
