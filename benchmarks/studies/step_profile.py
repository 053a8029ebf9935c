"""One training step of the demo config profiled part by part, in process on one thread (the
second part of ``benchmarks/demo.md``)."""

import contextlib
import os
import tempfile
import time
from typing import Dict, List, Tuple

from benchmarks.common import ROOT

CONFIG = "configs/synthetic/segvit_tiny.py"
# label -> (model.criterion.num_points, fused AdamW, the comparison recipe whose stored seeds give
# its mIoU). The first is the demo's own recipe: focal and dice at every label pixel, as the
# official ATM loss; the others are the levers of issue 27 (fused AdamW changes only the time).
DENSE = "dense loss (demo)"
VARIANTS = {
    DENSE: (0, False, "demo"),
    "sampled loss, N=2048": (2048, False, "sampled"),
    "sampled N=2048 + fused AdamW": (2048, True, "sampled"),
}


STEP_PARTS = (
    "data: read + decode 8 files",
    "data: augment + collate 8 crops",
    "normalize + pad",
    "backbone forward",
    "head forward",
    "loss forward",
    "loss backward",
    "head backward",
    "backbone backward",
    "optimizer (clip + AdamW)",
    "hooks (checkpoint, writers), per iteration",
)


class StepTimer:
    """Accumulates CPU and wall seconds per part."""

    def __init__(self):
        self.cpu: Dict[str, float] = {}
        self.wall: Dict[str, float] = {}
        self.steps = 0

    @contextlib.contextmanager
    def __call__(self, part: str):
        cpu, wall = time.process_time(), time.perf_counter()
        yield
        self.cpu[part] = self.cpu.get(part, 0.0) + time.process_time() - cpu
        self.wall[part] = self.wall.get(part, 0.0) + time.perf_counter() - wall

    def add(self, part: str, cpu: float, wall: float):
        self.cpu[part] = self.cpu.get(part, 0.0) + cpu
        self.wall[part] = self.wall.get(part, 0.0) + wall

    def per_step(self) -> Dict[str, Tuple[float, float]]:
        return {p: (self.cpu[p] / self.steps, self.wall[p] / self.steps) for p in self.cpu}


def _leaf(x):
    return x.detach().requires_grad_(True)


def _flat_outputs(outputs: Dict) -> List:
    """The tensors of a head's output dict, aux outputs included, in a fixed order."""
    tensors = [outputs["pred_logits"], outputs["pred_masks"]]
    for aux in outputs.get("aux_outputs", []):
        tensors += [aux["pred_logits"], aux["pred_masks"]]
    return tensors


def _rebuild_outputs(outputs: Dict, leaves: List) -> Dict:
    rebuilt = {"pred_logits": leaves[0], "pred_masks": leaves[1], "aux_outputs": []}
    for i in range(len(outputs.get("aux_outputs", []))):
        rebuilt["aux_outputs"].append(
            {"pred_logits": leaves[2 + 2 * i], "pred_masks": leaves[3 + 2 * i]}
        )
    return rebuilt


def timed_step(model, optimizer, batch, timer: StepTimer) -> None:
    """One training step of a SegViT, with the graph cut at the features and the head outputs so
    that each backward is timed on its own (same gradients as one ``backward``)."""
    import torch

    with timer("normalize + pad"):
        images, targets = model.padded_batch([model.normalize(x["image"]) for x in batch], batch)
    with timer("backbone forward"):
        features = model.backbone(images)
    feature_leaves = {k: _leaf(v) for k, v in features.items()}
    with timer("head forward"):
        outputs = model.head(feature_leaves)
    flat = _flat_outputs(outputs)
    leaves = [_leaf(t) for t in flat]
    with timer("loss forward"):
        losses = model.criterion(_rebuild_outputs(outputs, leaves), targets)
        total = sum(losses.values())
    with timer("loss backward"):
        total.backward()
    with timer("head backward"):
        pairs = [(t, leaf.grad) for t, leaf in zip(flat, leaves) if leaf.grad is not None]
        torch.autograd.backward([t for t, _ in pairs], [g for _, g in pairs])
    with timer("backbone backward"):
        names = [k for k, v in feature_leaves.items() if v.grad is not None]
        torch.autograd.backward(
            [features[k] for k in names], [feature_leaves[k].grad for k in names]
        )
    with timer("optimizer (clip + AdamW)"):
        optimizer.step()
        optimizer.zero_grad()


