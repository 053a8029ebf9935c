"""benchmarks.separation: the cross-decoder summary sorted by mIoU, the three answers computed from
the stored numbers (counts, SASM differences, Spearman), ViT blocks aligned across models whose
taps are named differently, the decoder feature's columns (n/a where a report has none), run-folder
names, and what ``--measure`` stores (no machine path).

No model runs here: ``tests/analysis/test_separation_taps.py`` measures every tiny config."""

import json

import pytest

from benchmarks import separation
from benchmarks.compare.methods import METHODS
from segvit.analysis.separation import METRICS


def feature(os_, fisher, gap=1.0, intra=0.8, boundary=0.3):
    raw = {m: {"mean": 0.5, "lo": 0.4, "hi": 0.6, "n": 50} for m in METRICS}
    raw.update(os={"mean": os_, "lo": os_ - 0.1, "hi": os_ + 0.1, "n": 50},
               intra={"mean": intra, "lo": intra, "hi": intra, "n": 50},
               boundary={"mean": boundary, "lo": boundary, "hi": boundary, "n": 50})  # fmt: skip
    centred = {m: dict(v) for m, v in raw.items()}
    centred["gap"] = {"mean": gap, "lo": gap - 0.05, "hi": gap + 0.05, "n": 50}
    return {"raw": raw, "centred": centred, "dataset_fisher": fisher}


def fake_report(key, miou, os0, os3, j0, j3, blocks="backbone.blocks.{}", extra=None,
                decoder=None):  # fmt: skip
    """A stored report; ``decoder``: (feature name, its statistics) of the decoder feature."""
    method = next(m for m in METHODS if m.key == key)
    names = [blocks.format(i) for i in range(4)]
    values = [(os0, j0), (0.5, 0.5), (0.5, 0.5), (os3, j3)]
    extra = {**(extra or {}), **dict([decoder] if decoder else [])}
    report = {
        "method": method.name, "key": key, "recipe": "own", "seed": 0, "miou": miou,
        "images": 50, "resamples": 500, "date": "2026-12-02",
        "command": f".venv/bin/python -m benchmarks.separation --measure <run folder of {key}>",
        "features": {**{n: feature(*v) for n, v in zip(names, values)}, **extra},
    }  # fmt: skip
    if key != "rsseg_r":  # RSSeg-R: a report measured before "decoder_feature" was stored
        report["decoder_feature"] = decoder[0] if decoder else None
    return report


SHRUNK_BLOCKS = ["backbone.blocks.0", "backbone.blocks.1", "backbone.blocks.3:input",
                 "backbone.blocks.3"]  # fmt: skip
REPORTS = [
    fake_report("segvit", 50.0, 0.6, 0.7, 0.4, 0.7,
                decoder=("head.proj_norm.2", feature(0.4, 0.9, gap=0.8))),
    fake_report("rsseg_r", 80.0, 0.5, 0.6, 0.3, 0.6, extra={
        "head.local_path": feature(0.5, 0.8),
        "head.sasm/fused": feature(0.49, 0.968, gap=1.0, intra=0.835),
        "head.sasm/separated": feature(0.49, 0.972, gap=1.2, intra=0.834)}),
    fake_report("maskformer", 30.0, 0.6, 0.5, 0.3, 0.2, blocks="backbone.net.blocks.{}",
                decoder=("sem_seg_head.pixel_decoder.mask_features", feature(0.3, 0.95, gap=0.7))),
    fake_report("segvit_shrunk", 10.0, 0.8, 0.9, 0.07, 0.1),  # no decoder feature measured
]  # fmt: skip
REPORTS[3]["features"] = dict(zip(SHRUNK_BLOCKS, REPORTS[3]["features"].values()))
REPORTS[3]["features"]["backbone.blocks.3"]["centred"]["gap"]["mean"] = float("nan")  # few cells


def summary_rows(text):
    table = text.split("## Every model")[1].split("## What")[0]
    return [line for line in table.splitlines() if line.startswith("| ") and "| mIoU |" not in line]


def test_summary_has_one_row_per_model_sorted_by_miou():
    rows = summary_rows(separation.render(REPORTS))
    assert [r.split(" | ")[0] for r in rows] == [
        "| RSSeg-R (reconstruction)", "| SegViT", "| MaskFormer", "| Shrunk SegViT"]  # fmt: skip
    # block 0 and the last block, whatever the taps are called (backbone.net, Shrunk's QD input),
    # then the decoder feature's dataset fisher and centred gap (n/a: not measured)
    assert rows[2] == ("| MaskFormer | own | 0 | 30.00 | 0.600 | 0.500 | 0.300 | 0.200 | 1.000 "
                       "| 0.300 | 0.950 | 0.700 |")  # fmt: skip
    assert rows[3] == ("| Shrunk SegViT | own | 0 | 10.00 | 0.800 | 0.900 | 0.070 | 0.100 | n/a "
                       "| 0.300 | n/a | n/a |")  # fmt: skip
    assert rows[0].endswith("| 0.972 | 1.200 |")  # RSSeg-R: SASM's separated S
    assert rows[1].endswith("| 0.900 | 0.800 |")
    header = next(line for line in separation.render(REPORTS).splitlines() if "| mIoU |" in line)
    assert header.endswith("| dataset fisher, decoder feature | centred gap, decoder feature |")


