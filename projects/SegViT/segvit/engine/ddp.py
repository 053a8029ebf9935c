"""DistributedDataParallel on CUDA or CPU (gloo) through Detectron2's ``launch``."""

import torch
from detectron2.engine.defaults import create_ddp_model as _d2_create_ddp_model
from detectron2.utils import comm

__all__ = ["check_distributed_device", "create_ddp_model"]


def check_distributed_device(device: str) -> None:
    """Fail early when the process group cannot reduce tensors on ``device``.

    Detectron2's ``launch`` picks NCCL whenever CUDA is available and gloo otherwise; NCCL cannot
    all-reduce CPU tensors, so CPU training on a machine with GPUs must hide them.
    """
    if comm.get_world_size() == 1 or device.startswith("cuda"):
        return
    backend = torch.distributed.get_backend()
    if backend.lower() == "nccl":
        raise ValueError(
            f"train.device={device!r} with {comm.get_world_size()} processes, but the process "
            "group uses NCCL (Detectron2's launch picks it when CUDA is available), which cannot "
            "reduce CPU tensors. Hide the GPUs (CUDA_VISIBLE_DEVICES=) so that launch uses gloo, "
            "or train on CUDA."
        )


def create_ddp_model(model: torch.nn.Module, *, device: str, **kwargs) -> torch.nn.Module:
    """Detectron2's ``create_ddp_model``, with ``device_ids=None`` for a model on the CPU.

    Detectron2 passes ``device_ids=[local_rank]``, which DDP rejects for CPU modules.

    Args:
        model: the model, already on ``device``.
        device (str): ``train.device`` ("cuda", "cuda:0", "cpu").
        kwargs: ``fp16_compression`` and DDP arguments (``train.ddp``).
    """
    if not device.startswith("cuda"):
        kwargs["device_ids"] = None
    return _d2_create_ddp_model(model, **kwargs)
