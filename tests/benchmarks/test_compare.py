"""benchmarks.compare: stored runs merged into one table (median, min-max, the spread wording),
methods whose config does not exist yet, and runs that are never redone or mixed up.

No training here: a tiny run of 2,000 iterations takes minutes, and even a 2-iteration run per
method costs a process start-up and an evaluation each (about 15 s apiece on the 2-core CI
machine); ``tests/tools/test_train_net*.py`` already train every tiny config through
``tools/train_net.py``. The plumbing of a real run was checked by hand with
``python -m benchmarks.compare --parts tiny --methods SegViT --seeds 0 --iters 20``.
"""

import json

import pytest

from benchmarks.compare import methods, report, runs
from benchmarks.compare.__main__ import parse_args


def fake_run(method, recipe, seed, miou, iters=2000, data_version=3, s_per_iter=0.05):
    return {
        "method": method, "key": method.lower(), "recipe": recipe, "seed": seed, "iters": iters,
        "miou": miou, "s_per_iter": s_per_iter, "wall_s": 120.0 + seed,
        "data_version": data_version, "device": "cuda", "device_name": "Fake GPU", "jobs": 12,
        "threads": 1,
        "tiny_params_m": 0.91, "tiny_gflops": 0.197, "optimizer": "AdamW lr 0.0005",
        "batch": 8, "crop": [128, 128], "command": "python tools/train_net.py ...",
    }  # fmt: skip


RUNS = [
    fake_run("SegViT", "own", 0, 70.0),
    fake_run("SegViT", "own", 1, 72.0),
    fake_run("SegViT", "own", 2, 71.0),
    fake_run("SegViT", "demo", 0, 75.0),
    fake_run("SegViT", "demo", 1, 77.5),
    fake_run("SegViT", "demo", 2, 76.0),
    fake_run("MaskFormer", "own", 0, 60.0),
    fake_run("MaskFormer", "own", 1, 71.5),  # overlaps SegViT (own)
    fake_run("MaskFormer", "own", 2, 65.0),
    fake_run("SETR-naive", "own", 0, 55.0),  # one seed only
    fake_run("SegViT", "own", 3, 10.0, iters=20),  # another iteration count: left out
    fake_run("SegViT", "own", 4, 10.0, data_version=2),  # older data: left out
]


def row(text, method):
    return next(line for line in text.splitlines() if line.startswith(f"| {method} |"))


def test_table_has_median_and_min_max_per_method_and_recipe():
    text = "\n".join(report.tiny_section(RUNS, iters=2000, data_version=3))
    segvit = row(text, "SegViT")
    assert "**71.00** (70.00-72.00, seeds 0,1,2)" in segvit  # own: median, min-max, seeds
    assert "**76.00** (75.00-77.50, seeds 0,1,2)" in segvit  # demo recipe column
    assert "| not run yet |" in segvit  # the sampled recipe has no stored run
    assert "| 0.050 (GPU) / 0.050 (GPU) / - |" in segvit  # s/it of each recipe
    assert "| 2.0 (GPU) / 2.0 (GPU) / - |" in segvit  # median wall minutes per run
    maskformer = row(text, "MaskFormer")
    assert "**65.00** (60.00-71.50, seeds 0,1,2) | n/a | n/a |" in maskformer
    assert "55.00 (1 seed: 0)" in row(text, "SETR-naive")
    assert "2 stored runs at another iteration count or data version" in text
    assert "10.00" not in text
    # Seed spreads 2.0 (SegViT own), 2.5 (demo), 11.5 (MaskFormer).
    assert "2.00 to 11.50 points, median 2.50" in text
    # Complete: SegViT own and demo, MaskFormer; SETR-naive has 1 of its 3 seeds.
    assert "Complete (3 seeds): 3 of 14 method/recipes." in text  # 13 + the option
    assert "SETR-naive (own: 1 of 3)" in text


