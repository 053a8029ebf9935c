"""Fixtures of the tools/train_net.py tests."""

import pytest
from train_net_helpers import PREFIX

from segvit.data.synthetic import generate_synthetic_dataset, register_synthetic


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """8 training and 4 validation synthetic images, registered as ``tiny_synthetic_sem_seg_*``."""
    root = tmp_path_factory.mktemp("data") / "synthetic"
    generate_synthetic_dataset(str(root), num_train=8, num_val=4, seed=1)
    register_synthetic(str(root), name_prefix=PREFIX)
    return root
