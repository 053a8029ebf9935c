"""Decode heads (registered in SEM_SEG_HEADS_REGISTRY): the cascaded ATM head, the single-stage
ATM head (official name ``ATMSingleHead``), the Shrunk SegViT's QU + ATM head, the SETR-naive
baseline head, and the other class-embedding decoders: Segmenter's mask transformer and
DEPICT-SA/-CA, and RSSeg-R (a reconstruction of RSSeg). ``common.py`` holds what they share."""

from .atm_head import ATMHead, ATMSingleHead, ATMSingleStageHead
from .atm_layers import ATMCrossAttention, ATMDecoderLayer
from .common import check_in_features, init_linear_and_layernorm
from .depict_head import DEPICTHead
from .qu_head import QUATMHead
from .rsseg_r_head import RSSegRHead
from .segmenter_head import SegmenterMaskHead
from .setr_head import SETRNaiveHead
