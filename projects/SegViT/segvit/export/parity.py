"""Parity of an exported model with PyTorch: same inputs, scores and argmax compared.

Targets (issue #15): max abs difference of the scores <= 1e-4 and identical argmax on at least
99.9% of the pixels, on a random-noise image and a rendered synthetic scene.
"""

from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Sequence

import cv2
import numpy as np
import torch

from ..data.synthetic_render import render_sample

__all__ = ["MAX_ABS_DIFF", "MIN_ARGMAX_AGREEMENT", "Parity", "parity_inputs", "measure_parity"]

MAX_ABS_DIFF = 1e-4
MIN_ARGMAX_AGREEMENT = 0.999


@dataclass
class Parity:
    """Worst case over the compared inputs."""

    max_abs_diff: float
    argmax_agreement: float  # fraction of pixels with the same argmax class
    num_inputs: int
    input_hw: Sequence[int]

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= MAX_ABS_DIFF and self.argmax_agreement >= MIN_ARGMAX_AGREEMENT

    def as_dict(self) -> Dict:
        return {**asdict(self), "input_hw": list(self.input_hw), "ok": self.ok}

    def __str__(self) -> str:
        return (
            f"max |diff| {self.max_abs_diff:.2e} (<= {MAX_ABS_DIFF:.0e}), argmax agreement "
            f"{100 * self.argmax_agreement:.4f}% (>= {100 * MIN_ARGMAX_AGREEMENT:.1f}%) on "
            f"{self.num_inputs} inputs of {self.input_hw[0]}x{self.input_hw[1]}: "
            f"{'OK' if self.ok else 'FAILED'}"
        )


def parity_inputs(batch: int, height: int, width: int, seed: int = 0) -> List[np.ndarray]:
    """Two raw RGB inputs (B, 3, H, W) float32 in 0..255: uniform noise and synthetic scenes
    (:func:`~segvit.data.synthetic_render.render_sample`, resized to H x W)."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 255, size=(batch, 3, height, width)).astype(np.float32)
    scenes = []
    for _ in range(batch):
        image, _ = render_sample(rng)  # (h, w, 3) uint8, random size
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
        scenes.append(image.transpose(2, 0, 1).astype(np.float32))
    return [noise, np.stack(scenes)]


def measure_parity(
    reference: Callable[[torch.Tensor], torch.Tensor],
    exported: Callable[[np.ndarray], List[np.ndarray]],
    inputs: Sequence[np.ndarray],
) -> Parity:
    """Compare ``reference`` (PyTorch: images -> scores (B, K, H, W)) with ``exported`` (numpy in,
    list of numpy outputs, scores first) on each input; a label-map output, if any, is compared
    with the PyTorch argmax too (the agreement is the lower of the two)."""
    worst_diff, worst_agree = 0.0, 1.0
    for images in inputs:
        with torch.no_grad():
            ref = reference(torch.from_numpy(images)).float().numpy()
        outs = exported(images)
        scores = outs[0]
        if scores.shape != ref.shape:
            raise ValueError(f"exported scores have shape {scores.shape}, PyTorch {ref.shape}")
        worst_diff = max(worst_diff, float(np.abs(scores - ref).max()))
        agree = float((scores.argmax(1) == ref.argmax(1)).mean())
        if len(outs) > 1:  # the exported label map is the exported scores' argmax
            agree = min(agree, float((outs[1] == ref.argmax(1)).mean()))
        worst_agree = min(worst_agree, agree)
    return Parity(worst_diff, worst_agree, len(inputs), tuple(inputs[0].shape[-2:]))
