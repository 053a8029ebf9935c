"""A backbone followed by Mask2Former's deformable-attention encoder, used as a neck.

SegViT's Swin-T variant (paper Table 6; docs/official_reference.md#segvit-swin-t-variant) feeds Swin
stages 2-4 (strides 8/16/32) through a 6-layer multi-scale deformable-attention encoder (256-d,
GroupNorm input projections, sine position encoding) and runs the ATM head on the three refined
maps, coarsest first. That encoder is exactly maskformer2's ``MSDeformAttnPixelDecoder`` given only
those three maps and ``common_stride`` equal to their finest stride (so it adds no FPN level).
"""

from typing import Dict

import torch
from detectron2.layers import ShapeSpec
from detectron2.modeling.backbone import Backbone
from mask2former.modeling.pixel_decoder.msdeformattn import MSDeformAttnPixelDecoder
from torch import nn

__all__ = ["MSDeformAttnNeck"]


class MSDeformAttnNeck(Backbone):
    """``net``, then the deformable encoder of ``MSDeformAttnPixelDecoder``, as one backbone.

    The pixel decoder's ``mask_features`` 1x1 conv (Mask2Former's per-pixel embedding) has no use
    here, so it is replaced by an identity: every remaining parameter gets a gradient.
    """

    def __init__(self, *, net: Backbone, pixel_decoder: MSDeformAttnPixelDecoder):
        """
        Args:
            net (Backbone): e.g. ``SwinBackbone(out_indices=(1, 2, 3))`` returning res3..res5.
            pixel_decoder (MSDeformAttnPixelDecoder): built with ``input_shape`` equal to ``net``'s
                outputs, all of them in ``transformer_in_features`` (at most 3, maskformer2 keeps
                3 levels) and ``common_stride`` equal to the smallest stride.
        """
        super().__init__()
        shapes = net.output_shape()
        if sorted(pixel_decoder.in_features) != sorted(shapes):
            raise ValueError(
                f"pixel_decoder reads {pixel_decoder.in_features} but net returns "
                f"{sorted(shapes)}; give the pixel decoder net's output shapes."
            )
        if pixel_decoder.transformer_in_features != pixel_decoder.in_features:
            raise ValueError(
                "Every net feature must go through the deformable encoder: set "
                f"transformer_in_features={pixel_decoder.in_features}."
            )
        if pixel_decoder.num_fpn_levels != 0 or len(pixel_decoder.in_features) > 3:
            raise ValueError(
                "The neck returns the encoder's maps only: use at most 3 features and "
                f"common_stride={min(s.stride for s in shapes.values())} (got common_stride="
                f"{pixel_decoder.common_stride})."
            )
        self.net = net
        self.pixel_decoder = pixel_decoder
        self.pixel_decoder.mask_features = nn.Identity()  # unused per-pixel embedding, see above
        # maskformer2 returns the levels coarsest first; keep that order in the feature dict.
        names = sorted(shapes, key=lambda k: -shapes[k].stride)
        self._out_features = names
        self._out_feature_strides = {k: shapes[k].stride for k in names}
        self._out_feature_channels = {k: pixel_decoder.transformer.d_model for k in names}

    @property
    def size_divisibility(self) -> int:
        return self.net.size_divisibility

    def output_shape(self) -> Dict[str, ShapeSpec]:
        return {
            k: ShapeSpec(
                channels=self._out_feature_channels[k], stride=self._out_feature_strides[k]
            )
            for k in self._out_features
        }

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """
        Args:
            x: (B, 3, H, W) normalised images.

        Returns:
            dict[str, Tensor]: for each ``net`` feature name, coarsest first, the encoder output
            (B, d_model, h, w) at that feature's grid.
        """
        _, _, multi_scale = self.pixel_decoder.forward_features(self.net(x))
        return dict(zip(self._out_features, multi_scale))
