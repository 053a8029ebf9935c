"""benchmarks.studies.demo_time: phases from a timestamped demo log, the table, empty folders."""

import pytest

from benchmarks.studies import demo_run, demo_time, step_profile

LOG = [
    (0.5, "setup: .venv is up to date"),
    (0.6, ".venv/bin/python tools/train_net.py --config-file configs/synthetic/segvit_tiny.py"),
    (30.0, "[d2.engine.train_loop]: Starting training from iteration 0"),
    (200.0, "[d2.evaluation.evaluator]: Start inference on 50 batches"),
    (205.0, "[d2.evaluation.testing]: copypaste: mIoU,fwIoU,mACC,pACC"),
    (210.0, "[d2.evaluation.testing]: copypaste: 76.0000,90.0,85.0,95.0"),
    (211.0, "[d2.engine.hooks]: Overall training speed: 998 iterations in 0:02:50 (0.1700 s / it)"),
    (212.0, ".venv/bin/python tools/visualize_predictions.py --config-file ..."),
    (220.0, "wrote 6 panels to out/predictions"),
    (220.5, "<exit 0>"),
]


def test_phases_add_up_to_the_total():
    phases = demo_run.split_phases(LOG, generation_s=7.0)
    assert phases["setup check (warm)"] == pytest.approx(0.6)
    assert phases["dataset generation"] == 7.0
    assert phases["start-up (imports, model, loader)"] == pytest.approx(30.0 - 0.6 - 7.0)
    assert phases["training"] == pytest.approx(170.0)
    assert phases["evaluation (50 val images)"] == pytest.approx(10.0)  # to the last copypaste
    assert phases["pictures (second process)"] == pytest.approx(8.5)
    assert sum(v for k, v in phases.items() if k != "total") == pytest.approx(phases["total"])


def test_a_missing_phase_is_an_error_that_names_it():
    with pytest.raises(ValueError, match="Start inference"):
        demo_run.split_phases([line for line in LOG if "inference" not in line[1]], 7.0)


def _store_seeds(runs_dir, recipe, mious):
    import json

    for seed, miou in enumerate(mious):
        name = f"segvit__{recipe}__seed{seed}__2000it.json"
        (runs_dir / name).write_text(
            json.dumps({"key": "segvit", "recipe": recipe, "seed": seed, "miou": miou})
        )


DEMO = {
    "command": "make demo",
    "phases": demo_run.split_phases(LOG, 7.0),
    "miou": 76.0,
    "iterations": 998,
    "s_per_iter": 0.17,
    "load_before": (1.0, 0.5, 0.25),
    "load_during": (1.5, 2.25),
    "load_after": (1.75, 1.0, 0.5),
}


def test_table_has_the_command_the_phases_the_miou_the_load_and_the_levers(tmp_path):
    _store_seeds(tmp_path, "demo", [76.0, 75.6, 72.0])
    _store_seeds(tmp_path, "sampled", [74.0])
    dense = {p: (0.01, 0.02) for p in step_profile.STEP_PARTS}
    sampled = dict(dense, **{"loss forward": (0.0, 0.0), "loss backward": (0.0, 0.0)})
    profile = {"dense loss (demo)": dense, "sampled loss, N=2048": sampled}
    text = demo_time.render(
        DEMO, profile, " --profile-steps 5", "a CPU", ((1, 1, 1), (2, 2, 2)), cores=2,
        runs_dir=str(tmp_path),
    )  # fmt: skip
    assert "`.venv/bin/python -m benchmarks.studies.demo_time --profile-steps 5`" in text
    assert "| training | 170.0 | 77% |" in text
    assert "**3 min 40 s in all; mIoU 76.00**" in text
    assert "998 iterations at 0.170 s/iter" in text
    assert "during (1 min, sampled every 5 s) mean 1.50, max 2.25" in text
    assert "| backbone forward | 10.0 (20) | 10.0 (20) | 9% |" in text
    # 3.7 min, 76.00 here, and the recipe's median over 3 seeds 75.60 >= 75.5.
    assert "**met** (3.7 min, 76.00 mIoU here; recipe median 75.60 over seeds [0, 1, 2]" in text
    # Model forward + backward: 4 parts x 10 ms = 40 ms x 998 iterations / 2 cores = 0.3 min;
    # the whole step: 11 parts x 10 ms = 110 ms -> 0.9 min.
    assert "(40 ms per step) x 998 iterations / 2 = **0.3 min**" in text
    assert "the whole step (110 ms: + data, loss, optimizer) = **0.9 min**" in text
    # Levers: the sampled step is 90 of 110 ms -> 0.17 x 90/110 = 0.139 s/iter; 220.5 s total
    # minus 998 x 0.17 s of training leaves 50.8 s fixed -> (300 - 50.8) / 0.139 = 1791 fit.
    assert "| sampled loss, N=2048 | 90 | 18% | 0.139 | 3.2 min | 1791 of 998 |" in text
    assert "sampled: median 74.00 over seeds [0]: 74.00 |" in text


def test_a_slow_or_weak_demo_misses_the_target(tmp_path):
    _store_seeds(tmp_path, "demo", [80.0, 80.0, 80.0])
    runs = str(tmp_path)
    demo = {"phases": {"total": 301.0}, "miou": 80.0, "iterations": 2000}
    assert "**not met** (5.0 min, 80.00 mIoU" in demo_time.target_lines(demo, None, 2, runs)[0]
    demo = {"phases": {"total": 200.0}, "miou": 74.9, "iterations": 2000}
    assert "**not met**" in demo_time.target_lines(demo, None, 2, runs)[0]
    demo = {"phases": {"total": 200.0}, "miou": 80.0, "iterations": 2000}
    assert "**met**" in demo_time.target_lines(demo, None, 2, runs)[0]
    _store_seeds(tmp_path, "demo", [80.0, 75.4, 75.0])  # median below 75.5
    assert "**not met**" in demo_time.target_lines(demo, None, 2, runs)[0]


def test_refuses_a_workdir_that_holds_files(tmp_path):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "model_final.pth").write_bytes(b"")
    with pytest.raises(FileExistsError, match="not empty"):
        demo_run.run_demo(str(tmp_path), [])
    assert (tmp_path / "demo" / "model_final.pth").exists()
