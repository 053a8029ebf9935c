"""Fixtures shared by the model tests (plain helper functions live in ``modeling_helpers.py``,
which tests import; pytest discourages importing from a conftest)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run fastest on one thread (two threads on two busy cores spin-wait)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
