"""benchmarks.gpu on the CPU with tiny widths: every model trains and infers, the table is
written where asked (never over the committed benchmarks/gpu.md), and a failing row is recorded
while the run goes on."""

import os

import pytest
import torch

from benchmarks import gpu
from benchmarks.common import ROOT as REPO

FAST = ["--device", "cpu", "--tiny", "--warmup", "0", "--iters", "1", "--threads", "1"]


def table_rows(text: str):
    """The benchmark table's rows as lists of cells (header and rule excluded)."""
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines[1:]]


def test_every_model_trains_and_infers_on_cpu(tmp_path):
    output = tmp_path / "gpu.md"
    argv = FAST + ["--precisions", "fp32", "--infer-batch", "2", "--output", str(output)]
    assert gpu.main(argv) == 0
    text = output.read_text()
    assert "python -m benchmarks.gpu --device cpu --tiny" in text
    assert "0 of 15 rows failed" in text
    assert f"torch {torch.__version__}" in text
    rows = table_rows(text)
    labels = [m.label for m in gpu.MODELS]
    assert [r[0] for r in rows] == [label for label in labels for _ in range(3)]
    assert [(r[2], r[4]) for r in rows[:3]] == [("train", "2"), ("infer", "1"), ("infer", "2")]
    for row in rows:
        assert row[1] == "64x64" and row[3] == "fp32" and row[-1] == "ok", row
        assert float(row[5].split()[0]) > 0 and float(row[6]) > 0, row
        assert row[7] == "", row  # no CUDA memory numbers on the CPU


def test_bf16_autocast_rows(tmp_path):
    output = tmp_path / "gpu.md"
    argv = FAST + ["--models", "shrunk_vit_b", "--precisions", "bf16", "--output", str(output)]
    assert gpu.main(argv) == 0
    rows = table_rows(output.read_text())
    assert [(r[2], r[3], r[4], r[-1]) for r in rows] == [
        ("train", "bf16", "2", "ok"),
        ("infer", "bf16", "1", "ok"),
        ("infer", "bf16", "8", "ok"),
    ]


def test_a_failing_row_is_recorded_and_the_run_goes_on(tmp_path, monkeypatch):
    def out_of_memory(*args):
        def step():
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB | more")

        return step

    monkeypatch.setattr(gpu, "train_step", out_of_memory)
    output = tmp_path / "gpu.md"
    argv = FAST + ["--models", "segvit_vit_b", "--precisions", "fp32", "--infer-batch", "2"]
    assert gpu.main(argv + ["--output", str(output)]) == 0
    text = output.read_text()
    rows = table_rows(text)
    error = "failed: OutOfMemoryError: CUDA out of memory. Tried to allocate 2 GiB / more"
    assert rows[0][-1] == error  # the message's "|" would break the table
    assert rows[0][5] == "" and [r[-1] for r in rows[1:]] == ["ok", "ok"]
    assert "1 of 3 rows failed" in text


def test_default_output_keeps_the_committed_gpu_table():
    committed = os.path.join(REPO, "benchmarks", "gpu.md")
    args = gpu.parse_args(["--device", "cpu", "--tiny"])
    assert os.path.abspath(args.output) != committed
    assert os.path.join("output", "benchmarks") in args.output
    with open(committed) as f:
        assert "NVIDIA" in f.read()  # the committed table is the GPU run, not a CPU --tiny one


def test_unknown_model_is_refused():
    with pytest.raises(SystemExit):
        gpu.parse_args(["--device", "cpu", "--models", "segvit_vit_h"])
