"""ConvStem: a drop-in replacement of the ViT's patch embedding (used by the from-scratch demo)."""

import pytest
import torch

from segvit.modeling.backbone.conv_stem import ConvStem
from segvit.modeling.backbone.vit import ViT


@pytest.mark.parametrize("patch_size", [8, 16])
def test_conv_stem_has_the_patch_stride(patch_size):
    stem = ConvStem(patch_size=patch_size, embed_dim=32)
    assert stem(torch.zeros(2, 3, 64, 96)).shape == (2, 32, 64 // patch_size, 96 // patch_size)


def test_vit_with_an_injected_stem_trains_every_parameter():
    vit = ViT(
        pretrain_img_size=64,
        patch_size=8,
        embed_dim=32,
        depth=2,
        num_heads=2,
        out_indices=(0, 1),
        patch_embed=ConvStem(patch_size=8, embed_dim=32),
    )
    out = vit(torch.randn(2, 3, 40, 56))
    assert out["block1"].shape == (2, 32, 5, 7)
    sum(o.sum() for o in out.values()).backward()
    assert all(p.grad is not None for p in vit.parameters())


def test_non_power_of_two_patch_is_refused():
    with pytest.raises(ValueError, match="power-of-two"):
        ConvStem(patch_size=12)
