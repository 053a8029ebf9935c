"""A convolutional stem that can replace the ViT's linear patch embedding.

Xiao et al., "Early Convolutions Help Transformers See Better" (NeurIPS 2021): a few stride-2 3x3
convolutions instead of one patch_size x patch_size projection make ViTs trained from scratch
optimise much faster. The paper's models use pretrained plain ViTs and do not need it; the tiny
demo model (``configs/synthetic/segvit_tiny.py``), trained from scratch in minutes, does.
"""

import math

import torch
from torch import nn


class ConvStem(nn.Module):
    """log2(patch_size) stages of [3x3 conv - BatchNorm - ReLU] x ``convs_per_stage`` (the first
    of each stage with stride 2), then a 1x1 conv to embed_dim.

    Args:
        patch_size (int): total stride, a power of two (e.g. 8 or 16).
        in_chans (int): image channels.
        embed_dim (int): output channels C; the hidden widths double up to C / 2.
        convs_per_stage (int): 3x3 convolutions per stride-2 stage (1 in Xiao et al.).
    """

    def __init__(
        self,
        *,
        patch_size: int = 16,
        in_chans: int = 3,
        embed_dim: int = 768,
        convs_per_stage: int = 1,
    ):
        super().__init__()
        num_convs = int(math.log2(patch_size))
        if 2**num_convs != patch_size or num_convs < 1:
            raise ValueError(f"ConvStem needs a power-of-two patch_size, got {patch_size}")
        widths = [max(embed_dim // 2 ** (num_convs - i), 8) for i in range(num_convs)]
        layers, channels = [], in_chans
        for width in widths:
            for i in range(convs_per_stage):
                layers += [
                    nn.Conv2d(channels, width, 3, stride=2 if i == 0 else 1, padding=1, bias=False),
                    nn.BatchNorm2d(width),
                    nn.ReLU(inplace=True),
                ]
                channels = width
        layers.append(nn.Conv2d(channels, embed_dim, 1))
        self.proj = nn.Sequential(*layers)
        self.patch_size = patch_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_chans, H, W) -> (B, C, H / patch_size, W / patch_size)."""
        return self.proj(x)