def test_ranking_calls_no_win_within_the_spread():
    text = "\n".join(report.tiny_section(RUNS, iters=2000, data_version=3))
    lines = [line for line in text.splitlines() if line[:3] in ("1. ", "2. ", "3. ", "4. ")]
    assert lines[0].startswith("1. SegViT (demo): median 76.00, range 75.00-77.50")
    assert "overlaps no other entry" in lines[0]
    # 75.0 (its lowest) > 72.0 and 71.5 (their highest); SETR-naive has one seed: no claim.
    assert lines[0].endswith("; above SegViT (own), MaskFormer (own) by more than the spread.")
    assert (
        lines[1].startswith("2. SegViT (own)") and "within spread of MaskFormer (own)" in lines[1]
    )
    assert "above" not in lines[1]  # 70-72 overlaps 60-71.5: not a win
    assert (
        lines[2].startswith("3. MaskFormer (own)") and "within spread of SegViT (own)" in lines[2]
    )
    assert lines[3].startswith("4. SETR-naive (own): median 55.00 from 1 seed: spread unknown")


def test_missing_config_is_reported_not_fatal(monkeypatch):
    exists = lambda config: "segmenter" not in config and "depict" not in config  # noqa: E731
    monkeypatch.setattr(report, "config_exists", exists)
    monkeypatch.setattr(runs, "config_exists", exists)
    text = report.render(RUNS, None, iters=2000, data_version=3)
    assert "| Segmenter | config missing (`configs/synthetic/segmenter_tiny.py`) |" in text
    assert "| DEPICT-CA | config missing" in text
    assert "| Shrunk SegViT |" in text and "not run yet" in row(text, "Shrunk SegViT")
    assert "Not measured yet" in text  # no full-size file
    args = parse_args(["--methods", "Segmenter", "SegViT", "--seeds", "0", "--iters", "5"])
    args.results = "/nonexistent"
    monkeypatch.setattr(runs, "describe_tiny", lambda method: {})
    jobs, notes = runs.plan_runs(args)
    assert [(j["method"].name, j["recipe"]) for j in jobs] == [
        ("SegViT", "own"),
        ("SegViT", "demo"),
        ("SegViT", "sampled"),
    ]
    assert notes == ["Segmenter: config missing (configs/synthetic/segmenter_tiny.py), skipped"]


def test_stored_runs_are_not_redone_and_are_merged_from_disk(tmp_path, monkeypatch):
    for run in RUNS[:3]:
        name = runs.run_name(methods.find_methods(["SegViT"])[0], "own", run["seed"], 2000)
        (tmp_path / f"{name}.json").write_text(json.dumps(run))
    (tmp_path / "full_size.json").write_text("{}")  # not a run
    assert len(runs.load_runs(str(tmp_path))) == 3
    args = parse_args(["--methods", "segvit", "--recipes", "own", "--iters", "2000"])
    args.results = str(tmp_path)
    monkeypatch.setattr(runs, "describe_tiny", lambda method: {})
    jobs, notes = runs.plan_runs(args)
    assert jobs == []
    assert notes == [f"segvit__own__seed{k}__2000it: already stored, not redone" for k in range(3)]


def test_full_size_rows_show_paper_number_and_difference():
    stored = {
        "command": ".venv/bin/python -m benchmarks.compare --parts full",
        "machine": "x86_64, 2 threads",
        "load_average": "1.00 before, 2.00 after",
        "minutes": 3.0,
        "runs": 3,
        "configs": {
            "configs/ade20k/segvit_vit_b16_512x512_160k.py": {
                "params_m": 108.4, "decoder_params_m": 22.303, "gflops": 121.0, "latency_s": 2.0,
            },
        },
    }  # fmt: skip
    text = "\n".join(report.full_section(stored))
    assert (
        "| SegViT | ViT-B | 108.4 | 22.303 | 22.303 (docs/results.md) | 121.00 |"
        " 120.9 (SegViT T1) | +0.1% | 2.00 |" in text
    )
    assert "| MaskFormer | Swin-T | not measured yet |" in text


def test_every_method_of_the_issue_is_in_the_table():
    names = [m.name for m in methods.METHODS]
    assert names == [
        "SegViT", "Shrunk SegViT", "SETR-naive", "Segmenter", "DEPICT-SA", "DEPICT-CA",
        "RSSeg-R (reconstruction)", "MaskFormer", "Mask2Former",
    ]  # fmt: skip
    for method in methods.METHODS:
        assert "own" in method.recipes
        assert method.full, method.name
        # the second regime: the own loss, from the pre-trained tiny ViT
        pretrained = method.recipes[methods.PRETRAINED_RECIPE]
        assert pretrained[-1] == f"train.init_checkpoint={methods.PRETRAINED_CHECKPOINT}"
        assert pretrained[:-1] == method.recipes["own"]
    with pytest.raises(SystemExit, match="unknown"):
        methods.find_methods(["UperNet"])


