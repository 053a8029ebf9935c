"""Feature separation per ViT block in every trained tiny decoder -> ``benchmarks/separation.md``.

``--measure RUN_FOLDER ...``: the report of ``tools/analyze_separation.py`` (``separation_report``)
for run folders of ``python -m benchmarks.compare`` (``<key>__<recipe>__seed<k>__<iters>it-...``,
with ``model_final.pth``) on the whole ``synthetic_sem_seg_val`` split, the model built from the
method's tiny config (``METHODS``) and its recipe's ``model.*`` overrides; stored with the run's
mIoU as ``benchmarks/separation_runs/<key>__<recipe>__seed<k>.json``. Every invocation renders the
stored reports: a cross-decoder summary (first and last ViT block, and each decoder's own
feature: ``decoder_feature_tap``), the three questions of docs/rsseg.md (section 4) answered
from the numbers, and per-model tables. Usage::

    .venv/bin/python -m benchmarks.separation                 # stored reports -> .md
    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.separation --measure <run folder>
"""

import argparse
import json
import math
import os
import time
from typing import Dict, List, Optional, Sequence, Tuple

from benchmarks.common import ROOT, git_commit, md_table, write_json, write_text
from benchmarks.compare.methods import METHODS, parse_run_folder
from benchmarks.separation_reports import at_block, block_features, load_reports, stat

DEFAULT_REPORTS = os.path.join(ROOT, "benchmarks", "separation_runs")
DEFAULT_RESULTS = os.path.join(ROOT, "benchmarks", "compare_runs")
DEFAULT_OUTPUT = os.path.join(ROOT, "benchmarks", "separation.md")
LEARNED_MIOU = 15.0  # below: the model has not learned to segment (background only: 10.7 mIoU)
RECIPE_LABELS = {"own": "own loss", "demo": "demo recipe", "sampled": "sampled-loss recipe",
                 "pretrained": "pre-trained backbone, own loss"}  # fmt: skip


def read_miou(folder: str, stored: str) -> Tuple[float, str]:
    """The run's mIoU from its stored ``benchmarks.compare`` JSON, else the last evaluation in
    the folder's ``metrics.json`` (a run not stored yet); and where it came from."""
    if os.path.isfile(stored):
        with open(stored) as f:
            return float(json.load(f)["miou"]), f"stored run {os.path.basename(stored)}"
    from benchmarks.compare.runs import read_metrics

    return float(read_metrics(folder)[0]), "metrics.json of the run folder"


def measure(folder: str, args) -> Dict:
    """Measure one run folder; store and return its report (see module doc)."""
    method, recipe, seed, iters = parse_run_folder(folder)
    # the data of benchmarks.compare's runs; set before segvit registers the datasets
    os.environ.setdefault("DETECTRON2_DATASETS", os.path.join(ROOT, "datasets"))
    checkpoint = os.path.join(folder, "model_final.pth")
    if not os.path.isfile(checkpoint):
        raise ValueError(f"run folder {folder!r} has no model_final.pth (is the run finished?)")
    name = f"{method.key}__{recipe}__seed{seed}"
    miou, source = read_miou(folder, os.path.join(args.results, f"{name}__{iters}it.json"))
    import segvit  # noqa: F401  (registers datasets and models)
    from segvit.analysis.separation_report import separation_report
    from segvit.data.synthetic import DATA_VERSION
    from segvit.engine.cli import load_config

    model_overrides = [o for o in method.recipes[recipe] if o.startswith("model.")]
    overrides = model_overrides + [f"train.init_checkpoint={checkpoint}", "train.device=cpu"]
    cfg = load_config(os.path.join(ROOT, method.tiny_config), overrides)
    report = separation_report(cfg, resamples=args.resamples)
    report.update(
        checkpoint=f"<run folder of {name}>/model_final.pth",  # no machine path in the repo
        config=method.tiny_config, overrides=model_overrides, method=method.name, key=method.key,
        recipe=recipe, seed=seed, iters=iters, miou=miou, miou_source=source,
        resamples=args.resamples, data_version=DATA_VERSION, commit=git_commit(),
        date=time.strftime("%Y-%m-%d", time.gmtime()),
        command=f".venv/bin/python -m benchmarks.separation --measure <run folder of {name}> "
        f"--resamples {args.resamples}",
    )  # fmt: skip
    write_json(os.path.join(args.reports, name + ".json"), report)
    return report


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (ties share their mean rank); NaN below 3 points."""
    if len(x) < 3:
        return math.nan
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


def number(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"  # n/a: too few cells, or no feature


def label(r: Dict) -> str:
    return f"{r['method']}, {RECIPE_LABELS.get(r['recipe'], r['recipe'])}, seed {r['seed']}"


# The summary's columns after method, recipe, seed and mIoU: (header, block, variant, metric).
SUMMARY = (("raw os, block 0", "first", "raw", "os"), ("raw os, last", "last", "raw", "os"),
           ("dataset fisher, block 0", "first", "raw", "dataset_fisher"),
           ("dataset fisher, last", "last", "raw", "dataset_fisher"),
           ("centred gap, last", "last", "centred", "gap"),
           ("raw boundary, last", "last", "raw", "boundary"),
           ("dataset fisher, decoder feature", "decoder", "raw", "dataset_fisher"),
           ("centred gap, decoder feature", "decoder", "centred", "gap"))  # fmt: skip
# Question 3's rows: (name, where, metric), the raw statistic's Spearman with mIoU.
CORRELATIONS = (("dataset fisher, last block", "last", "dataset_fisher"),
                ("raw os, last block", "last", "os"),
                ("dataset fisher, decoder feature", "decoder", "dataset_fisher"))  # fmt: skip
SASM_COLUMNS = (("dataset fisher", "raw", "dataset_fisher"), ("centred gap", "centred", "gap"),
                ("raw intra", "raw", "intra"), ("raw boundary", "raw", "boundary"))  # fmt: skip
HEADER = """# Separation of features, per layer, in the trained tiny models

