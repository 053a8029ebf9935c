"""SETR-naive decode head: the per-pixel baseline of SegViT Tables 4 and 8 (SETR, CVPR 2021).

"Two 1x1 convolutions to get per-pixel classifications directly from the last layer of the ViT"
(SegViT Sec. 4.4, Table 4): LayerNorm over the tokens (mmseg ``SETRUPHead``), 1x1 conv C -> 256 +
SyncBN + ReLU, 1x1 conv 256 -> K, at the feature resolution; the logits are bilinearly upsampled
to the image by the meta-architecture (:class:`~segvit.modeling.meta_arch.setr.PerPixelSegmentor`),
which also
computes the pixel cross-entropy. SETR's paper describes SETR-naive this way; mmseg's config puts
a 4x upsampling between the two convolutions (``up_scale=4``), i.e. the classifier runs at 1/4.
We classify at 1/16 (``up_scale=1``, default), which also matches Table 8's 107.3 GFLOPs (see
``benchmarks/flops.md``); set ``up_scale=4`` for the mmseg variant. No auxiliary heads.
"""

from typing import Dict

import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.layers import Conv2d, ShapeSpec, get_norm
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY
from torch import Tensor, nn

from .common import check_in_features

__all__ = ["SETRNaiveHead"]


@SEM_SEG_HEADS_REGISTRY.register()
class SETRNaiveHead(nn.Module):
    """LayerNorm -> 1x1 conv + norm + ReLU -> 1x1 conv classifier on one backbone feature."""

    @configurable
    def __init__(
        self,
        *,
        in_feature: str,
        in_channels: int,
        num_classes: int,
        channels: int = 256,
        norm: str = "SyncBN",
        input_norm: bool = True,
        up_scale: int = 1,
        dropout: float = 0.0,
    ):
        """
        Args:
            in_feature (str): backbone feature to classify, e.g. ``"block11"`` (ViT-B's last).
            in_channels (int): its channels C.
            num_classes (int): number of classes K.
            channels (int): width of the hidden 1x1 conv (256 in SETR).
            norm (str): Detectron2 norm of the hidden conv ("SyncBN" as SETR, "BN", "GN", "").
            input_norm (bool): LayerNorm (eps 1e-6) over the input tokens first (mmseg
                ``SETRUPHead``; our ViT has no final norm).
            up_scale (int): bilinear upsampling factor between the two convolutions (1: classify
                at the feature resolution; 4: mmseg's SETR-naive config).
            dropout (float): dropout before the classifier (mmseg ``dropout_ratio``; 0 in SETR).
        """
        super().__init__()
        if up_scale < 1:
            raise ValueError(f"up_scale must be >= 1, got {up_scale}.")
        self.in_feature = in_feature
        self.num_classes = num_classes
        self.up_scale = int(up_scale)
        self.input_norm = nn.LayerNorm(in_channels, eps=1e-6) if input_norm else nn.Identity()
        self.conv = Conv2d(
            in_channels,
            channels,
            kernel_size=1,
            bias=not norm,
            norm=get_norm(norm, channels),
            activation=F.relu,
        )
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.classifier = nn.Conv2d(channels, num_classes, kernel_size=1)
        nn.init.kaiming_normal_(self.conv.weight, mode="fan_out", nonlinearity="relu")
        if self.conv.bias is not None:
            nn.init.zeros_(self.conv.bias)
        nn.init.normal_(self.classifier.weight, std=0.01)  # mmseg ``cls_seg`` init
        nn.init.zeros_(self.classifier.bias)

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        head = cfg.MODEL.SEM_SEG_HEAD
        in_feature = head.IN_FEATURES[-1]
        return {
            "in_feature": in_feature,
            "in_channels": check_in_features(
                input_shape, [in_feature], "MODEL.SEM_SEG_HEAD.IN_FEATURES[-1]"
            ),
            "num_classes": head.NUM_CLASSES,
            "channels": head.CONVS_DIM,
            "norm": head.NORM,
        }

    def forward(self, features: Dict[str, Tensor]) -> Tensor:
        """
        Args:
            features (dict[str, Tensor]): backbone outputs; ``features[in_feature]`` is
                (B, C, h, w).

        Returns:
            Tensor: (B, K, h * up_scale, w * up_scale) class logits.
        """
        x = features[self.in_feature]  # (B, C, h, w)
        x = self.input_norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # LayerNorm over C
        x = self.conv(x)  # (B, channels, h, w)
        if self.up_scale > 1:
            x = F.interpolate(x, scale_factor=self.up_scale, mode="bilinear", align_corners=False)
        return self.classifier(self.dropout(x))  # (B, K, h', w')
