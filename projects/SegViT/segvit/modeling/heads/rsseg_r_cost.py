"""Closed-form parameters and MACs of the RSSeg-R head (what it adds to the ViT).

Symbols: D ViT width, C head width, K classes, n LSBs, L DCA layers, T = h*w tokens, N = H'*W'
pathway cells (N = 4T at ``pathway_scale=2``). Per module (defaults; derivations in
docs/rsseg.md):

- LSBs: params n*(D*C + 19*C^2 + 8*C), MACs n*(D*C*T + 19*C^2*N)
- SASM "highpass": D*C + 3*C^2 + 15*C, MACs D*C*T + 3*C^2*N + 9*C*N;
  "spade": D*C + 18*C^2 + 4*C, MACs D*C*T + 18*C^2*N
- DCA: K*C + 2*C + L*(12*C^2 + 13*C) + 2*C^2 + 4*C + 1,
  MACs L*(2*N*C^2 + 10*K*C^2 + 2*K*N*C) + K*C^2 + N*C^2 + K*C*N

MACs count the multiply-adds of convolutions, linear layers and matmuls (fvcore's "flops" for
those ops; norms, activations, pooling and resizing are not included). GFLOPs = 2 x GMACs.
"""

from dataclasses import dataclass, field
from typing import Dict, Tuple

from .rsseg_r_head import stem_num_convs
from .rsseg_r_local_path import stem_widths

__all__ = ["RSSegRCost", "rsseg_r_cost"]


@dataclass
class RSSegRCost:
    """Per-module parameters and MACs; ``inference_*`` sums the modules the inference graph runs,
    ``training_only_params`` the others."""

    params: Dict[str, int] = field(default_factory=dict)
    macs: Dict[str, int] = field(default_factory=dict)
    training_only: Tuple[str, ...] = ()

    @property
    def inference_params(self) -> int:
        return sum(v for k, v in self.params.items() if k not in self.training_only)

    @property
    def training_only_params(self) -> int:
        return sum(v for k, v in self.params.items() if k in self.training_only)

    @property
    def inference_macs(self) -> int:
        return sum(v for k, v in self.macs.items() if k not in self.training_only)


def _ceil_half(x: int) -> int:
    return (x + 1) // 2


def rsseg_r_cost(
    *,
    in_channels: int,
    channels: int,
    num_classes: int,
    num_local: int = 3,
    token_grid: Tuple[int, int] = (32, 32),
    pathway_scale: int = 2,
    feature_stride: int = 16,
    stem: str = "none",
    sasm_mode: str = "highpass",
    sasm_mean: str = "global",
    dca_norm: str = "pixels",
    dca_layers: int = 2,
    dca_at_inference: bool = True,
    aux_fcn: bool = False,
) -> RSSegRCost:
    """Parameters and MACs of :class:`RSSegRHead` with these arguments on a ``token_grid`` (h, w)
    of ViT tokens (the padded image is (h * feature_stride, w * feature_stride)).

    ``sasm_mean`` and ``dca_norm`` are accepted so that the head's flags can be passed through;
    they change no parameter and no multiply-add."""
    del sasm_mean, dca_norm
    d, c, k, n_l, n_d = in_channels, channels, num_classes, num_local, dca_layers
    h, w = token_grid
    t, n = h * w, h * w * pathway_scale**2
    cost = RSSegRCost()
    cost.params["local_path"] = n_l * (d * c + 19 * c * c + 8 * c)
    cost.macs["local_path"] = n_l * (d * c * t + 19 * c * c * n)
    if stem == "conv":
        widths = [3] + stem_widths(c, stem_num_convs(feature_stride, pathway_scale))
        sh, sw = h * feature_stride, w * feature_stride
        for cin, cout in zip(widths[:-1], widths[1:]):
            sh, sw = _ceil_half(sh), _ceil_half(sw)
            cost.params["local_path"] += 9 * cin * cout + 2 * cout
            cost.macs["local_path"] += 9 * cin * cout * sh * sw
    if sasm_mode == "highpass":
        cost.params["sasm"] = d * c + 3 * c * c + 15 * c
        cost.macs["sasm"] = d * c * t + 3 * c * c * n + 9 * c * n
    else:
        cost.params["sasm"] = d * c + 18 * c * c + 4 * c
        cost.macs["sasm"] = d * c * t + 18 * c * c * n
    cost.params["dca"] = k * c + 2 * c + n_d * (12 * c * c + 13 * c) + 2 * c * c + 4 * c + 1
    cost.macs["dca"] = (
        n_d * (2 * n * c * c + 10 * k * c * c + 2 * k * n * c) + k * c * c + n * c * c + k * c * n
    )
    training_only = ["region_classifier"]
    cost.params["region_classifier"] = c * k + k
    cost.macs["region_classifier"] = 0
    if not dca_at_inference:
        cost.params["classifier"] = c * k + k
        cost.macs["classifier"] = c * k * n
        training_only.append("dca")
    if aux_fcn:
        cost.params["aux_fcn"] = 9 * c * c + 2 * c + c * k + k
        cost.macs["aux_fcn"] = (9 * c * c + c * k) * n
        training_only.append("aux_fcn")
    cost.training_only = tuple(training_only)
    return cost
