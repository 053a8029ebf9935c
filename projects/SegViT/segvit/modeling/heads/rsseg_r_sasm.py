"""RSSeg-R's spatially adaptive separation module (SASM, a reconstruction).

RSSeg states only that SASM (its Fig. 5) yields "more separate deep representations" and that
the separation keeps intra-class variance small (Fig. 1 caption); the operator is ours
(docs/rsseg.md). The deepest ViT feature G is projected to the pathway width and upsampled to the
local pathway's grid, and fused with the pathway state L: ``X = G' + L``. Then, per location and
channel, the deviation of X from its context mean is amplified by a gain predicted from both
inputs:

- ``mode="highpass"`` (default): ``S = X + lambda * alpha * (X - mu)``, ``alpha = sigmoid(conv1x1(
  dwconv3x3(relu(BN(conv1x1([G', L]))))))`` in (0, 1), ``lambda`` per channel, initialised at 0;
  ``mu`` the per-image mean (``mean="global"``) or a k x k average (``mean="local"``).
- ``mode="spade"``: ``S = X + gamma(L) * BN_noaffine(X) + beta(L)``, gamma and beta 3x3 convs on
  the local pathway (SPADE's spatially-adaptive modulation), both initialised at 0.

Either way ``S == X`` at initialisation: separation is learnt, not imposed.
"""

from typing import Dict, Sequence

import torch
import torch.nn.functional as F
from detectron2.layers import get_norm
from torch import Tensor, nn

__all__ = ["SASM", "SASM_MODES", "SASM_MEANS"]

SASM_MODES = ("highpass", "spade")
SASM_MEANS = ("global", "local")


class SASM(nn.Module):
    """Fuse the deepest ViT feature with the local pathway and separate it (see module doc).

    Params: ``highpass``: ``D*C + 3*C^2 + 15*C``; ``spade``: ``D*C + 18*C^2 + 4*C``.
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        norm: str = "BN",
        mode: str = "highpass",
        mean: str = "global",
        local_kernel: int = 7,
    ):
        """
        Args:
            in_channels (int): ViT width D.
            channels (int): pathway width C.
            norm (str): Detectron2 norm name.
            mode (str): "highpass" or "spade" (see module doc).
            mean (str): context mean of "highpass": "global" (per image) or "local" (k x k).
            local_kernel (int): k of ``mean="local"`` (odd).
        """
        super().__init__()
        if mode not in SASM_MODES:
            raise ValueError(f"rsseg_r_sasm: mode must be one of {SASM_MODES}, got {mode!r}.")
        if mean not in SASM_MEANS:
            raise ValueError(f"rsseg_r_sasm: mean must be one of {SASM_MEANS}, got {mean!r}.")
        if local_kernel < 1 or local_kernel % 2 == 0:
            raise ValueError(f"rsseg_r_sasm: local_kernel must be odd, got {local_kernel}.")
        self.mode, self.mean, self.local_kernel = mode, mean, local_kernel
        proj = nn.Conv2d(in_channels, channels, 1, bias=False)
        nn.init.kaiming_normal_(proj.weight, mode="fan_out", nonlinearity="relu")
        self.proj = nn.Sequential(proj, get_norm(norm, channels))
        if mode == "highpass":
            reduce = nn.Conv2d(2 * channels, channels, 1, bias=False)
            nn.init.kaiming_normal_(reduce.weight, mode="fan_out", nonlinearity="relu")
            self.gate = nn.Sequential(
                reduce,
                get_norm(norm, channels),
                nn.ReLU(),
                nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
                nn.Conv2d(channels, channels, 1),
            )
            self.scale = nn.Parameter(torch.zeros(channels))  # lambda: identity at init
        else:
            self.norm = nn.BatchNorm2d(channels, affine=False)
            self.gamma = nn.Conv2d(channels, channels, 3, padding=1)
            self.beta = nn.Conv2d(channels, channels, 3, padding=1)
            for conv in (self.gamma, self.beta):
                nn.init.zeros_(conv.weight)
                nn.init.zeros_(conv.bias)

    def context_mean(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> the mean that "highpass" separates from: (B, C, 1, 1) or (B, C, H, W)."""
        if self.mean == "global":
            return x.mean(dim=(2, 3), keepdim=True)
        k = self.local_kernel
        return F.avg_pool2d(x, k, stride=1, padding=k // 2, count_include_pad=False)

    def forward(self, deep: Tensor, local: Tensor, size: Sequence[int]) -> Dict[str, Tensor]:
        """
        Args:
            deep: (B, D, h, w) the deepest ViT feature G.
            local: (B, C, H', W') the local pathway's last state L.
            size: (H', W').

        Returns:
            dict: "fused" X and "separated" S, both (B, C, H', W').
        """
        g = F.interpolate(self.proj(deep), size=size, mode="bilinear", align_corners=False)
        x = g + local
        if self.mode == "highpass":
            alpha = torch.sigmoid(self.gate(torch.cat([g, local], dim=1)))
            s = x + self.scale.view(1, -1, 1, 1) * alpha * (x - self.context_mean(x))
        else:
            s = x + self.gamma(local) * self.norm(x) + self.beta(local)
        return {"fused": x, "separated": s}
