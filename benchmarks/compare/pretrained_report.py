"""The second regime of the tiny comparison: every method fine-tuned from one tiny ViT pre-trained
without pixel labels, beside its from-scratch result (``benchmarks/compare.md``)."""

from typing import Dict, List, Optional, Sequence

from benchmarks.compare.methods import METHODS, PRETRAINED_RECIPE
from benchmarks.compare.report import Entry, group_runs, ranking_lines

PRETRAIN_FILE = "pretrain.json"  # in the results folder: how the backbone was made


def pretrain_lines(pretrain: Optional[Dict]) -> List[str]:
    """What the pre-training was: command, data, length, time and its own image-level metric."""
    if not pretrain:
        return ["The pre-training record (`pretrain.json`) is not stored yet."]
    return [
        f"Backbone: `{pretrain['checkpoint']}`, made once by `{pretrain['command']}`"
        f" ({pretrain['objective']}; {pretrain['data']}; {pretrain['iters']} iterations of"
        f" batch {pretrain['batch']}, {pretrain['minutes']}, on"
        f" {pretrain['machine']}). Its own metric on {pretrain['val']}: {pretrain['metric']}."
        " The backbone was initialised for pre-training by the official mmseg rule"
        " (`model.backbone.init=mmseg`); every run below loads it through"
        " `train.init_checkpoint`, and the decoder starts from its usual initialisation.",
    ]


def row(method_name: str, pre: Optional[Entry], scratch: Optional[Entry]) -> str:
    def timing(key: str, scale: float, spec: str) -> str:
        return pre.timing(key, scale, spec) if pre else "-"

    return (
        f"| {method_name} | {pre.cell() if pre else 'not run yet'} |"
        f" {scratch.cell() if scratch else '-'} | {timing('s_per_iter', 1, '{:.3f}')} |"
        f" {timing('wall_s', 60, '{:.1f}')} |"
    )


def dates_line(pretrained: Sequence[Optional[Entry]], scratch: Sequence[Optional[Entry]]) -> str:
    """When the runs of the two columns finished: a difference between them may include a change
    of the code between those dates, not only the regime."""

    def span(entries) -> str:
        days = sorted(r["finished"][:10] for e in entries if e for r in e.runs if "finished" in r)
        return "-" if not days else days[0] if days[0] == days[-1] else f"{days[0]} to {days[-1]}"

    return (
        f"Runs finished: pre-trained {span(pretrained)}; from scratch (own loss) {span(scratch)}."
        " Where the dates differ the code may too, so a difference between the two columns of a"
        ' method may include that change (docs/results.md, "Session 9 runs": a from-scratch rerun'
        " that did not reproduce)."
    )


def pretrained_section(
    runs: Sequence[Dict], iters: int, data_version: Optional[int], pretrain: Optional[Dict]
) -> List[str]:
    grouped = group_runs(runs, iters, data_version)
    methods = [m for m in METHODS if PRETRAINED_RECIPE in m.recipes]
    pre = {m.name: grouped.get((m.name, PRETRAINED_RECIPE)) for m in methods}
    lines = [
        f"## Tiny, fine-tuned from a pre-trained tiny ViT (v{data_version}, {iters} iterations)",
        "",
        *pretrain_lines(pretrain),
        "",
        "Same data, crops, batch, schedule and iterations as the from-scratch table; each"
        " method's own loss (SegViT and Shrunk SegViT: the paper's ATM loss). mIoU: **median**"
        " (min-max over seeds); the from-scratch column repeats the own-loss result above.",
        "",
        "| method | mIoU, pre-trained | mIoU, from scratch (own loss) | s/it | wall min |",
        "|---|---|---|---|---|",
    ]
    lines += [row(m.name, pre[m.name], grouped.get((m.name, "own"))) for m in methods]
    done = [name for name, e in pre.items() if e and len(e.runs) >= 3]
    short = [
        f"{name} ({len(e.runs) if e else 0} of 3)" for name, e in pre.items() if name not in done
    ]
    text = f"Complete (3 seeds): {len(done)} of {len(methods)} methods in this regime."
    lines += ["", text + (f" Seeds so far in the others: {', '.join(short)}." if short else "")]
    lines += ["", dates_line(pre.values(), [grouped.get((m.name, "own")) for m in methods])]
    stored = [e for e in pre.values() if e]
    lines += [
        "",
        "Ranking in this regime (same rule: a difference only where ranges do not overlap):",
    ]
    lines += [""] + (ranking_lines(stored) or ["(no runs stored yet)"])
    return lines