def test_options_are_tiny_rows_not_methods_of_the_papers():
    """An option of ours (not in a paper) is a from-scratch row of its own, run by name or key,
    with the paper recipe plus its one override, and never enters the paper-regime tables."""
    option = methods.find_methods(["segvit_shrunk_fq"])[0]
    shrunk = methods.find_methods(["Shrunk SegViT"])[0]
    assert option not in methods.METHODS and option in methods.find_methods(None)
    assert option.tiny_config == shrunk.tiny_config and set(option.recipes) == {"own"}
    assert option.recipes["own"] == shrunk.recipes["own"] + ("model.head.feature_queries=True",)
    cmd = runs.train_command(option, "own", 1, 20, "cpu", "/tmp/run")
    assert "model.head.feature_queries=True" in cmd and "model.criterion.pixel_ce_weight=0.0" in cmd
    folder = "segvit_shrunk_fq__own__seed1__2000it-20261202-190000-1"
    assert methods.parse_run_folder(folder) == (option, "own", 1, 2000)
    assert "Shrunk SegViT + feature_queries (option) (own: 0 of 3)" in report.completeness({})


def test_train_command_sets_seed_device_and_recipe():
    segvit = methods.find_methods(["SegViT"])[0]
    own = runs.train_command(segvit, "own", 2, 2000, "cuda", "/tmp/run")
    assert own[own.index("--num-gpus") + 1] == "1"
    for override in ("train.seed=2", "train.device=cuda", "train.max_iter=2000",
                     "train.eval_period=2000", "model.criterion.pixel_ce_weight=0.0"):  # fmt: skip
        assert override in own
    demo = runs.train_command(segvit, "demo", 0, 20, "cpu", "/tmp/run")
    assert demo[demo.index("--num-gpus") + 1] == "0"
    assert "train.device=cpu" in demo and not any("pixel_ce" in a for a in demo)


def test_a_run_stored_by_another_machine_meanwhile_is_not_started(tmp_path, monkeypatch, capsys):
    """Parts run on two machines at once: a run stored after the plan was made is skipped."""
    segvit = methods.find_methods(["SegViT"])[0]
    trained = []

    def fake_train_one(job, args):
        trained.append(job["seed"])
        if job["seed"] == 0:  # meanwhile, another machine stores seed 1
            name = runs.run_name(segvit, "own", 1, args.iters)
            (tmp_path / f"{name}.json").write_text(json.dumps(fake_run("SegViT", "own", 1, 7.0)))
        return fake_run("SegViT", "own", job["seed"], 70.0)

    monkeypatch.setattr(runs, "prepare_dataset", lambda: 3)
    monkeypatch.setattr(runs, "describe_tiny", lambda method: {})
    monkeypatch.setattr(runs, "train_one", fake_train_one)
    args = parse_args(
        ["--methods", "segvit", "--recipes", "own", "--iters", "2000", "--jobs", "1",
         "--threads", "1", "--results", str(tmp_path)]
    )  # fmt: skip
    runs.run_tiny(args)
    assert trained == [0, 2]
    out = capsys.readouterr().out
    assert "seed 1: stored by another process since the start, not redone" in out


def test_times_name_the_device_they_were_measured_on():
    """s/it and wall minutes of GPU and CPU runs differ by 5x or more: each cell says which."""
    cpu = dict(fake_run("SegViT", "demo", 1, 76.0, s_per_iter=0.3), device="cpu", jobs=2)
    runs = [fake_run("SegViT", "own", 0, 70.0), cpu, fake_run("SegViT", "demo", 0, 75.0)]
    segvit = row(report.render(runs, None, 2000, 3), "SegViT")
    assert "| 0.050 (GPU) / 0.175 (GPU+CPU) / - |" in segvit
    cpu_only = row(report.render([cpu], None, 2000, 3), "SegViT")
    assert "| - / 0.300 (CPU) / - |" in cpu_only


