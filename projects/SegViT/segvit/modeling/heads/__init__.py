"""Decode heads: the cascaded ATM head and its layers (registered in SEM_SEG_HEADS_REGISTRY)."""
from .atm_head import ATMHead, ATMSingleStageHead, init_atm_weights
from .atm_layers import ATMCrossAttention, ATMDecoderLayer
