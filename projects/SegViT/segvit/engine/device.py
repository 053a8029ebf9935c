"""Which device a run trains on: ``train.device="auto"`` is CUDA when a GPU is visible, else the
CPU, so that one recipe (``make demo``) runs on either; Detectron2's ``--num-gpus 0`` keeps it on
the CPU."""

import torch

__all__ = ["AUTO", "default_device", "resolve_device", "describe_device"]

AUTO = "auto"


def default_device() -> str:
    """ "cuda" when PyTorch sees a CUDA GPU, else "cpu"."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_device(device: str, *, num_gpus: int = 1) -> str:
    """The device to use for ``train.device``.

    Args:
        device (str): "auto", or an explicit device ("cpu", "cuda", "cuda:1"), returned as is.
        num_gpus (int): ``--num-gpus`` of the launch; 0 makes "auto" the CPU.

    Returns:
        str: "cpu" or "cuda" for "auto"; ``device`` otherwise.
    """
    if device != AUTO:
        return device
    return "cpu" if num_gpus == 0 else default_device()


def describe_device(device: str) -> str:
    """One line for the log: "cuda (NVIDIA H200, 1 visible)" or "cpu (2 threads)"."""
    if device.startswith("cuda") and torch.cuda.is_available():
        index = torch.device(device).index
        name = torch.cuda.get_device_name(index if index is not None else 0)
        return f"{device} ({name}, {torch.cuda.device_count()} visible)"
    threads = torch.get_num_threads()
    return f"{device} ({threads} thread{'' if threads == 1 else 's'})"
