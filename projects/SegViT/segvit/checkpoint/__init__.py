"""Reading pretrained ViT weights (timm .pth/.safetensors, Google .npz, mmseg) into our layout."""

from .vit_weights import (
    ViTWeights,
    infer_vit_config,
    load_into_backbone,
    load_vit_state_dict,
    read_state_dict,
    to_backbone_layout,
)
