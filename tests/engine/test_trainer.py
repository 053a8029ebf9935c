"""segvit.engine.AccumulatingTrainer: k micro-batches of B give the step of one batch of k x B."""

import pytest
import torch
from torch import nn

from segvit.engine import AccumulatingTrainer
from segvit.solver import build_optimizer


class MeanSquaredError(nn.Module):
    """A deterministic model whose loss is a per-sample mean (no dropout, no batch statistics)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))

    def forward(self, batch):
        x = torch.stack([d["x"] for d in batch])
        y = torch.stack([d["y"] for d in batch])
        return {"loss_mse": ((self.net(x) - y) ** 2).mean()}


def train(samples, batch_size, accum_steps, steps=3):
    model = MeanSquaredError()
    batches = [samples[i : i + batch_size] for i in range(0, len(samples), batch_size)]
    optimizer = build_optimizer(
        model.parameters(), optimizer_cls=torch.optim.AdamW, clip_grad_norm=0.5, lr=0.05
    )
    trainer = AccumulatingTrainer(model, batches, optimizer, accum_steps=accum_steps)
    trainer.train(0, steps)
    return model.state_dict(), trainer


def test_two_micro_batches_equal_one_double_batch():
    g = torch.Generator().manual_seed(1)
    samples = [
        {"x": torch.randn(4, generator=g), "y": torch.randn(1, generator=g)} for _ in range(12)
    ]
    accumulated, trainer = train(samples, batch_size=2, accum_steps=2)
    single, _ = train(samples, batch_size=4, accum_steps=1)
    for name, value in single.items():
        torch.testing.assert_close(accumulated[name], value, rtol=1e-5, atol=1e-6)
    assert trainer.iter == 3  # optimizer steps, not micro-batches
    assert len(trainer.storage.history("total_loss").values()) == 3  # one entry per step


def test_accum_steps_must_be_positive():
    model = MeanSquaredError()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="grad_accum_steps"):
        AccumulatingTrainer(model, [], optimizer, accum_steps=0)
