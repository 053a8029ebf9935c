"""Decode heads (registered in SEM_SEG_HEADS_REGISTRY): the cascaded ATM head, the Shrunk
SegViT's QU + ATM head, a single-stage ATM head, the SETR-naive baseline head, and the other
class-embedding decoders: Segmenter's mask transformer, DEPICT-SA/-CA, and
RSSeg-R (a reconstruction of RSSeg)."""

from .atm_head import ATMHead, ATMSingleStageHead, init_atm_weights
from .atm_layers import ATMCrossAttention, ATMDecoderLayer
from .depict_head import DEPICTHead
from .qu_head import ATMSingleHead, QUATMHead
from .rsseg_r_head import RSSegRHead
from .segmenter_head import SegmenterMaskHead
from .setr_head import SETRNaiveHead
