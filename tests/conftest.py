"""Shared pytest setup: datasets in a temp folder, small thread count, deterministic seeds."""

import os
import random
import tempfile

# Datasets (the synthetic one is generated on first use) go to a temp folder, never into the
# repo; this must happen before `segvit` is imported, which registers datasets under this root.
os.environ.setdefault("DETECTRON2_DATASETS", tempfile.mkdtemp(prefix="segvit-test-datasets-"))
# A thread count chosen here, not by tools/train_net.py from the machine's load (which changes
# between two runs that a test compares).
os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _seed_everything():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield
