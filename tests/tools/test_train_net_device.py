"""tools/train_net.py with train.device=auto (the demo's): its first line names the device."""

import torch
from train_net_helpers import TINY, read_metrics, run


def test_train_net_with_auto_trains_on_the_cpu_without_a_gpu(
    monkeypatch, tiny_dataset, tmp_path, capsys
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "run"
    run(["--num-gpus", "1", *TINY, "train.device=auto", f"train.output_dir={out}",
         "train.max_iter=1", "train.eval_period=0"])  # fmt: skip
    assert capsys.readouterr().out.startswith("train_net: device cpu (")
    assert [m["iteration"] for m in read_metrics(out) if "total_loss" in m] == [0]
