"""benchmarks/studies/shrunk_table_movement.py: the table a run started from is rebuilt from its
config and seed, and the movement numbers are what they say."""

import torch

from benchmarks.studies import shrunk_table_movement as study

SHRUNK = "configs/synthetic/segvit_shrunk_tiny.py"


def test_initial_table_is_the_seeds_and_follows_the_recipe_overrides():
    first, again = study.initial_table(SHRUNK, [], 1), study.initial_table(SHRUNK, [], 1)
    other = study.initial_table(SHRUNK, [], 2)
    assert first.shape == (256, 64) and torch.equal(first, again)
    assert abs(study.movement(first, other)["cosine"]) < 0.1  # two draws: unrelated
    small = study.initial_table(SHRUNK, ["model.head.query_init_std=0.02"], 1)
    assert torch.allclose(small, 0.02 * first)  # the same draw, scaled


def test_movement_of_a_known_change():
    initial = torch.ones(4, 2)
    moved = study.movement(initial, initial + 0.5 * torch.eye(4, 2))
    assert abs(moved["relative"] - (0.5 * 2**0.5) / 8**0.5) < 1e-6
    assert moved["mean_abs"] == 0.125 and moved["max_abs"] == 0.5 and moved["cosine"] > 0.9
