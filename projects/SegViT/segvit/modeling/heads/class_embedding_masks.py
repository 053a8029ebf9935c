"""What Segmenter's and DEPICT's decoders share: cosine class masks.

Both decoders end the same way (``rstrudel/segmenter:
segm/model/decoder.py:MaskTransformer.forward``, ``QishuaiWen/DEPICT: model/decoder.py``):
L2-normalise the patch features and the class embeddings, take their dot product (cosine similarity
of every patch with every class), and apply a LayerNorm over the K class scores of each patch
(``mask_norm``, learnable K-dim affine).
"""

from typing import Tuple

import torch.nn.functional as F
from torch import Tensor, nn

from .common import tokens_to_map

__all__ = ["cosine_class_masks"]


def cosine_class_masks(
    patches: Tensor, classes: Tensor, mask_norm: nn.LayerNorm, hw: Tuple[int, int]
) -> Tensor:
    """Per-class logits from patch features and class embeddings.

    Args:
        patches (Tensor): (B, N, D) patch features, N = h * w.
        classes (Tensor): (B, K, D) class embeddings.
        mask_norm (nn.LayerNorm): LayerNorm over the K classes.
        hw (tuple[int, int]): the patch grid ``(h, w)``.

    Returns:
        Tensor: (B, K, h, w) = mask_norm(normalise(patches) @ normalise(classes)^T).
    """
    patches = F.normalize(patches, dim=-1)
    classes = F.normalize(classes, dim=-1)
    masks = mask_norm(patches @ classes.transpose(1, 2))  # (B, N, K)
    return tokens_to_map(masks, hw)  # (B, K, h, w)