def test_adopt_stores_a_run_that_finished_after_its_parent_stopped(tmp_path, monkeypatch):
    """A training process outlives its stopped parent: --adopt stores its finished folder once,
    and refuses folders that are unfinished or stored already."""
    monkeypatch.setattr(runs, "describe_tiny", lambda method: {"tiny_gflops": 0.2})
    folder = tmp_path / "work" / "maskformer__own__seed1__2000it-20261130-212234-6152"
    folder.mkdir(parents=True)
    metrics = folder / "metrics.json"
    rows = [{"iteration": i, "time": 0.5} for i in (49, 99, 1999)]
    metrics.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    args = parse_args(
        ["--adopt", str(folder), "--iters", "2000", "--jobs", "1", "--sharing", "2",
         "--threads", "1", "--results", str(tmp_path / "runs")]
    )  # fmt: skip
    args.data_version, args.torch_version, args.device_name = 3, "2.x", "Test CPU"
    with pytest.raises(SystemExit, match="unfinished .*final mIoU missing"):
        runs.adopt_run(str(folder), args)
    with open(metrics, "a") as f:
        f.write(json.dumps({"iteration": 1999, "sem_seg/mIoU": 61.5}) + "\n")
    start = runs.time.mktime(runs.time.strptime("20261130-212234", "%Y%m%d-%H%M%S"))
    runs.os.utime(metrics, (start + 1200, start + 1200))
    result = runs.adopt_run(str(folder), args)
    stored = json.loads((tmp_path / "runs" / "maskformer__own__seed1__2000it.json").read_text())
    assert stored == result
    assert (stored["method"], stored["seed"], stored["miou"]) == ("MaskFormer", 1, 61.5)
    assert stored["s_per_iter"] == 0.5 and stored["wall_s"] == pytest.approx(1200)
    assert (stored["device"], stored["jobs"], stored["threads"]) == ("cpu", 2, 1)
    assert "train.seed=1" in stored["command"] and "adopted" in stored
    with pytest.raises(SystemExit, match="stored already; nothing written"):
        runs.adopt_run(str(folder), args)
    with pytest.raises(SystemExit, match="not a run folder"):
        runs.adopt_run(str(tmp_path), args)


def test_pretrained_regime_is_its_own_table_with_its_completeness():
    from benchmarks.compare.pretrained_report import pretrained_section

    pre = [fake_run("Shrunk SegViT", "pretrained", k, 60.0 + k) for k in range(3)]
    pre += [fake_run("SegViT", "pretrained", 0, 70.0)]
    record = {
        "checkpoint": "output/pretrained_tiny/backbone_tiny.pth", "command": "pretrain",
        "objective": "multi-label", "data": "2,000 images", "iters": 1500, "batch": 16,
        "minutes": "15", "machine": "a CPU", "val": "200 images", "metric": "mAP 93.5",
    }  # fmt: skip
    text = "\n".join(pretrained_section(RUNS + pre, 2000, 3, record))
    shrunk = row(text, "Shrunk SegViT")
    assert "| **61.00** (60.00-62.00, seeds 0,1,2) |" in shrunk  # the pre-trained column
    assert "70.00 (1 seed: 0)" in row(text, "SegViT")
    assert "**71.00** (70.00-72.00, seeds 0,1,2)" in row(text, "SegViT")  # from scratch, own loss
    assert "Complete (3 seeds): 1 of 9 methods in this regime." in text
    assert "mAP 93.5" in text and "`pretrain`" in text  # what the backbone is and how it was made
    # the from-scratch table does not list or rank the pre-trained runs
    scratch = "\n".join(report.tiny_section(RUNS + pre, iters=2000, data_version=3))
    assert "pretrained" not in scratch.split("Ranking")[1]


def test_pretrained_table_says_when_each_column_was_measured():
    from benchmarks.compare import pretrained_report

    def entry(*days):
        return report.Entry(
            "M", "r", [{"miou": 1.0, "finished": f"{d} 10:00:00 UTC"} for d in days]
        )

    line = pretrained_report.dates_line(
        [entry("2026-12-02"), None], [entry("2026-11-30", "2026-12-01"), entry("2026-12-02")]
    )
    assert line.startswith(
        "Runs finished: pre-trained 2026-12-02; from scratch (own loss) 2026-11-30 to 2026-12-02."
    )
    assert "from scratch (own loss) -." in pretrained_report.dates_line([], [None])
