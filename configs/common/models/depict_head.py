"""The DEPICT decoder (DEPICT facts sections 1.2-1.6) as a config node, to replace Segmenter's
mask transformer in a Segmenter model config (DEPICT is a drop-in replacement of it).

Released defaults (``config.yml``): 3 self-attention layers, 3 heads, head width 100 (50 for the 3
cross-attention layers of DEPICT-CA), dropout 0, decoder width = backbone width. Set ``mode``
("sa" / "ca"), ``in_feature`` and ``num_classes`` after assigning it to ``model.head``.
"""

from detectron2.config import LazyCall as L

from segvit.modeling.heads.depict_head import DEPICTHead

head = L(DEPICTHead)(
    in_feature="block11",
    in_channels="${..backbone.embed_dim}",
    num_classes=150,
    mode="sa",
    num_layers=3,
    num_heads=3,
    head_dim=100,
    cross_layers=3,
    cross_head_dim=50,
    dropout=0.0,
)
