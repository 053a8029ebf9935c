"""RSSeg-R's local pathway: a chain of LSBs beside the plain ViT (a reconstruction).

RSSeg (Hong et al., arXiv 2212.13764) states only that a second pathway of "LSBs" (Fig. 4, blue
blocks beside the pre-trained transformer layers) "enhances and passes down local-patch
discrepancy complementary to global representations of transformers". Everything inside an LSB is
our design (docs/rsseg.md): LSB i reads the ViT output of one tapped block (read-only, never
written back: "decoupled"), adds it to the state passed down from LSB i-1, boosts the local
high-pass part of the sum (learned unsharp masking, zero-initialised) and refines it with a ResNet
BasicBlock, all at ``scale`` x the token grid (stride 8 on a patch-16 ViT, as DDRNet's
high-resolution branch). Every size comes from the tensors, so any input size works.
"""

from typing import List, Optional, Sequence

import torch.nn.functional as F
from detectron2.layers import get_norm
from torch import Tensor, nn

__all__ = ["LocalSeparationBlock", "LocalPathway", "ImageStem", "stem_widths"]


def _conv_bn(in_ch: int, out_ch: int, kernel: int, norm: str, stride: int = 1) -> nn.Sequential:
    """Bias-free conv + norm (the BN carries the bias)."""
    conv = nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=False)
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    return nn.Sequential(conv, get_norm(norm, out_ch))


class LocalSeparationBlock(nn.Module):
    """One LSB (RSSeg's term; it does not expand it, "local separation block" is our name).

    ``h_i = BasicBlock(z + BN0(conv1x1(z - avgpool3x3(z))))`` with ``z = h_{i-1} + up(g)`` and
    ``g = BN(conv1x1_{D->C}(tap))`` upsampled bilinearly to the state's grid. ``BN0``'s weight
    starts at 0, so at initialisation the block is ``BasicBlock(h_{i-1} + g)``.

    Params: ``D*C + 19*C^2 + 8*C`` (bias-free convs; 4 norms with a weight and a bias each).
    """

    def __init__(self, in_channels: int, channels: int, norm: str = "BN", last: bool = False):
        """
        Args:
            in_channels (int): ViT width D of the tap.
            channels (int): pathway width C.
            norm (str): Detectron2 norm name ("BN", "SyncBN").
            last (bool): no ReLU after the residual sum (DDRNet's ``no_relu`` on a branch's last
                block), so the state passed to SASM keeps its sign.
        """
        super().__init__()
        self.proj = _conv_bn(in_channels, channels, 1, norm)
        self.highpass = _conv_bn(channels, channels, 1, norm)
        nn.init.zeros_(self.highpass[1].weight)  # learned unsharp masking starts switched off
        self.conv1 = _conv_bn(channels, channels, 3, norm)
        self.conv2 = _conv_bn(channels, channels, 3, norm)
        self.last = last

    def forward(self, state: Optional[Tensor], tap: Tensor, size: Sequence[int]) -> Tensor:
        """
        Args:
            state: (B, C, H', W') passed down from the previous LSB, or None for the first one.
            tap: (B, D, h, w) ViT block output.
            size: (H', W') of the pathway grid.

        Returns:
            Tensor: (B, C, H', W') new state.
        """
        z = F.interpolate(self.proj(tap), size=size, mode="bilinear", align_corners=False)
        if state is not None:
            z = z + state
        discrepancy = z - F.avg_pool2d(z, 3, stride=1, padding=1, count_include_pad=False)
        z = z + self.highpass(discrepancy)
        out = self.conv2(F.relu(self.conv1(z))) + z
        return out if self.last else F.relu(out)


def stem_widths(channels: int, num_convs: int) -> List[int]:
    """Output widths of the image stem's stride-2 convs: C/2 each, C for the last."""
    return [channels // 2] * (num_convs - 1) + [channels]


class ImageStem(nn.Module):
    """``num_convs`` x (conv3x3 stride 2 + BN + ReLU) from the image to the pathway grid (the
    ``stem="conv"`` reading: a BiSeNet-style detail path that starts at the image)."""

    def __init__(self, channels: int, num_convs: int, norm: str = "BN"):
        super().__init__()
        widths = [3] + stem_widths(channels, num_convs)
        self.convs = nn.ModuleList(
            _conv_bn(widths[i], widths[i + 1], 3, norm, stride=2) for i in range(num_convs)
        )

    def forward(self, image: Tensor, size: Sequence[int]) -> Tensor:
        """(B, 3, H, W) normalised image -> (B, C, H', W') at the pathway grid ``size``."""
        x = image
        for conv in self.convs:
            x = F.relu(conv(x))
        if tuple(x.shape[-2:]) != tuple(size):
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return x


class LocalPathway(nn.Module):
    """A chain of LSBs, one per tapped ViT block, shallowest first; returns the last state h_n."""

    def __init__(
        self,
        in_channels: int,
        channels: int,
        num_blocks: int,
        norm: str = "BN",
        stem_convs: int = 0,
    ):
        """
        Args:
            in_channels (int): ViT width D.
            channels (int): pathway width C.
            num_blocks (int): number of LSBs (= number of tapped blocks).
            norm (str): Detectron2 norm name.
            stem_convs (int): 0 (the pathway starts from the first tap) or the number of stride-2
                convs of an :class:`ImageStem` that gives the initial state from the image.
        """
        super().__init__()
        if num_blocks < 1:
            raise ValueError(f"rsseg_r_local_path: num_blocks must be >= 1, got {num_blocks}.")
        self.blocks = nn.ModuleList(
            LocalSeparationBlock(in_channels, channels, norm, last=i == num_blocks - 1)
            for i in range(num_blocks)
        )
        self.stem = ImageStem(channels, stem_convs, norm) if stem_convs > 0 else None

    def forward(
        self, taps: List[Tensor], size: Sequence[int], image: Optional[Tensor] = None
    ) -> Tensor:
        """
        Args:
            taps: (B, D, h, w) ViT block outputs, shallowest first, one per LSB.
            size: (H', W') pathway grid.
            image: (B, 3, H, W) normalised padded image (only read with the image stem).

        Returns:
            Tensor: (B, C, H', W') the last LSB's state h_n.
        """
        state: Optional[Tensor] = None
        if self.stem is not None:
            if image is None:
                raise ValueError("rsseg_r_local_path: stem_convs > 0 needs the image.")
            state = self.stem(image, size)
        for block, tap in zip(self.blocks, taps):
            state = block(state, tap, size)
        assert state is not None
        return state
