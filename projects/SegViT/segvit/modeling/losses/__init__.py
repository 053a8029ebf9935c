"""Losses: the ATM set criterion (query k <-> class k) and the focal / dice mask losses."""

from .atm_criterion import ATMCriterion
from .mask_losses import dice_loss, sigmoid_focal_loss
