"""Decode heads (registered in SEM_SEG_HEADS_REGISTRY): the cascaded ATM head, the Shrunk
SegViT's QU + ATM head, a single-stage ATM head, and the SETR-naive baseline head."""

from .atm_head import ATMHead, ATMSingleStageHead, init_atm_weights
from .atm_layers import ATMCrossAttention, ATMDecoderLayer
from .qu_head import ATMSingleHead, QUATMHead
from .setr_head import SETRNaiveHead
from .depict_head import DEPICTHead
from .segmenter_head import SegmenterMaskHead
