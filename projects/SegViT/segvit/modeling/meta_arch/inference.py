"""Test-time inference modes: whole image, sliding window, and multi-scale + flip.

Each mode maps one normalised image ``(3, H, W)`` to per-class scores ``(K, H, W)`` through a
callable ``predict(images (B, 3, h, w)) -> (B, K, h, w)`` that runs the network on whole
(padded) images. Slide windows follow mmseg's ``EncoderDecoder.slide_inference`` (the paper's
protocol; ``rstrudel/segmenter: segm/model/utils.py:sliding_window`` places the same windows):
windows of ``crop`` placed every ``stride``, the last one flush with the border, raw scores
(logits) averaged where windows overlap; an image smaller than the window is a single window (the
model pads it). Any softmax comes after (``SegmentorBase.softmax_output``).
"""

from dataclasses import dataclass, replace
from typing import Callable, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

Predictor = Callable[[torch.Tensor], torch.Tensor]

INFERENCE_MODES = ("whole", "slide", "ms_flip")
# How "ms_flip" averages its passes: "probs" = softmax over classes of each pass, then the mean
# (mmseg's aug_test, the official protocol); "scores" = the mean of the raw scores.
MS_AVERAGES = ("probs", "scores")


@dataclass(frozen=True)
class InferenceConfig:
    """How a test image is turned into scores (a model setting, not a trainer branch).

    Args:
        mode (str): "whole" (one pass over the padded image), "slide" (sliding windows) or
            "ms_flip" (average over ``scales`` x {image, flipped image}, each pass sliding when
            ``ms_slide`` is true, as the paper's multi-scale numbers are).
        crop_size (tuple[int, int]): slide window (H, W), e.g. (512, 512).
        stride (tuple[int, int]): slide stride (H, W), e.g. (341, 341).
        scales (tuple[float]): multi-scale factors of the test image.
        flip (bool): add horizontally flipped passes in "ms_flip".
        ms_slide (bool): each multi-scale pass uses sliding windows (else whole image).
        ms_average (str): "probs" (default, mmseg's ``aug_test``): each pass's scores, resized to
            the image, become class probabilities (softmax over classes) before the passes are
            averaged (also ``rstrudel/segmenter: segm/model/utils.py:inference``); "scores": the
            raw scores are averaged. Slide windows are unaffected: they average raw window scores,
            before the one softmax of mmseg and Segmenter.
    """

    mode: str = "whole"
    crop_size: Tuple[int, int] = (512, 512)
    stride: Tuple[int, int] = (341, 341)
    scales: Tuple[float, ...] = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)
    flip: bool = True
    ms_slide: bool = True
    ms_average: str = "probs"

    @property
    def averages_probabilities(self) -> bool:
        """True where the result is a mean of class probabilities (ms_flip, ms_average "probs")."""
        return self.mode == "ms_flip" and self.ms_average == "probs"

    def __post_init__(self):
        if self.mode not in INFERENCE_MODES:
            raise ValueError(
                f"inference mode {self.mode!r} is unknown; use one of {INFERENCE_MODES} "
                "(model.inference.mode in the config)"
            )
        if self.ms_average not in MS_AVERAGES:
            raise ValueError(
                f"ms_average {self.ms_average!r} is unknown; use one of {MS_AVERAGES} "
                "(model.inference.ms_average in the config)"
            )
        if min(self.crop_size) <= 0 or min(self.stride) <= 0:
            raise ValueError(
                f"crop_size {self.crop_size} and stride {self.stride} must be positive"
            )


def slide_windows(size: int, crop: int, stride: int) -> Sequence[int]:
    """Start offsets of windows along one axis (mmseg rule; the last window ends at the border)."""
    if size <= crop:
        return [0]
    num = (size - crop + stride - 1) // stride + 1
    return sorted({min(i * stride, size - crop) for i in range(num)})


def slide_inference(image: torch.Tensor, predict: Predictor, crop_size, stride) -> torch.Tensor:
    """Average ``predict`` over sliding windows. image (3, H, W) -> scores (K, H, W).

    Memory: the (K, H, W) sum plus one window at a time; a window's scores are released before the
    next window runs, and the average is taken in place.
    """
    _, height, width = image.shape
    scores, counts = None, image.new_zeros((1, height, width))
    for y in slide_windows(height, crop_size[0], stride[0]):
        for x in slide_windows(width, crop_size[1], stride[1]):
            window = image[:, y : y + crop_size[0], x : x + crop_size[1]]
            out = predict(window[None])[0]  # (K, h, w)
            if scores is None:
                scores = image.new_zeros((out.shape[0], height, width))
            scores[:, y : y + out.shape[1], x : x + out.shape[2]] += out
            counts[:, y : y + out.shape[1], x : x + out.shape[2]] += 1
            del out  # not alive while the next window runs
    return scores.div_(counts)


def single_scale_inference(image: torch.Tensor, predict: Predictor, cfg: InferenceConfig):
    """One pass at the given scale: whole image or sliding windows. (3, H, W) -> (K, H, W)."""
    if cfg.mode == "slide" or (cfg.mode == "ms_flip" and cfg.ms_slide):
        return slide_inference(image, predict, cfg.crop_size, cfg.stride)
    return predict(image[None])[0]


def multi_scale_flip_inference(image: torch.Tensor, predict: Predictor, cfg: InferenceConfig):
    """Average over scales (and flips), each pass resized back to (H, W). -> (K, H, W).

    With ``cfg.ms_average == "probs"`` each pass is turned into class probabilities (softmax over
    K) before averaging.
    """
    to_probs = cfg.ms_average == "probs"
    _, height, width = image.shape
    total, passes = None, 0
    for scale in cfg.scales:
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        scaled = F.interpolate(image[None], size=size, mode="bilinear", align_corners=False)[0]
        flips = (False, True) if cfg.flip else (False,)
        for flip in flips:
            inp = scaled.flip(-1) if flip else scaled
            out = single_scale_inference(inp, predict, cfg)
            out = out.flip(-1) if flip else out
            out = F.interpolate(
                out[None], size=(height, width), mode="bilinear", align_corners=False
            )[0]
            out = out.softmax(0) if to_probs else out  # (K, H, W)
            total = out if total is None else total + out
            passes += 1
    return total / passes


def run_inference(image: torch.Tensor, predict: Predictor, cfg: InferenceConfig) -> torch.Tensor:
    """Dispatch on ``cfg.mode``. image (3, H, W), normalised -> scores (K, H, W)."""
    if cfg.mode == "ms_flip":
        return multi_scale_flip_inference(image, predict, cfg)
    return single_scale_inference(image, predict, cfg)


def parse_eval_modes(text: str) -> Optional[List[str]]:
    """``"whole,slide"`` -> ``["whole", "slide"]``; ``""`` -> None (the configured mode).

    Unknown names fail here, before a model is built (``--eval-modes`` of ``train_net.py``).
    """
    modes = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in modes if m not in INFERENCE_MODES]
    if unknown:
        raise ValueError(f"--eval-modes: unknown mode(s) {unknown}; use {list(INFERENCE_MODES)}")
    return modes or None


def set_inference_mode(model: torch.nn.Module, mode: str) -> None:
    """Switch the test-time ``mode`` ("whole", "slide", "ms_flip") of a model with an
    ``inference`` :class:`InferenceConfig` (SegViT, SETR), DDP-wrapped or not."""
    model = getattr(model, "module", model)
    if not hasattr(model, "inference"):
        raise ValueError(f"--eval-modes {mode}: {type(model).__name__} has no inference setting")
    model.inference = replace(model.inference, mode=mode)
