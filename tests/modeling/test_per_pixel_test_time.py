"""Test-time merging of the per-pixel decoders (SETR-naive, Segmenter, DEPICT) against the official
rule, written here with plain tensor ops:

- slide windows (``rstrudel/segmenter: segm/model/utils.py:sliding_window`` + ``merge_windows``;
  mmseg ``EncoderDecoder.slide_inference`` + ``inference`` place the same windows and merge the
  same way): the window *logits* are summed, divided by the window count, resized to the output
  size, and one softmax over the classes follows;
- multi-scale + flip (Segmenter ``inference``; mmseg ``aug_test``): each (scale, flip) pass is
  merged as above, flipped back, turned into probabilities, and the probabilities are averaged.

The image is resized for each scale with the same ``F.interpolate`` as ours: the official resize
belongs to the data pipeline; what is compared is how window and pass outputs are merged.
"""

import pytest
import torch
import torch.nn.functional as F
from modeling_helpers import PER_PIXEL_HEADS, random_inputs, tiny_per_pixel_model

from segvit.modeling.meta_arch.inference import InferenceConfig

NUM_CLASSES = 5
HEIGHT, WIDTH = 32, 48  # with 32x32 windows at stride 16: two windows overlapping on 16 columns
WINDOW, STRIDE = 32, 16


def official_anchors(size: int) -> list:
    """Segmenter's ``sliding_window`` offsets along one axis (needs size >= WINDOW)."""
    return [a for a in range(0, size, STRIDE) if a < size - WINDOW] + [size - WINDOW]


def official_merge(model, image: torch.Tensor, out_size, flip: bool) -> torch.Tensor:
    """``merge_windows``: (3, h, w) normalised image -> (K, *out_size) probabilities."""
    _, h, w = image.shape
    logit = torch.zeros(NUM_CLASSES, h, w)
    count = torch.zeros(1, h, w)
    for y in official_anchors(h):
        for x in official_anchors(w):
            window = image[None, :, y : y + WINDOW, x : x + WINDOW]
            logit[:, y : y + WINDOW, x : x + WINDOW] += model.predict_scores(window)[0]
            count[:, y : y + WINDOW, x : x + WINDOW] += 1
    logit = F.interpolate((logit / count)[None], out_size, mode="bilinear")[0]
    if flip:
        logit = logit.flip(2)
    return logit.softmax(0)


def official_multi_scale_flip(model, image: torch.Tensor, scales) -> torch.Tensor:
    """Segmenter's ``inference`` over (scale, flip) passes: the mean of their probabilities."""
    _, h, w = image.shape
    passes = []
    for scale in scales:
        size = (round(h * scale), round(w * scale))
        scaled = F.interpolate(image[None], size, mode="bilinear", align_corners=False)[0]
        for flip in (False, True):
            passes.append(official_merge(model, scaled.flip(2) if flip else scaled, (h, w), flip))
    return torch.stack(passes).mean(0)


def run(model, inputs, **inference) -> torch.Tensor:
    model.inference = InferenceConfig(
        crop_size=(WINDOW, WINDOW), stride=(STRIDE, STRIDE), **inference
    )
    with torch.no_grad():
        return model(inputs)[0]["sem_seg"]


def assert_same_result(ours: torch.Tensor, official: torch.Tensor) -> None:
    torch.testing.assert_close(ours, official, atol=1e-6, rtol=0)
    assert torch.equal(ours.argmax(0), official.argmax(0))


@pytest.fixture(params=sorted(PER_PIXEL_HEADS))
def model_and_image(request):
    model = tiny_per_pixel_model(request.param, NUM_CLASSES).eval()
    inputs = random_inputs([(HEIGHT, WIDTH)], NUM_CLASSES, with_target=False)
    return model, inputs, model.normalize(inputs[0]["image"])


def test_slide_averages_window_logits_then_one_softmax(model_and_image):
    model, inputs, image = model_and_image
    ours = run(model, inputs, mode="slide")
    with torch.no_grad():
        official = official_merge(model, image, (HEIGHT, WIDTH), flip=False)
    assert_same_result(ours, official)
    # Not vacuous: averaging each window's probabilities instead gives other numbers.
    with torch.no_grad():
        left = model.predict_scores(image[None, :, :, :WINDOW])[0].softmax(0)
        right = model.predict_scores(image[None, :, :, STRIDE:])[0].softmax(0)
    overlap = (left[:, :, STRIDE:] + right[:, :, : WINDOW - STRIDE]) / 2
    assert (overlap - ours[:, :, STRIDE:WINDOW]).abs().max() > 1e-5


def test_multi_scale_flip_averages_each_pass_probabilities(model_and_image):
    model, inputs, image = model_and_image
    scales = (1.0, 1.5)  # 32x48 (2 windows) and 48x72 (2 x 4 windows)
    ours = run(model, inputs, mode="ms_flip", scales=scales, flip=True, ms_slide=True)
    with torch.no_grad():
        official = official_multi_scale_flip(model, image, scales)
    assert_same_result(ours, official)
