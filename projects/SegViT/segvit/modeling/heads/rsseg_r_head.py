"""RSSeg-R head: local pathway of LSBs + SASM + DCA on a plain ViT (a reconstruction of RSSeg).

RSSeg (Hong et al., arXiv 2212.13764) has no public full text or code; what its abstract and
figure captions state, and what we chose (and why), is in docs/rsseg.md. Data flow (stride 16
tokens, pathway at ``pathway_scale`` x the token grid, i.e. stride 8 by default)::

    taps (shallow..middle) -> LocalPathway (LSBs) -> L ┐
    deepest tap G ───────────────────────────────────> SASM -> S -> DCA -> logits (B, K, H', W')

Training-only (the "dotted box" of RSSeg's Fig. 4 is dropped at inference; which module it holds
is not stated): the region classifier of DCA's auxiliary loss, the optional FCN head on L, and the
whole DCA when ``dca_at_inference=False`` (then a 1x1 classifier on S predicts at inference). The
meta-architecture (:class:`~segvit.modeling.meta_arch.rsseg_r.RSSegR`) upsamples the logits to the
image and computes the losses (:class:`~segvit.modeling.losses.rsseg_r_losses.RSSegRCriterion`).
"""

from typing import Dict, List, Optional, Sequence, Tuple

from detectron2.config import CfgNode as CN
from detectron2.config import configurable
from detectron2.layers import ShapeSpec, get_norm
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY
from torch import Tensor, nn

from .common import check_in_features
from .rsseg_r_dca import DCA
from .rsseg_r_local_path import LocalPathway
from .rsseg_r_sasm import SASM

__all__ = ["RSSegRHead", "add_rsseg_r_config", "STEMS", "stem_num_convs"]

STEMS = ("none", "conv")


def stem_num_convs(feature_stride: int, pathway_scale: int) -> int:
    """Stride-2 convs of the image stem that reach the pathway grid (stride / scale = 2^n)."""
    stride = feature_stride // pathway_scale
    if stride < 2 or stride & (stride - 1) or feature_stride % pathway_scale:
        raise ValueError(
            f"rsseg_r_head: stem='conv' needs feature_stride / pathway_scale to be a power of two "
            f">= 2, got {feature_stride} / {pathway_scale}; use stem='none'."
        )
    return stride.bit_length() - 1


