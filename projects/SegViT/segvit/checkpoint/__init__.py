"""Reading pretrained ViT weights (timm .pth/.safetensors, Google .npz, mmseg) into our layout;
reading and writing Detectron2 checkpoints safely (``safe_checkpointer``)."""

from .safe_checkpointer import (
    CheckpointError,
    DiskFullError,
    SafeCheckpointer,
    load_model_weights,
    read_checkpoint_file,
)
from .vit_weights import (
    ViTWeights,
    infer_vit_config,
    load_into_backbone,
    load_vit_state_dict,
    read_state_dict,
    to_backbone_layout,
)
