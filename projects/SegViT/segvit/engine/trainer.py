"""Detectron2's ``SimpleTrainer`` / ``AMPTrainer`` step with gradient accumulation.

The paper trains with a total batch of 16 (2 images x 8 GPUs). With fewer devices, ``k`` steps of
accumulation over micro-batches of ``16 / k`` give the same optimizer step, up to float rounding
and to losses that are not per-image means (the ATM mask losses normalise by the number of masks
in the batch). One trainer iteration is one optimizer step: the lr schedule, ``max_iter``,
checkpoint and evaluation periods all count optimizer steps.
"""

import contextlib
import time
from typing import Dict, Optional

import torch
from detectron2.engine import SimpleTrainer
from torch.nn.parallel import DistributedDataParallel

__all__ = ["AccumulatingTrainer"]


class AccumulatingTrainer(SimpleTrainer):
    """One optimizer step per iteration over ``accum_steps`` micro-batches, optionally with AMP.

    Each micro-batch loss is divided by ``accum_steps`` before ``backward``, so the gradient is the
    mean of the micro-batch gradients. Under DDP, gradients are all-reduced once, on the last
    micro-batch (``no_sync`` before). Logged losses are the means over the micro-batches;
    ``data_time`` is their sum. With ``accum_steps=1`` and ``precision=None`` a step is
    Detectron2's ``SimpleTrainer.run_step``; with a precision it is ``AMPTrainer.run_step``.
    Gradient clipping belongs to the optimizer (``segvit.solver.build_optimizer``), which sees
    unscaled gradients (``GradScaler.step`` unscales first).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        data_loader,
        optimizer: torch.optim.Optimizer,
        *,
        accum_steps: int = 1,
        precision: Optional[torch.dtype] = None,
        grad_scaler: Optional[torch.amp.GradScaler] = None,
    ):
        """
        Args:
            model, data_loader, optimizer: as for ``SimpleTrainer``.
            accum_steps (int): micro-batches per optimizer step (>= 1).
            precision (torch.dtype or None): autocast dtype (``torch.float16`` or
                ``torch.bfloat16``) on CUDA; None trains in float32.
            grad_scaler (GradScaler or None): loss scaler for float16; None for none.
        """
        if accum_steps < 1:
            raise ValueError(
                f"accum_steps must be >= 1, got {accum_steps} (train.grad_accum_steps)"
            )
        super().__init__(model, data_loader, optimizer)
        self.accum_steps = int(accum_steps)
        self.precision = precision
        self.grad_scaler = grad_scaler

    def _autocast(self):
        if self.precision is None:
            return contextlib.nullcontext()
        return torch.autocast("cuda", dtype=self.precision)

    def _no_sync(self, last: bool):
        if not last and isinstance(self.model, DistributedDataParallel):
            return self.model.no_sync()
        return contextlib.nullcontext()

    def run_step(self) -> None:
        assert self.model.training, "[AccumulatingTrainer] model was changed to eval mode!"
        self.optimizer.zero_grad()
        data_time = 0.0
        sums: Dict[str, torch.Tensor] = {}
        for k in range(self.accum_steps):
            start = time.perf_counter()
            data = next(self._data_loader_iter)
            data_time += time.perf_counter() - start
            with self._no_sync(last=k == self.accum_steps - 1):
                with self._autocast():
                    loss_dict = self.model(data)
                    if isinstance(loss_dict, torch.Tensor):
                        loss_dict = {"total_loss": loss_dict}
                    losses = sum(loss_dict.values())
                if self.accum_steps > 1:
                    losses = losses / self.accum_steps
                if self.grad_scaler is not None:
                    losses = self.grad_scaler.scale(losses)
                losses.backward()
            for name, value in loss_dict.items():
                sums[name] = sums.get(name, 0.0) + value.detach()
        self.after_backward()
        self._write_metrics({n: v / self.accum_steps for n, v in sums.items()}, data_time)
        if self.grad_scaler is not None:
            self.grad_scaler.step(self.optimizer)
            self.grad_scaler.update()
        else:
            self.optimizer.step()

    def state_dict(self):
        ret = super().state_dict()
        if self.grad_scaler is not None:
            ret["grad_scaler"] = self.grad_scaler.state_dict()
        return ret

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        if self.grad_scaler is not None and "grad_scaler" in state_dict:
            self.grad_scaler.load_state_dict(state_dict["grad_scaler"])
