#!/usr/bin/env python
"""How far Shrunk SegViT's QU query table moved in a training run (issue 25).

The QU queries are a learnable ``nn.Embedding`` table, N(0, 1) as officially, and the only place
a QU token's position can come from. ``tools/train_net.py`` seeds Detectron2's RNGs with
``train.seed`` (``default_setup``) and then builds the model, so the table a run started from is
rebuilt here from the run's config and seed. For each run folder of ``benchmarks.compare`` this
prints ``||T_final - T_init|| / ||T_init||``, the cosine between the two tables (about 0 for two
independent draws: it checks that the rebuilt table is the run's), and the mean and largest
per-entry change. AdamW moves an entry by at most about ``lr`` per step, so a schedule of
2,000 steps at lr 5e-4 (cosine) can move an entry by at most about 0.5, against entries of size 1.

    .venv/bin/python -m benchmarks.studies.shrunk_table_movement <run folder> [...]

CPU, a second per run.
"""

import argparse
import os

import torch
import torch.nn.functional as F
from detectron2.utils.env import seed_all_rng

from benchmarks.common import build_model
from benchmarks.compare.methods import parse_run_folder
from segvit.checkpoint.safe_io import read_weights

TABLE = "head.qu_queries.weight"


def initial_table(config: str, overrides, seed: int) -> torch.Tensor:
    """The (N, d) query table a run of ``config`` with ``train.seed=seed`` started from."""
    seed_all_rng(seed)  # as default_setup(cfg, args) in tools/train_net.py, before the model
    return build_model(config, overrides, whole=False).head.qu_queries.weight.detach()


def movement(initial: torch.Tensor, final: torch.Tensor) -> dict:
    change = final - initial
    return {
        "relative": float(change.norm() / initial.norm()),
        "cosine": float(F.cosine_similarity(final.flatten(), initial.flatten(), dim=0)),
        "mean_abs": float(change.abs().mean()),
        "max_abs": float(change.abs().max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="run folders of benchmarks.compare (Shrunk)")
    args = parser.parse_args()
    print("| run | relative change | cosine to the initial table | mean / max entry change |")
    print("|---|---|---|---|")
    for run in args.runs:
        method, recipe, seed, _ = parse_run_folder(run)
        model_overrides = [o for o in method.recipes[recipe] if o.startswith("model.")]
        state = read_weights(os.path.join(run, "model_final.pth"))
        final = state["model"][TABLE] if "model" in state else state[TABLE]
        result = movement(initial_table(method.tiny_config, model_overrides, seed), final)
        print(
            f"| {method.name}, {recipe}, seed {seed} | {result['relative']:.3f} |"
            f" {result['cosine']:.4f} | {result['mean_abs']:.4f} / {result['max_abs']:.3f} |"
        )


if __name__ == "__main__":
    main()
