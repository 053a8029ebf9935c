"""Weights in and out: safe reading and atomic writing of files (``safe_io``), Detectron2's
checkpointer made safe (``checkpointer``), and converters of pretrained and released weights into
our layout (``readers``, ``vit_weights``, ``swin_weights``, ``official_segvit``, ``writer``)."""

from .checkpointer import SafeCheckpointer, load_model_weights
from .safe_io import CheckpointError, DiskFullError, atomic_write, disk_full_error, read_weights
from .vit_weights import (
    ViTWeights,
    fit_pos_embed,
    infer_vit_config,
    load_into_backbone,
    load_vit_state_dict,
    read_state_dict,
    to_backbone_layout,
)
