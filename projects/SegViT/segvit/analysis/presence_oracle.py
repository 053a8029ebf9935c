"""How much of a SegViT model's error is in its class head: evaluation with the true classes.

SegViT's per-class scores are ``sum_q softmax(class_q)[k] * sigmoid(mask_q)`` (MaskFormer-style).
:class:`PresenceOracle` wraps a trained model and replaces the class probabilities by the truth:
query k says "class k" when class k occurs in the image's label and "no object" otherwise, while the
masks stay the model's. The gap between the model's mIoU and the oracle's is the error of the
class (presence) predictions; the oracle's own shortfall from 100 is the error of the masks.
"""

import contextlib
from typing import Dict, Iterator, List

import torch
from torch import Tensor, nn

from ..modeling.losses.atm_criterion import present_classes
from ..modeling.meta_arch.segvit import SegViT

__all__ = ["PresenceOracle", "oracle_class_logits"]


def oracle_class_logits(present: Tensor) -> Tensor:
    """(K,) bool presence -> (1, K, K+1) class logits whose softmax is one-hot: class k for a
    present class k, else no-object (the last column)."""
    k = present.numel()
    target = torch.where(
        present,
        torch.arange(k, device=present.device),
        torch.full_like(present, k, dtype=torch.long),
    )
    logits = torch.full((1, k, k + 1), -1e4, device=present.device)
    logits[0, torch.arange(k, device=present.device), target] = 0.0
    return logits


class PresenceOracle(nn.Module):
    """A trained :class:`SegViT` whose inference uses the true classes of each image.

    Inputs are Detectron2 dicts with "image" and the label "sem_seg" (the semantic test mappers
    keep it). Output: the model's ``[{"sem_seg": (K, H, W)}]`` under its own inference mode.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        inner = getattr(model, "module", model)
        if not isinstance(inner, SegViT):
            raise TypeError(
                f"PresenceOracle needs a SegViT model (class queries + masks), got "
                f"{type(inner).__name__}."
            )
        self.model = inner

    @contextlib.contextmanager
    def _true_classes(self, present: Tensor) -> Iterator[None]:
        """Within the block the model's head outputs carry the oracle class logits of ``present``;
        everything downstream (combination, cropping, inference modes) is the model's own."""
        model = self.model
        logits = oracle_class_logits(present.to(model.device))  # (1, K, K+1)
        head_outputs = model.head_outputs

        def with_true_classes(images: Tensor) -> Dict[str, Tensor]:
            outputs = head_outputs(images)
            return {**outputs, "pred_logits": logits.expand(images.shape[0], -1, -1)}

        model.head_outputs = with_true_classes  # instance attribute shadows the method
        try:
            yield
        finally:
            del model.head_outputs

    def forward(self, batched_inputs: List[Dict]) -> List[Dict[str, Tensor]]:
        num_classes = self.model.criterion.num_classes  # K, as many as class queries
        results = []
        for inputs in batched_inputs:
            if "sem_seg" not in inputs:
                raise ValueError(
                    f"PresenceOracle needs the label of {inputs.get('file_name', 'each image')} "
                    "as 'sem_seg'; use a test mapper that reads sem_seg_file_name."
                )
            label = inputs["sem_seg"][None]  # (1, H, W)
            present = present_classes(label, num_classes, self.model.ignore_value)[0]  # (K,)
            with self._true_classes(present):
                results.extend(self.model([inputs]))
        return results
