"""Training-loop pieces for ``tools/train_net.py``: gradient accumulation, checkpointed RNG
state for exact resumption, DDP on CPU or CUDA; and the command-line kit of every tool
(``segvit.engine.cli``)."""

from .ddp import check_distributed_device, create_ddp_model
from .rng_state import CaptureRNGState, RNGState, preserve_rng
from .trainer import AccumulatingTrainer
