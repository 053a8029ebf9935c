"""What every semantic-segmentation meta-architecture here shares (SegViT and the per-pixel one of
SETR-naive, Segmenter and DEPICT).

Normalise the images, pad a training batch (targets padded with the ignore value), run the test
images through the configured inference mode (whole / slide / ms_flip), and return Detectron2's
``[{"sem_seg": (K, height, width)}]``. Subclasses say how a padded batch becomes losses
(:meth:`losses`) and how normalised images become per-class scores (:meth:`predict_scores`).

Named ``SegmentorBase``, not ``SemanticSegmentor``: Detectron2 registers that name for its own
per-pixel meta-architecture (``detectron2/modeling/meta_arch/semantic_seg.py``).
"""

from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from detectron2.modeling import build_backbone, build_sem_seg_head
from detectron2.modeling.backbone import Backbone
from detectron2.structures import ImageList
from torch import nn

from .inference import InferenceConfig, run_inference
from .postprocess import crop_and_resize

__all__ = ["SegmentorBase", "inference_config_from_cfg"]


def inference_config_from_cfg(cfg) -> InferenceConfig:
    """The ``cfg.MODEL.SEGVIT.INFERENCE`` keys of a yacs config as an :class:`InferenceConfig`."""
    inf = cfg.MODEL.SEGVIT.INFERENCE
    return InferenceConfig(
        mode=inf.MODE,
        crop_size=tuple(inf.CROP_SIZE),
        stride=tuple(inf.STRIDE),
        scales=tuple(inf.SCALES),
        flip=inf.FLIP,
        ms_average=inf.MS_AVERAGE,
    )


class SegmentorBase(nn.Module):
    """Base class: backbone + head; training returns losses, inference per-class scores.

    Args:
        backbone: a Detectron2 backbone returning the feature maps the head reads.
        head: the decode head.
        pixel_mean, pixel_std: per-channel normalisation in the input's channel order.
        size_divisibility: pad images to a multiple of this (default: the backbone's).
        ignore_value: label value of ignored pixels (and of the padding of targets).
        inference: how test images are processed (whole / slide / ms_flip).
    """

    # True where the output is the softmax over classes of the merged scores (whole image, slide
    # windows averaged, raw ms_flip mean), taken after the resize to the output size: the official
    # test code of the per-pixel decoders (mmseg ``EncoderDecoder.inference``, Segmenter
    # ``merge_windows``). ms_flip with ms_average="probs" averages probabilities already.
    softmax_output = False

    def __init__(
        self,
        *,
        backbone: Backbone,
        head: nn.Module,
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
        size_divisibility: Optional[int] = None,
        ignore_value: int = 255,
        inference: Optional[InferenceConfig] = None,
    ):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)
        if size_divisibility is None:
            size_divisibility = max(backbone.size_divisibility, 1)
        self.size_divisibility = size_divisibility
        self.ignore_value = ignore_value
        self.inference = inference if inference is not None else InferenceConfig()

    @staticmethod
    def base_args_from_cfg(cfg) -> Dict:
        """The constructor arguments every subclass reads from a yacs config the same way:
        backbone, head (built on the backbone's output shapes), normalisation, ignore value and
        inference settings. Subclasses add their own (criterion, loss weight)."""
        backbone = build_backbone(cfg)
        return {
            "backbone": backbone,
            "head": build_sem_seg_head(cfg, backbone.output_shape()),
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
            "ignore_value": cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE,
            "inference": inference_config_from_cfg(cfg),
        }

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def forward(self, batched_inputs: List[Dict[str, torch.Tensor]]):
        """
        Args:
            batched_inputs: Detectron2 dicts with "image" (3, H, W) in the model's channel order,
                "sem_seg" (H, W) long targets (training), "height"/"width" (output size).
        Returns:
            training: dict of weighted losses; inference: list of {"sem_seg": (K, height, width)}.
        """
        images = [self.normalize(x["image"]) for x in batched_inputs]
        if self.training:
            return self.losses(*self.padded_batch(images, batched_inputs))
        results = []
        for image, inputs in zip(images, batched_inputs):
            scores = run_inference(image, self.predict_scores, self.inference)
            height = inputs.get("height", image.shape[-2])
            width = inputs.get("width", image.shape[-1])
            scores = crop_and_resize(scores, image.shape[-2:], height, width)
            if self.softmax_output and not self.inference.averages_probabilities:
                scores = scores.softmax(dim=0)
            results.append({"sem_seg": scores})
        return results

    def normalize(self, image: torch.Tensor) -> torch.Tensor:
        """(3, H, W) uint8 image -> normalised float on the model's device."""
        return (image.to(self.device).float() - self.pixel_mean) / self.pixel_std

    def pad(self, images: Sequence[torch.Tensor]) -> torch.Tensor:
        """Normalised images (each (3, H_i, W_i)) -> (B, 3, Hp, Wp) zero-padded batch.

        A (B, 3, H, W) tensor is padded at the bottom and right with one ``F.pad`` whose sizes are
        plain shape arithmetic (the result ImageList gives), so ``torch.export`` and tracing see
        no data-dependent size (ImageList computes the padded size with tensor ops).
        """
        if isinstance(images, torch.Tensor) and images.dim() == 4:
            height, width = images.shape[-2:]
            div = max(self.size_divisibility, 1)
            return F.pad(images, (0, (-width) % div, 0, (-height) % div))
        return ImageList.from_tensors(list(images), self.size_divisibility).tensor

    def padded_batch(
        self, images: List[torch.Tensor], batched_inputs
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Padded images (B, 3, Hp, Wp) and targets (B, Hp, Wp), target padding = ignore."""
        if "sem_seg" not in batched_inputs[0]:
            raise ValueError("training inputs need a 'sem_seg' target; use a semantic-seg mapper")
        targets = ImageList.from_tensors(
            [x["sem_seg"].to(self.device) for x in batched_inputs],
            self.size_divisibility,
            pad_value=self.ignore_value,
        ).tensor
        return self.pad(images), targets

    def losses(self, images: torch.Tensor, targets: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Weighted losses for a padded batch: images (B, 3, Hp, Wp), targets (B, Hp, Wp)."""
        raise NotImplementedError("a meta-architecture defines its losses")

    def predict_scores(self, images: torch.Tensor) -> torch.Tensor:
        """Per-class scores (B, K, H, W) for normalised images (B, 3, H, W), any H and W."""
        raise NotImplementedError("a meta-architecture defines its per-class scores")
