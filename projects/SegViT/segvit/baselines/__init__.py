"""MaskFormer and Mask2Former baselines built from maskformer2 (the ``mask2former`` module).

Importing this package first makes ``mask2former`` importable without Detectron2's compiled ops
(``_compat.py``; nothing else in ``segvit`` needs that), then exposes thin adapters:
explicit-argument builders for the criteria, a meta-architecture that takes our
semantic-segmentation inputs, a Swin backbone with ``res2..res5`` outputs, and maskformer2's head
modules (re-exported so that configs need not import ``mask2former`` before the fallback is in
place). ``docs/baselines.md`` lists what differs from
maskformer2 and why.
"""

from ._compat import install_fast_eval_api_fallback

install_fast_eval_api_fallback()

# isort: off
from mask2former.modeling.meta_arch.mask_former_head import MaskFormerHead  # noqa: E402
from mask2former.modeling.pixel_decoder.fpn import BasePixelDecoder  # noqa: E402
from mask2former.modeling.pixel_decoder.msdeformattn import MSDeformAttnPixelDecoder  # noqa: E402
from mask2former.modeling.transformer_decoder.mask2former_transformer_decoder import (  # noqa: E402
    MultiScaleMaskedTransformerDecoder,
)
from mask2former.modeling.transformer_decoder.maskformer_transformer_decoder import (  # noqa: E402
    StandardTransformerDecoder,
)

# isort: on
from .criterion import (  # noqa: E402
    MaskFormerHungarianMatcher,
    MaskFormerSetCriterion,
    build_mask2former_criterion,
    build_maskformer_criterion,
)
from .maskformer import SemSegMaskFormer, sem_seg_to_targets  # noqa: E402
from .swin import SwinBackbone, swin_output_shape  # noqa: E402