`tools/analyze_separation.py` (docs/rsseg.md, section 4) on the {images} `synthetic_sem_seg_val`
images, mean [bootstrap 95% interval over images, {resamples} resamples], on the checkpoints of
the tiny runs of `python -m benchmarks.compare` (their mIoU in `benchmarks/compare.md`). Measured
{dates}; {count} models. {missing}

Re-render: `.venv/bin/python -m benchmarks.separation`. Measure a run folder (`model_final.pth`):
`OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.separation --measure <run folder>`; each
model's command is under its section.

Columns: `os` mean cosine between all cells (label-free over-smoothness); `intra` / `inter` cosine
of a cell to its class mean / between class means, `gap` their difference; `fisher` between- over
within-class scatter per image, `dataset fisher` from streamed sums over the split; `boundary`
equal-label minus different-label neighbour cosine, `cross` the cross-boundary cosine. Raw and
per-image centred. A feature `backbone.blocks.<i+1>:input` is block i's output (Shrunk SegViT's
query down-sampling block runs no block module).
"""


def summary_section(reports: List[Dict]) -> List[str]:
    rows = [[r["method"], r["recipe"], r["seed"], f"{r['miou']:.2f}"]
            + [number(at_block(r, *c[1:])) for c in SUMMARY] for r in reports]  # fmt: skip
    lasts = ", ".join(str(i) for i in sorted({max(block_features(r)) for r in reports}))
    header = ["method", "recipe", "seed", "mIoU"] + [column[0] for column in SUMMARY]
    return ["## Every model at the first and the last ViT block, and at its decoder feature", "",
            f"Sorted by mIoU; `last` is block {lasts}, the ViT's last. The decoder feature is "
            "the per-pixel feature the decoder's masks / logits are computed from (the table in "
            "`segvit/analysis/separation_taps.py`); n/a: not measured in that report.", "",
            *md_table(header, rows), ""]  # fmt: skip


def grows(reports: List[Dict], variant: str, metric: str, what: str) -> str:
    """Question 1: in how many models ``metric`` is higher at the last block than at block 0."""
    up = [r for r in reports if at_block(r, "last", variant, metric)
          > at_block(r, "first", variant, metric)]  # fmt: skip
    others = "; ".join(label(r) for r in reports if r not in up)
    return (f"{what} is higher at the last block than at block 0 in {len(up)} of {len(reports)} "
            f"models" + (f" (not in: {others})." if others else "."))  # fmt: skip


def sasm_lines(reports: List[Dict]) -> List[str]:
    """Question 2 for every RSSeg-R report: SASM's separated S against its input X (fused)."""
    lines = []
    for r in (r for r in reports if "head.sasm/separated" in r["features"]):
        last = block_features(r)[max(block_features(r))]
        names = [f for f in (last, "head.local_path", "head.sasm/fused", "head.sasm/separated")
                 if f in r["features"]]  # fmt: skip
        rows = [[f] + [number(stat(r, f, v, m)) for _, v, m in SASM_COLUMNS] for f in names]
        d = [stat(r, "head.sasm/separated", v, m) - stat(r, "head.sasm/fused", v, m)
             for _, v, m in SASM_COLUMNS[:3]]  # fmt: skip
        ci = r["features"]["head.sasm/fused"]["centred"]["gap"]
        inside = ci["lo"] <= stat(r, "head.sasm/separated", "centred", "gap") <= ci["hi"]
        lines += [f"{label(r)} ({r['miou']:.2f} mIoU):", "",
                  *md_table(["feature"] + [c[0] for c in SASM_COLUMNS], rows), "",
                  f"SASM, separated minus fused: dataset fisher {d[0]:+.3f}, centred gap "
                  f"{d[1]:+.3f}, raw intra {d[2]:+.3f}; the separated centred gap is "
                  f"{'inside' if inside else 'outside'} the fused one's 95% interval "
                  f"[{ci['lo']:.3f}, {ci['hi']:.3f}].", ""]  # fmt: skip
    return lines or ["No RSSeg-R report is stored yet.", ""]


def correlation_lines(reports: List[Dict]) -> List[str]:
    """Question 3: Spearman of last-block and decoder-feature statistics with mIoU (all models;
    those that learned), over the models that have the feature."""
    groups = (reports, [r for r in reports if r["miou"] > LEARNED_MIOU])
    rows = []
    for what, where, metric in CORRELATIONS:
        cells = []
        for group in groups:
            pairs = [(at_block(r, where, "raw", metric), r["miou"]) for r in group]
            pairs = [p for p in pairs if not math.isnan(p[0])]
            rho = spearman([p[0] for p in pairs], [p[1] for p in pairs])
            cells.append(("n/a" if math.isnan(rho) else f"{rho:+.2f}") + f" (N = {len(pairs)})")
        rows.append([what] + cells)
    header = ["Spearman rank correlation with mIoU", "all models", f"above {LEARNED_MIOU:.0f} mIoU"]
    note = f"Below {LEARNED_MIOU:.0f} mIoU a model has not learned to segment; n/a: under 3 models."
    return md_table(header, rows) + ["", note, ""]


def detail_section(r: Dict) -> List[str]:
    from segvit.analysis.separation_report import format_table

    note = " (background only)" if r["miou"] <= LEARNED_MIOU else ""
    lines = [f"## {label(r)}: {r['miou']:.2f} mIoU{note}", "", f"    {r['command']}", ""]
    for variant in ("raw", "centred"):
        title = f"{variant} (mean [95% CI] over {r['images']} images)"
        lines += [title, "", format_table(r, variant), ""]
    return lines


def render(reports: List[Dict]) -> str:
    """The Markdown report of stored reports, models sorted by mIoU (highest first)."""
    reports = sorted(reports, key=lambda r: (-r["miou"], r["key"], r["recipe"], r["seed"]))
    missing = [m.name for m in METHODS if m.key not in {r["key"] for r in reports}]
    dates = sorted({r["date"] for r in reports}) or ["-"]
    text = HEADER.format(
        images="/".join(sorted({str(r["images"]) for r in reports})) or "-",
        resamples="/".join(sorted({str(r["resamples"]) for r in reports})) or "-",
        dates=dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}", count=len(reports),
        missing=f"No report yet for: {', '.join(missing)}." if missing else "Every method has one.",
    )  # fmt: skip
    if not reports:
        return text
    lines = summary_section(reports) + [
        "## What the numbers say", "",
        "1. **Does the ViT's over-smoothness grow with depth here?** "
        + grows(reports, "raw", "os", "Raw `os`") + " "
        + grows(reports, "raw", "dataset_fisher", "Dataset fisher"), "",
        "2. **Does RSSeg-R's SASM raise separation more than it lowers intra-class "
        "coherence?**", "",
        *sasm_lines(reports),
        "3. **Does separation track mIoU across decoders?**", "", *correlation_lines(reports),
    ]  # fmt: skip
    for r in reports:
        lines += detail_section(r)
    return text + "\n" + "\n".join(lines).rstrip("\n") + "\n"


def parse_args(argv: Optional[Sequence[str]]):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--measure",
        nargs="+",
        default=[],
        metavar="RUN_FOLDER",
        help="run folders of benchmarks.compare to measure (model_final.pth)",
    )
    parser.add_argument("--resamples", type=int, default=500, help="bootstrap resamples")
    parser.add_argument(
        "--results", default=DEFAULT_RESULTS, help="stored runs of benchmarks.compare, for the mIoU"
    )
    parser.add_argument("--reports", default=DEFAULT_REPORTS, help="stored separation reports")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="markdown file to write")
    return parser.parse_args(argv)  # fmt: skip


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    for folder in args.measure:
        start = time.time()
        r = measure(folder, args)
        print(f"measured {folder}: {len(r['features'])} features, {r['images']} images, "
              f"{time.time() - start:.0f} s", flush=True)  # fmt: skip
    write_text(args.output, render(load_reports(args.reports)))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
