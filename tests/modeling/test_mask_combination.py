"""SegViT inference in bands of rows: the same scores as the straightforward computation (upsample
all mask logits, sigmoid, einsum over queries), bounded temporaries, and slide windows that do not
outlive their turn."""

import weakref

import pytest
import torch
import torch.nn.functional as F
from allocation_tracker import LargestTensor
from detectron2.modeling.postprocessing import sem_seg_postprocess

from segvit.modeling.meta_arch.inference import slide_inference
from segvit.modeling.meta_arch.postprocess import (
    combine_masks_and_classes,
    crop_and_resize,
    upsample_and_combine,
    upsample_rows,
    upsampled_argmax,
)


def straightforward_scores(logits, masks, padded_size, image_size):
    up = F.interpolate(masks, size=padded_size, mode="bilinear", align_corners=False)
    return combine_masks_and_classes(logits, up)[..., : image_size[0], : image_size[1]]


@pytest.mark.parametrize(
    "low, size",
    [
        ((4, 6), (64, 96)),
        ((5, 7), (67, 93)),
        ((9, 9), (9, 9)),
        ((20, 13), (7, 31)),
        ((1, 3), (5, 2)),
    ],
)
def test_rows_in_bands_equal_the_2d_resize(low, size):
    x = torch.randn(2, 3, *low) * 5
    full = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    bands = [upsample_rows(x, size, s, min(size[0], s + 4)) for s in range(0, size[0], 4)]
    torch.testing.assert_close(torch.cat(bands, dim=2), full, atol=1e-5, rtol=0)
    torch.testing.assert_close(upsample_rows(x[0], size, 0, size[0]), full[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "low, padded, image, band",
    [
        ((32, 32), (512, 512), (512, 512), 1 << 20),  # ViT-B 512: 32 x 1/16 masks
        ((4, 6), (64, 96), (64, 96), 1),  # one row per band
        ((5, 6), (80, 96), (67, 93), 5000),  # padded input: the padding is never computed
        ((3, 3), (48, 48), (33, 17), 1 << 30),  # one band
    ],
)
def test_banded_combination_equals_the_straightforward_one(low, padded, image, band):
    queries, classes = 7, 7
    logits = torch.randn(2, queries, classes + 1) * 3
    masks = torch.randn(2, queries, *low) * 6
    expected = straightforward_scores(logits, masks, padded, image)
    scores = upsample_and_combine(logits, masks, padded, image, band_elements=band)
    assert scores.shape == expected.shape == (2, classes, *image)
    assert (scores - expected).abs().max() <= 1e-5
    assert torch.equal(scores.argmax(1), expected.argmax(1))


def test_banded_combination_holds_no_full_size_mask_tensor():
    queries, classes, size = 150, 150, (256, 256)
    logits, masks = torch.randn(1, queries, classes + 1), torch.randn(1, queries, 16, 16)
    with LargestTensor() as plain:
        straightforward_scores(logits, masks, size, size)
    with LargestTensor() as banded:
        upsample_and_combine(logits, masks, size, size, band_elements=1 << 16)
    full = queries * size[0] * size[1]
    assert plain.numel == full  # the upsampled masks, their sigmoid, the scores
    # the output is the only full-size tensor; one band of masks is at most 1 << 16 elements
    assert banded.numel == classes * size[0] * size[1]
    with LargestTensor() as band_only:
        upsample_rows(masks, size, 0, 1)
    assert band_only.numel <= 1 << 16


def test_traced_combination_is_the_straightforward_graph():
    logits, masks = torch.randn(1, 5, 6), torch.randn(1, 5, 4, 4)

    def scores(logits, masks):
        return upsample_and_combine(logits, masks, (64, 64), (60, 64))

    traced = torch.jit.trace(scores, (logits, masks))
    assert "einsum" in str(traced.graph)
    torch.testing.assert_close(traced(logits, masks), scores(logits, masks), atol=1e-5, rtol=0)


def test_crop_and_resize_matches_detectron2_and_skips_the_identity():
    scores = torch.randn(4, 40, 48)
    assert crop_and_resize(scores, (40, 48), 40, 48) is scores
    traced = torch.jit.trace(lambda x: crop_and_resize(x, (40, 48), 40, 48), (scores,))
    assert "upsample_bilinear2d" in str(traced.graph)  # counted by fvcore, as officially
    for image_size, out in [((40, 48), (80, 96)), ((33, 47), (33, 47)), ((33, 47), (70, 20))]:
        torch.testing.assert_close(
            crop_and_resize(scores, image_size, *out), sem_seg_postprocess(scores, image_size, *out)
        )


@pytest.mark.parametrize("size", [(400, 600), (37, 1000), (20, 30)])
def test_upsampled_argmax_equals_resize_then_argmax_in_bounded_bands(size):
    classes = 24
    scores = torch.randn(classes, 20, 30)
    expected = F.interpolate(scores[None], size=size, mode="bilinear", align_corners=False)
    expected = expected[0].argmax(0)
    budget = 3 * classes * size[1]  # 3 rows per band
    with LargestTensor() as tracker:
        labels = upsampled_argmax(scores, size, band_elements=budget)
    assert labels.dtype == torch.int64 and torch.equal(labels, expected)
    assert tracker.numel <= max(budget, size[0] * size[1])  # a band, or the label map


def test_slide_inference_releases_each_window_before_the_next():
    """At most one window's scores alive at a time: each predict call starts with all earlier
    outputs freed (counted with weak references, not timed)."""
    alive_at_call = []
    outputs = []

    def predict(window):
        alive_at_call.append(sum(ref() is not None for ref in outputs))
        out = window.mean(1, keepdim=True).repeat(1, 5, 1, 1)  # (1, 5, h, w)
        outputs.append(weakref.ref(out))
        return out

    image = torch.randn(3, 100, 150)
    scores = slide_inference(image, predict, crop_size=(48, 64), stride=(32, 40))
    assert len(alive_at_call) == 3 * 4  # windows at y 0, 32, 52 and x 0, 40, 80, 86
    assert alive_at_call == [0] * len(alive_at_call)
    assert scores.shape == (5, 100, 150)
    torch.testing.assert_close(scores, image.mean(0, keepdim=True).expand(5, -1, -1))
