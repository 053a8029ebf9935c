"""The DEPICT decoder (official ``QishuaiWen/DEPICT: model/decoder.py``) in place of Segmenter's
mask transformer in a Segmenter model config (DEPICT is a drop-in replacement of it).

Released defaults (``QishuaiWen/DEPICT: config.yml``): 3 self-attention layers, 3 heads, head
width 100 (50 for the 3 cross-attention layers of DEPICT-CA), dropout 0, decoder width = backbone
width.
"""

from detectron2.config import LazyCall as L

from segvit.modeling.heads.depict_head import DEPICTHead


def depict_head(segmenter_head, mode: str = "sa"):
    """A DEPICT head config reading the same feature and predicting the same classes as
    ``segmenter_head`` (a ``SegmenterMaskHead`` config node); assign it to ``model.head``."""
    return L(DEPICTHead)(
        in_feature=segmenter_head.in_feature,
        in_channels="${..backbone.embed_dim}",
        num_classes=segmenter_head.num_classes,
        mode=mode,
        num_layers=3,
        num_heads=3,
        head_dim=100,
        cross_layers=3,
        cross_head_dim=50,
        dropout=0.0,
    )
