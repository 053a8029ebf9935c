"""Full-size part: parameters, decoder parameters, fvcore GFLOPs and CPU latency of every
full-size config (random weights, batch 1, one whole-image pass), stored in
``<results>/full_size.json``; also the size of a tiny config, recorded with each tiny run."""

import gc
import json
import os
import statistics
import time
from typing import Dict, List, Sequence, Tuple

from benchmarks.common import ROOT, build_model, cpu_name, write_json
from benchmarks.compare.methods import Method, config_exists, find_methods

FULL_SIZE_FILE = "full_size.json"


def build_eval_model(config: str):
    """The model of an experiment config, random weights, eval mode, one whole-image pass."""
    return build_model(config)


def describe_tiny(method: Method) -> Dict:
    """Params, GFLOPs at 128x128 (whole-image pass) and optimizer of a tiny config."""
    from detectron2.config import LazyConfig

    cfg = LazyConfig.load(os.path.join(ROOT, method.tiny_config))
    model = build_eval_model(method.tiny_config)
    try:
        gflops = params_and_gflops(model, (128, 128))["gflops"]
    except RuntimeError as e:  # an op fvcore cannot count: train anyway, without the GFLOPs
        print(f"{method.name}: GFLOPs not counted ({e})", flush=True)
        gflops = None
    opt = cfg.optimizer
    cls = opt.get("optimizer_cls") or opt.get("_target_")
    name = getattr(cls, "__name__", str(cls).rsplit(".", 1)[-1])
    return {
        "tiny_params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "tiny_gflops": gflops,
        "optimizer": f"{name} lr {opt.get('lr')}",
        "batch": int(cfg.dataloader.train.total_batch_size),
        "crop": list(cfg.dataloader.train.mapper.augmentations.crop_size),
    }


def model_inputs(hw: Tuple[int, int]) -> List[Dict]:
    import torch

    gen = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (3, *hw), dtype=torch.uint8, generator=gen)
    return [{"image": image, "height": hw[0], "width": hw[1]}]


def feature_extractor(model):
    """The ViT / Swin inside the model (``backbone.net`` behind a SimpleFeaturePyramid)."""
    backbone = getattr(model, "backbone", None)
    return getattr(backbone, "net", backbone)


def params_and_gflops(model, hw: Tuple[int, int]) -> Dict[str, float]:
    """Params (M), decoder params (M: all but the ViT/Swin), fvcore GFLOPs of one whole pass."""
    import torch

    from segvit.analysis.flops import count_flops

    with torch.no_grad():
        report = count_flops(model, model_inputs(hw))
    total = sum(p.numel() for p in model.parameters())
    encoder = feature_extractor(model)
    decoder = None if encoder is None else total - sum(p.numel() for p in encoder.parameters())
    return {
        "params_m": total / 1e6,
        "decoder_params_m": None if decoder is None else decoder / 1e6,
        "gflops": report.total / 1e9,
    }


def measure_full_size(methods: Sequence[Method], runs: int) -> Dict[str, Dict]:
    """Params, GFLOPs and CPU latency per full-size config, one group (ViT-B, Swin-T) at a time."""
    import torch

    results: Dict[str, Dict] = {}
    for backbone in ("ViT-B", "Swin-T"):
        rows = [f for m in methods for f in m.full if f.backbone == backbone]
        rows = [f for f in rows if config_exists(f.config)]
        models = {}
        for row in rows:
            try:
                model = build_eval_model(row.config)
                results[row.config] = params_and_gflops(model, (512, 512))
            except Exception as e:  # noqa: BLE001  (one broken config must not stop the others)
                results[row.config] = {"error": f"{type(e).__name__}: {e}"}
                print(f"{row.config}: FAILED: {results[row.config]['error']}", flush=True)
                continue
            models[row.config] = model
            print(f"{row.config}: {results[row.config]}", flush=True)
        inputs = model_inputs((512, 512))
        times: Dict[str, List[float]] = {c: [] for c in models}
        with torch.no_grad():
            for model in models.values():  # warm-up
                model(inputs)
            for _ in range(runs):  # alternate, so that every model sees the same machine load
                for config, model in models.items():
                    start = time.perf_counter()
                    model(inputs)
                    times[config].append(time.perf_counter() - start)
        for config in models:
            results[config]["latency_s"] = statistics.median(times[config])
            print(f"{config}: {results[config]['latency_s']:.2f} s", flush=True)
        del models
        gc.collect()
    return results


def run_full(args) -> None:
    import torch

    load_before = os.getloadavg()
    start = time.time()
    measured = measure_full_size(find_methods(args.methods), args.runs)
    path = os.path.join(args.results, FULL_SIZE_FILE)
    stored = {}
    if os.path.exists(path):
        with open(path) as f:
            stored = json.load(f).get("configs", {})
    stored.update(measured)  # a partial re-measurement keeps the other rows
    write_json(
        path,
        {
            "command": f".venv/bin/python -m benchmarks.compare{args.cli}",
            "machine": f"{cpu_name()}, {torch.get_num_threads()} threads, PyTorch "
            f"{torch.__version__}",
            "load_average": f"{load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after",
            "minutes": round((time.time() - start) / 60, 1),
            "runs": args.runs,
            "configs": stored,
        },
    )
