"""Shared by memory tests: the largest tensor an operation creates, without timing anything."""

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


class LargestTensor(TorchDispatchMode):
    """Within ``with LargestTensor() as tracker:``, ``tracker.numel`` is the element count of the
    largest tensor returned by any ATen op (views included, so a result written through views of a
    preallocated tensor still shows up once, at its own size)."""

    def __init__(self):
        super().__init__()
        self.numel = 0
        self.shape = ()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for leaf in tree_leaves(out):
            if isinstance(leaf, torch.Tensor) and leaf.numel() > self.numel:
                self.numel, self.shape = leaf.numel(), tuple(leaf.shape)
        return out