@SEM_SEG_HEADS_REGISTRY.register()
class RSSegRHead(nn.Module):
    """RSSeg-R decode head (see module doc). ``forward`` is the inference graph; ``forward_train``
    adds the auxiliary outputs."""

    @configurable
    def __init__(
        self,
        *,
        local_features: Sequence[str],
        global_feature: str,
        in_channels: int,
        num_classes: int,
        channels: int = 256,
        norm: str = "SyncBN",
        pathway_scale: int = 2,
        feature_stride: int = 16,
        stem: str = "none",
        sasm_mode: str = "highpass",
        sasm_mean: str = "global",
        sasm_local_kernel: int = 7,
        dca_layers: int = 2,
        dca_heads: int = 8,
        dca_norm: str = "pixels",
        dca_at_inference: bool = True,
        aux_fcn: bool = False,
    ):
        """
        Args:
            local_features (list[str]): backbone features read by the LSBs, shallowest first
                (ViT-B ``block2, block5, block8``; ViT-L ``block5, block11, block17``).
            global_feature (str): the deepest feature, fused in SASM (``block11`` / ``block23``).
            in_channels (int): ViT width D.
            num_classes (int): K.
            channels (int): pathway / SASM / DCA width C.
            norm (str): Detectron2 norm of the conv parts ("SyncBN", "BN").
            pathway_scale (int): pathway grid / token grid: 2 (stride 8 on patch 16) or 1.
            feature_stride (int): the backbone features' stride (the ViT's patch size); only the
                image stem uses it.
            stem (str): "none" (the pathway starts from the first tap) or "conv" (an image stem
                of stride-2 convs gives its initial state).
            sasm_mode, sasm_mean, sasm_local_kernel: see :class:`SASM`.
            dca_layers, dca_heads, dca_norm: see :class:`DCA`.
            dca_at_inference (bool): True: DCA predicts. False: DCA is a training-only auxiliary
                decoder and a 1x1 classifier on S predicts.
            aux_fcn (bool): a training-only FCN head (conv3x3 + norm + ReLU + conv1x1) on L.
        """
        super().__init__()
        if stem not in STEMS:
            raise ValueError(f"rsseg_r_head: stem must be one of {STEMS}, got {stem!r}.")
        if pathway_scale not in (1, 2):
            raise ValueError(f"rsseg_r_head: pathway_scale must be 1 or 2, got {pathway_scale}.")
        self.local_features = list(local_features)
        self.global_feature = global_feature
        self.num_classes = num_classes
        self.pathway_scale = pathway_scale
        self.needs_image = stem == "conv"
        stem_convs = stem_num_convs(feature_stride, pathway_scale) if self.needs_image else 0
        self.local_path = LocalPathway(
            in_channels, channels, len(self.local_features), norm, stem_convs
        )
        self.sasm = SASM(in_channels, channels, norm, sasm_mode, sasm_mean, sasm_local_kernel)
        self.dca = DCA(channels, num_classes, dca_layers, dca_heads, dca_norm)
        self.dca_at_inference = dca_at_inference
        self.classifier = None if dca_at_inference else nn.Conv2d(channels, num_classes, 1)
        # training-only modules
        self.region_classifier = nn.Linear(channels, num_classes)
        self.aux_fcn = None
        if aux_fcn:
            conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            self.aux_fcn = nn.Sequential(
                conv, get_norm(norm, channels), nn.ReLU(), nn.Conv2d(channels, num_classes, 1)
            )

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        r = cfg.MODEL.RSSEG_R
        names = list(r.LOCAL_FEATURES) + [r.GLOBAL_FEATURE]
        return {
            "local_features": list(r.LOCAL_FEATURES),
            "global_feature": r.GLOBAL_FEATURE,
            # One width for the LSB and SASM taps: both read ``in_channels``.
            "in_channels": check_in_features(
                input_shape, names, "MODEL.RSSEG_R.LOCAL_FEATURES + GLOBAL_FEATURE"
            ),
            "num_classes": cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
            "channels": r.CHANNELS,
            "norm": cfg.MODEL.SEM_SEG_HEAD.NORM,
            "pathway_scale": r.PATHWAY_SCALE,
            "feature_stride": input_shape[r.GLOBAL_FEATURE].stride,
            "stem": r.STEM,
            "sasm_mode": r.SASM_MODE,
            "sasm_mean": r.SASM_MEAN,
            "sasm_local_kernel": r.SASM_LOCAL_KERNEL,
            "dca_layers": r.DCA_LAYERS,
            "dca_heads": r.DCA_HEADS,
            "dca_norm": r.DCA_NORM,
            "dca_at_inference": r.DCA_AT_INFERENCE,
            "aux_fcn": r.AUX_FCN,
        }

    def training_only_modules(self) -> List[str]:
        """Names of the submodules that the inference graph never runs."""
        names = ["region_classifier"] + (["aux_fcn"] if self.aux_fcn is not None else [])
        return names + ([] if self.dca_at_inference else ["dca"])

    def _grid(self, features: Dict[str, Tensor]) -> Tuple[int, int]:
        h, w = features[self.global_feature].shape[-2:]
        return h * self.pathway_scale, w * self.pathway_scale

    def forward_features(
        self, features: Dict[str, Tensor], image: Optional[Tensor] = None
    ) -> Dict[str, Tensor]:
        """Pathway features (all (B, C, H', W')): "local" L, "fused" X and "separated" S."""
        size = self._grid(features)
        taps = [features[name] for name in self.local_features]
        local = self.local_path(taps, size, image)
        out = self.sasm(features[self.global_feature], local, size)
        return {"local": local, **out}

    def forward(self, features: Dict[str, Tensor], image: Optional[Tensor] = None) -> Tensor:
        """Inference graph: (B, K, H', W') class logits (no auxiliary module runs)."""
        separated = self.forward_features(features, image)["separated"]
        if self.classifier is not None:
            return self.classifier(separated)
        return self.dca(separated)["logits"]

    def forward_train(
        self, features: Dict[str, Tensor], image: Optional[Tensor] = None
    ) -> Dict[str, object]:
        """Training outputs: "logits" (B, K, H', W') as :meth:`forward`; "assign" (list of
        (B, K, H', W')), "region_logits" (list of (B, K, K): row k classifies class k's region
        representation), and "aux_logits" {name: (B, K, H', W')} of the auxiliary decoders."""
        feats = self.forward_features(features, image)
        dca = self.dca(feats["separated"], with_aux=True)
        aux_logits: Dict[str, Tensor] = {}
        if self.classifier is not None:
            logits = self.classifier(feats["separated"])
            aux_logits["dca"] = dca["logits"]
        else:
            logits = dca["logits"]
        if self.aux_fcn is not None:
            aux_logits["fcn"] = self.aux_fcn(feats["local"])
        return {
            "logits": logits,
            "assign": dca["assign"],
            "region_logits": [self.region_classifier(r) for r in dca["regions"]],
            "aux_logits": aux_logits,
        }


def add_rsseg_r_config(cfg: CN) -> CN:
    """Add ``MODEL.RSSEG_R`` (head) and ``MODEL.RSSEG_R.LOSS`` keys to a yacs config, in place.

    Defaults: ViT-B/16 taps, width 256 (docs/rsseg.md)."""
    r = cfg.MODEL.RSSEG_R = CN()
    r.LOCAL_FEATURES = ["block2", "block5", "block8"]
    r.GLOBAL_FEATURE = "block11"
    r.CHANNELS = 256
    r.PATHWAY_SCALE = 2
    r.STEM = "none"
    r.SASM_MODE = "highpass"
    r.SASM_MEAN = "global"
    r.SASM_LOCAL_KERNEL = 7
    r.DCA_LAYERS = 2
    r.DCA_HEADS = 8
    r.DCA_NORM = "pixels"
    r.DCA_AT_INFERENCE = True
    r.AUX_FCN = False
    loss = r.LOSS = CN()
    loss.MAIN_WEIGHT = 1.0
    loss.ASSIGN_WEIGHT = 0.4
    loss.REGION_WEIGHT = 0.4
    loss.AUX_WEIGHT = 0.4
    loss.REGION_MIN_PIXELS = 4
    loss.ASSIGN_STRIDE = 4
    return cfg