def hook_seconds(cfg, model, optimizer, workdir: str) -> Tuple[float, float]:
    """(CPU, wall) seconds per iteration of the checkpoint and writer hooks at the config's
    periods: one checkpoint save and one write of Detectron2's default writers, amortised."""
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.engine import default_writers
    from detectron2.utils.events import EventStorage

    folder = tempfile.mkdtemp(prefix="demo_time_hooks_", dir=workdir)
    checkpointer = DetectionCheckpointer(model, folder, optimizer=optimizer)
    cpu, wall = time.process_time(), time.perf_counter()
    checkpointer.save("model_0000499")
    save = (time.process_time() - cpu, time.perf_counter() - wall)
    writers = default_writers(folder, cfg.train.max_iter)
    with EventStorage(0) as storage:
        for i in range(cfg.train.log_period):
            storage.iter = i
            storage.put_scalars(total_loss=1.0, loss_ce=0.5, lr=1e-3, time=0.2, data_time=0.01)
        cpu, wall = time.process_time(), time.perf_counter()
        for writer in writers:
            writer.write()
        write = (time.process_time() - cpu, time.perf_counter() - wall)
    for writer in writers:
        writer.close()
    period, log_period = cfg.train.checkpointer.period, cfg.train.log_period
    return tuple(s / period + w / log_period for s, w in zip(save, write))


def profile_steps(steps: int, workdir: str) -> Dict[str, Dict[str, Tuple[float, float]]]:
    """Per-part (CPU, wall) seconds of one step of the demo config for every one of ``VARIANTS``
    (the first is the demo's own recipe), alternately, in this process on one thread."""
    import torch
    from detectron2.config import LazyConfig, instantiate
    from detectron2.data import DatasetCatalog
    from detectron2.data import detection_utils as utils

    import segvit  # noqa: F401  (registers the synthetic dataset)
    from segvit.data.dataset_mapper import read_label

    torch.set_num_threads(1)
    cfg = LazyConfig.load(os.path.join(ROOT, CONFIG))
    cfg.dataloader.train.num_workers = 0  # the mapper runs here, where it is timed
    runs = {}
    for label, (num_points, fused, _recipe) in VARIANTS.items():
        torch.manual_seed(0)
        model = instantiate(cfg.model).train()
        model.criterion.num_points = num_points
        cfg.optimizer.params.model = model
        if fused:
            cfg.optimizer.fused = True
        optimizer = instantiate(cfg.optimizer)
        cfg.optimizer.pop("fused", None)
        runs[label] = (model, optimizer, iter(instantiate(cfg.dataloader.train)))
    records = DatasetCatalog.get(cfg.dataloader.train.dataset.names)
    timers = {label: StepTimer() for label in runs}
    for step in range(steps + 2):  # 2 warm-up steps
        for label, (model, optimizer, data) in runs.items():
            timer = timers[label] if step >= 2 else StepTimer()
            # Reading + decoding 8 files, timed on their own; the loader's next() does that and
            # the augmentation, so the augmentation is the difference.
            cpu, wall = time.process_time(), time.perf_counter()
            for record in records[8 * step : 8 * step + 8]:
                utils.read_image(record["file_name"], format="RGB")
                read_label(record["sem_seg_file_name"])
            read = (time.process_time() - cpu, time.perf_counter() - wall)
            timer.add("data: read + decode 8 files", *read)
            cpu, wall = time.process_time(), time.perf_counter()
            batch = next(data)
            loaded = (time.process_time() - cpu, time.perf_counter() - wall)
            timer.add(
                "data: augment + collate 8 crops", *(max(a - r, 0.0) for a, r in zip(loaded, read))
            )
            timed_step(model, optimizer, batch, timer)
            timer.steps += 1
    results = {}
    for label, (model, optimizer, _) in runs.items():
        timer = timers[label]
        hooks = hook_seconds(cfg, model, optimizer, workdir)
        timer.add("hooks (checkpoint, writers), per iteration", *(h * timer.steps for h in hooks))
        results[label] = timer.per_step()
    return results
