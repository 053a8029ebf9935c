"""Image-level multi-label classifier: the model that pre-trains the tiny backbone.

Backbone -> global average pooling of one feature map -> linear layer -> one logit per class,
trained with binary cross-entropy on which classes a crop contains (the image-level analogue of
ImageNet pre-training; ``tools/pretrain_tiny_backbone.py``, docs/results.md). Only the backbone is
kept afterwards; the classifier is discarded as an ImageNet head is.
"""

from typing import Dict, List, Sequence, Union

import torch
import torch.nn.functional as F
from detectron2.structures import ImageList
from torch import nn

from segvit.data.synthetic_pretrain import presence_labels

__all__ = ["MultiLabelClassifier"]


class MultiLabelClassifier(nn.Module):
    """Backbone + average pooling + linear classifier, with a multi-label BCE loss.

    Args:
        backbone (nn.Module): returns ``{in_feature: (B, C, h, w)}``; for a ViT with
            ``final_norm=True`` the pooled tokens are normalised, as Segmenter / DEPICT read them.
        in_feature (str): the feature that is pooled.
        num_classes (int): K.
        pixel_mean, pixel_std (sequence[float]): normalisation of the (RGB) images.
        min_fraction (float): a class is a positive of a crop if it covers at least this fraction
            of its labelled pixels (:func:`~segvit.data.synthetic_pretrain.presence_labels`).
        ignore_label (int): label of unlabelled / padded pixels.
    """

    def __init__(
        self,
        *,
        backbone: nn.Module,
        in_feature: str,
        num_classes: int,
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
        min_fraction: float = 0.01,
        ignore_label: int = 255,
    ):
        super().__init__()
        if not 0.0 <= min_fraction < 1.0:
            raise ValueError(f"min_fraction={min_fraction} must be in [0, 1)")
        self.backbone = backbone
        self.in_feature = in_feature
        self.num_classes = num_classes
        self.min_fraction = min_fraction
        self.ignore_label = ignore_label
        channels = backbone.output_shape()[in_feature].channels
        self.classifier = nn.Linear(channels, num_classes)
        nn.init.trunc_normal_(self.classifier.weight, std=0.02)
        nn.init.zeros_(self.classifier.bias)
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)

    def targets(self, batched_inputs: List[Dict]) -> torch.Tensor:
        """(B, K) 0/1 presence targets from the ``sem_seg`` of each (augmented) input."""
        return torch.stack(
            [
                presence_labels(
                    x["sem_seg"], self.num_classes, self.min_fraction, self.ignore_label
                )
                for x in batched_inputs
            ]
        ).to(self.pixel_mean.device)

    def logits(self, batched_inputs: List[Dict]) -> torch.Tensor:
        """(B, K) class logits; images are normalised and zero-padded to the backbone's
        ``size_divisibility`` (the pooled map includes the few padded tokens)."""
        images = [
            (x["image"].to(self.pixel_mean) - self.pixel_mean) / self.pixel_std
            for x in batched_inputs
        ]
        divisibility = getattr(self.backbone, "size_divisibility", 0)
        images = ImageList.from_tensors(images, divisibility).tensor  # (B, 3, H, W)
        feature = self.backbone(images)[self.in_feature]  # (B, C, h, w)
        return self.classifier(feature.mean(dim=(2, 3)))  # (B, K)

    def forward(self, batched_inputs: List[Dict]) -> Union[Dict[str, torch.Tensor], torch.Tensor]:
        """Training: ``{"loss_cls": mean BCE over crops and classes}``; eval: (B, K) logits."""
        logits = self.logits(batched_inputs)
        if not self.training:
            return logits
        return {
            "loss_cls": F.binary_cross_entropy_with_logits(logits, self.targets(batched_inputs))
        }