def test_answers_are_computed_from_the_numbers():
    text = separation.render(REPORTS)
    assert (
        "Raw `os` is higher at the last block than at block 0 in 3 of 4 models (not in: "
        "MaskFormer, own loss, seed 0)." in text
    )
    assert "Dataset fisher is higher at the last block than at block 0 in 3 of 4 models" in text
    assert (
        "separated minus fused: dataset fisher +0.004, centred gap +0.200, raw intra -0.001" in text
    )
    assert "outside the fused one's 95% interval [0.950, 1.050]" in text
    # mIoU ranks 4,3,2,1 vs last-block Fisher ranks 3,4,2,1: rho = 1 - 6*2/(4*15) = 0.8; without
    # the background-only model: ranks 3,2,1 vs 2,3,1: rho = 1 - 6*2/(3*8) = 0.5
    fisher_row = next(
        line for line in text.splitlines() if line.startswith("| dataset fisher, last")
    )
    assert fisher_row == "| dataset fisher, last block | +0.80 (N = 4) | +0.50 (N = 3) |"
    # the 3 models with a decoder feature, mIoU ranks 3,2,1 vs its Fisher ranks 3,1,2: rho = 0.5
    decoder_row = next(
        line for line in text.splitlines() if line.startswith("| dataset fisher, decoder")
    )
    assert decoder_row == "| dataset fisher, decoder feature | +0.50 (N = 3) | +0.50 (N = 3) |"
    assert "No report yet for: Shrunk SegViT" not in text and "SETR-naive" in text
    assert "## Shrunk SegViT, own loss, seed 0: 10.00 mIoU (background only)" in text


def test_spearman_handles_ties_and_small_samples():
    assert separation.spearman([1, 2, 3], [10, 30, 20]) == pytest.approx(0.5)
    assert separation.spearman([1, 1, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486833, rel=1e-6)
    assert separation.spearman([1, 2], [2, 1]) != separation.spearman([1, 2], [2, 1])  # NaN


def test_run_folder_names():
    method, recipe, seed, iters = separation.parse_run_folder(
        "/somewhere/segvit_shrunk__pretrained__seed1__2000it-20261202-134347-2658/"
    )
    assert (method.key, recipe, seed, iters) == ("segvit_shrunk", "pretrained", 1, 2000)
    with pytest.raises(ValueError, match="'output/model_final'.*<key>__<recipe>__seed<k>"):
        separation.parse_run_folder("output/model_final")
    with pytest.raises(ValueError, match="setr__sampled__seed0__2000it-1.*no method 'setr'"):
        separation.parse_run_folder("setr__sampled__seed0__2000it-1")


def test_measure_stores_the_report_without_machine_paths(tmp_path, monkeypatch):
    """A run not yet stored by benchmarks.compare: mIoU from metrics.json; the recipe's model
    overrides and the checkpoint reach the config; the stored JSON names no local path."""
    import segvit.analysis.separation_report as report_module

    folder = tmp_path / "segvit__sampled__seed2__2000it-20261202-154409-23277"
    folder.mkdir()
    (folder / "model_final.pth").write_bytes(b"")
    rows = [{"iteration": 1999, "time": 0.1}, {"iteration": 2000, "sem_seg/mIoU": 71.5}]
    (folder / "metrics.json").write_text("\n".join(json.dumps(r) for r in rows))
    seen = {}

    def fake_separation_report(cfg, resamples):
        seen.update(points=cfg.model.criterion.num_points, ckpt=cfg.train.init_checkpoint)
        return {"checkpoint": cfg.train.init_checkpoint, "taps": [], "images": 50,
                "features": REPORTS[0]["features"]}  # fmt: skip

    monkeypatch.setattr(report_module, "separation_report", fake_separation_report)
    out = tmp_path / "separation.md"
    separation.main(["--measure", str(folder), "--results", str(tmp_path / "none"),
                     "--reports", str(tmp_path / "reports"), "--output", str(out)])  # fmt: skip
    assert seen == {"points": 2048, "ckpt": str(folder / "model_final.pth")}
    stored = (tmp_path / "reports" / "segvit__sampled__seed2.json").read_text()
    assert str(tmp_path) not in stored
    report = json.loads(stored)
    assert report["miou"] == 71.5 and report["miou_source"] == "metrics.json of the run folder"
    assert "--measure <run folder of segvit__sampled__seed2>" in report["command"]
    assert "| SegViT | sampled | 2 | 71.50 |" in out.read_text()
