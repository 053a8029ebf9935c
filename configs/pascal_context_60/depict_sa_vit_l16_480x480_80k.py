"""DEPICT-SA (Wen & Li, NeurIPS 2024) in place of Segmenter's decoder in
``segmenter_vit_l16_480x480_80k.py``:
DEPICT is a drop-in replacement of Segmenter's decoder, so backbone, data, SGD recipe and
inference are Segmenter's; the decoder is DEPICT's released default (3 layers, 3 heads;
QishuaiWen/DEPICT ``config.yml``, docs/official_reference.md#depict-decoder).
"""

from ..common.models.depict_head import depict_head
from .segmenter_vit_l16_480x480_80k import dataloader, lr_multiplier, model, optimizer, train

model.head = depict_head(model.head, mode="sa")
