"""Tiny versions of the MaskFormer / Mask2Former / SegViT-on-Swin model configs, for CPU tests.

Shared by the baseline tests and the experiment-config tests: the structure (which modules, which
features feed which decoder) is kept, only widths, depths and query counts shrink.
"""

from detectron2.modeling.backbone import SimpleFeaturePyramid
from omegaconf import OmegaConf

from segvit.baselines import MSDeformAttnPixelDecoder, SemSegMaskFormer, SwinBackbone
from segvit.baselines.deformable_neck import MSDeformAttnNeck

NUM_CLASSES = 5


def target_of(node):
    """The class a LazyCall node builds, or None."""
    target = node.get("_target_") if OmegaConf.is_dict(node) else None
    return target if isinstance(target, type) else None


def _shrink_swin(swin) -> None:
    swin.embed_dim, swin.depths, swin.num_heads = 32, (1, 1, 1, 1), (1, 2, 4, 8)


def _shrink_vit_pyramid(pyramid) -> None:
    vit = pyramid.net
    vit.embed_dim, vit.depth, vit.num_heads, vit.out_indices = 32, 2, 2, (1,)
    vit.pretrain_img_size = 64
    pyramid.in_feature, pyramid.out_channels = "block1", 32


def _shrink_deformable_encoder(pixel_decoder) -> None:
    pixel_decoder.conv_dim = 32  # GroupNorm(32, .) needs a multiple of 32
    pixel_decoder.mask_dim = 32
    pixel_decoder.transformer_nheads = 2
    pixel_decoder.transformer_enc_layers = 1
    pixel_decoder.transformer_dim_feedforward = 64


def is_baseline(model_cfg) -> bool:
    """True for the model configs this module knows how to shrink."""
    backbone = target_of(model_cfg.get("backbone"))
    return target_of(model_cfg) is SemSegMaskFormer or backbone is MSDeformAttnNeck


def shrink_baseline(m, num_classes: int = NUM_CLASSES) -> None:
    """Shrink a SemSegMaskFormer or SegViT-on-Swin model config in place."""
    if target_of(m.backbone) is MSDeformAttnNeck:  # SegViT on Swin
        _shrink_swin(m.backbone.net)
        _shrink_deformable_encoder(m.backbone.pixel_decoder)
        m.head.num_classes, m.head.embed_dim, m.head.num_heads = num_classes, 32, 2
        m.head.layers_per_stage = 1
        m.inference.mode = "whole"
        return
    m.num_queries = 10
    head = m.sem_seg_head
    head.num_classes = num_classes
    head.pixel_decoder.conv_dim = 32
    head.pixel_decoder.mask_dim = 32
    pred = head.transformer_predictor
    pred.hidden_dim, pred.nheads, pred.dim_feedforward, pred.dec_layers = 32, 2, 64, 2
    mask2former = target_of(head.pixel_decoder) is MSDeformAttnPixelDecoder
    if mask2former:
        _shrink_deformable_encoder(head.pixel_decoder)
        m.criterion.num_points = 64
    backbone = target_of(m.backbone)
    if backbone is SimpleFeaturePyramid:
        _shrink_vit_pyramid(m.backbone)
    elif backbone is SwinBackbone:
        _shrink_swin(m.backbone)
        if not mask2former:  # MaskFormer's decoder reads Swin's res5 directly
            pred.in_channels = 8 * 32
    else:
        raise ValueError(f"no shrink rule for backbone {backbone}")
