"""The comparison table (``benchmarks/compare.md``) from the stored runs: tiny runs grouped by
method and recipe (median and min-max over seeds, ranked with the seed spread), the full-size
measurements beside the papers' numbers, and the published ADE20K results."""

import dataclasses
import statistics
from typing import Dict, List, Optional, Sequence, Tuple

from benchmarks.common import md_table
from benchmarks.compare.methods import (
    METHODS,
    PUBLISHED,
    RECIPES,
    TINY_METHODS,
    FullSize,
    Method,
    config_exists,
)

RENDER_COMMAND = ".venv/bin/python -m benchmarks.compare"


@dataclasses.dataclass
class Entry:
    """The stored runs of one (method, recipe)."""

    method: str
    recipe: str
    runs: List[Dict]

    @property
    def mious(self) -> List[float]:
        return sorted(r["miou"] for r in self.runs)

    @property
    def median(self) -> float:
        return statistics.median(self.mious)

    @property
    def low(self) -> float:
        return self.mious[0]

    @property
    def high(self) -> float:
        return self.mious[-1]

    @property
    def label(self) -> str:
        return f"{self.method} ({self.recipe})"

    def timing(self, key: str, scale: float, spec: str) -> str:
        """Median of ``run[key] / scale`` over the seeds, tagged with where the runs ran: times on
        a GPU and a CPU differ."""
        kinds = {"GPU" if r["device"] == "cuda" else "CPU" for r in self.runs}
        where = kinds.pop() if len(kinds) == 1 else "GPU+CPU"
        return f"{spec.format(statistics.median(r[key] for r in self.runs) / scale)} ({where})"

    def cell(self) -> str:
        seeds = ",".join(str(r["seed"]) for r in sorted(self.runs, key=lambda r: r["seed"]))
        if len(self.runs) == 1:
            return f"{self.median:.2f} (1 seed: {seeds})"
        return f"**{self.median:.2f}** ({self.low:.2f}-{self.high:.2f}, seeds {seeds})"


def overlaps(a: Entry, b: Entry) -> bool:
    return a.low <= b.high and b.low <= a.high


def group_runs(runs: Sequence[Dict], iters: int, data_version: Optional[int]) -> Dict:
    """{(method, recipe): Entry} for the runs of this iteration count and data version."""
    entries: Dict[Tuple[str, str], Entry] = {}
    for run in runs:
        if run["iters"] != iters or (
            data_version is not None and run["data_version"] != data_version
        ):
            continue
        key = (run["method"], run["recipe"])
        entries.setdefault(key, Entry(run["method"], run["recipe"], [])).runs.append(run)
    return entries


def ranking_lines(entries: Sequence[Entry]) -> List[str]:
    """The ranking by median mIoU, saying for every entry which others are within its spread.

    A difference is called one only when the min-max ranges of the two entries do not overlap and
    both have at least two seeds; otherwise it is "within spread" (or the spread is unknown).
    """
    ranked = sorted(entries, key=lambda e: -e.median)
    lines = []
    for i, entry in enumerate(ranked, 1):
        if len(entry.runs) < 2:
            lines.append(
                f"{i}. {entry.label}: median {entry.median:.2f} from 1 seed: spread unknown, "
                "no difference to it is claimed."
            )
            continue
        within = [
            o.label for o in ranked if o is not entry and len(o.runs) > 1 and overlaps(entry, o)
        ]
        below = [o.label for o in ranked if len(o.runs) > 1 and o.high < entry.low]
        text = (
            f"{i}. {entry.label}: median {entry.median:.2f}, range {entry.low:.2f}-{entry.high:.2f}"
            f" (spread {entry.high - entry.low:.2f} points over {len(entry.runs)} seeds)"
        )
        text += f"; within spread of {', '.join(within)}" if within else "; overlaps no other entry"
        if below:
            text += f"; above {', '.join(below)} by more than the spread"
        lines.append(text + ".")
    return lines


def tiny_row(method: Method, by_recipe: Dict[str, Optional[Entry]]) -> str:
    """One table row: sizes, optimizer, mIoU per recipe, s/it and wall minutes per recipe."""
    stored = [e for e in by_recipe.values() if e]
    if not config_exists(method.tiny_config) and not stored:
        return f"| {method.name} | config missing (`{method.tiny_config}`) |" + " |" * (
            5 + len(RECIPES)
        )
    recipes = [r for r in RECIPES if r in method.recipes]
    first = stored[0].runs[0] if stored else {}

    def number(key: str, spec: str) -> str:
        return fmt(first.get(key), spec)

    def mious(recipe: str) -> str:
        if recipe not in method.recipes:
            return "n/a"
        return by_recipe[recipe].cell() if by_recipe.get(recipe) else "not run yet"

    def timing(key: str, scale: float, spec: str) -> str:
        """One tagged median per recipe, "-" where none is stored."""
        entries = [by_recipe.get(rc) for rc in recipes]
        return " / ".join(e.timing(key, scale, spec) if e else "-" for e in entries)

    return (
        f"| {method.name} | {number('tiny_params_m', '{:.2f}')} |"
        f" {number('tiny_gflops', '{:.3f}')} | {first.get('optimizer', '-')} |"
        + "".join(f" {mious(r)} |" for r in RECIPES)
        + f" {timing('s_per_iter', 1, '{:.3f}')} |"
        f" {timing('wall_s', 60, '{:.1f}')} | {method.demo_note} |"
    )


def completeness(entries: Dict[Tuple[str, str], Entry]) -> str:
    """Which method/recipe pairs have three seeds, and how many the others have."""
    expected = [(m.name, r) for m in TINY_METHODS for r in RECIPES if r in m.recipes]
    seeds = {key: len(entries[key].runs) if key in entries else 0 for key in expected}
    short = [f"{name} ({recipe}: {n} of 3)" for (name, recipe), n in seeds.items() if n < 3]
    text = f"Complete (3 seeds): {len(expected) - len(short)} of {len(expected)} method/recipes."
    return text + (f" Seeds so far in the others: {', '.join(short)}." if short else "")


def tiny_section(runs: Sequence[Dict], iters: int, data_version: Optional[int]) -> List[str]:
    entries = {k: e for k, e in group_runs(runs, iters, data_version).items() if k[1] in RECIPES}
    others = sum(r["recipe"] in RECIPES for r in runs) - sum(len(e.runs) for e in entries.values())
    any_run = next(iter(entries.values())).runs[0] if entries else {}
    lines = [
        f"## Tiny, trained from scratch on the synthetic dataset (v{data_version},"
        f" {iters} iterations)",
        "",
        "Same tiny ViT (4 blocks, dim 96, patch 8, conv stem), data, crops"
        f" ({'x'.join(str(c) for c in any_run.get('crop', [128, 128]))}),"
        f" batch ({any_run.get('batch', 8)}), schedule and iterations for every method. mIoU on"
        " `synthetic_sem_seg_val`: **median** (min-max over seeds); the seed (`train.seed`) sets"
        " the initial weights, the data order and the augmentation. s/it: median training"
        " seconds per iteration of the runs (Detectron2's `time`); wall: median minutes per"
        " run (start-up, training, evaluation); both depend on the device, marked (GPU) or (CPU),"
        " and on how many runs shared it (below): compare times only between rows of one"
        " device. Runs are seeded alike on both devices, but a GPU and a CPU do not give"
        " bit-identical training, so a seed's mIoU is one sample of the same spread either way."
        " Initialisation: the tiny configs' ViT rule, `trunc_normal` (`model.backbone.init`;"
        " docs/design.md), the decoders their own.",
        "",
        "| method | params (M) | GFLOPs (128x128) | optimizer | mIoU, own loss | mIoU, demo"
        " recipe | mIoU, sampled loss | s/it (own / demo / sampled) | wall min (own / demo /"
        " sampled) | what the recipes are |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [tiny_row(m, {r: entries.get((m.name, r)) for r in RECIPES}) for m in TINY_METHODS]
    lines += ["", completeness(entries)]
    lines += [
        "",
        "Ranking by median mIoU (min-max ranges that overlap are within the seed spread;"
        " such a difference is not a win):",
        "",
    ]
    lines += ranking_lines(list(entries.values())) or ["(no runs stored yet)"]
    spreads = [e.high - e.low for e in entries.values() if len(e.runs) > 1]
    if spreads:
        lines += [
            "",
            f"Seed spread (max - min mIoU of one method and recipe): {min(spreads):.2f} to"
            f" {max(spreads):.2f} points, median {statistics.median(spreads):.2f}.",
        ]
    devices = sorted(
        {
            f"{r['device']} ({r['device_name']}), {r['jobs']} runs at a time,"
            f" {r['threads']} threads each"
            for e in entries.values()
            for r in e.runs
        }
    )
    if devices:
        lines += [
            "",
            "Measured on: " + "; ".join(devices) + ". Command of one run:",
            "",
            f"    {any_run['command']}",
        ]
    if others:
        lines += [
            "",
            f"({others} stored runs at another iteration count or data version are"
            " not in this table.)",
        ]
    return lines


def fmt(value: Optional[float], spec: str) -> str:
    return "-" if value is None else spec.format(value)


def full_row(method: Method, row: FullSize, r: Optional[Dict]) -> str:
    """One full-size row: ours beside the paper's GFLOPs and the reference decoder size."""
    if r is None:
        why = "config missing" if not config_exists(row.config) else "not measured yet"
        return f"| {method.name} | {row.backbone} | {why} | | | | | | | `{row.config}` |"
    if "error" in r:
        error = r["error"].replace("|", "/")[:200]
        return f"| {method.name} | {row.backbone} | failed: {error} | | | | | | | `{row.config}` |"
    paper, diff = "-", "-"
    if row.paper_gflops:
        paper = f"{row.paper_gflops} ({row.paper_source})"
        diff = f"{100 * (r['gflops'] - row.paper_gflops) / row.paper_gflops:+.1f}%"
    ref = "-"
    if row.ref_decoder_params_m:
        ref = f"{row.ref_decoder_params_m:.3f} ({row.ref_source})"
    return (
        f"| {method.name} | {row.backbone} | {r['params_m']:.1f} |"
        f" {fmt(r['decoder_params_m'], '{:.3f}')} | {ref} | {r['gflops']:.2f} | {paper} |"
        f" {diff} | {r['latency_s']:.2f} | `{row.config}` |"
    )


def full_section(stored: Optional[Dict]) -> List[str]:
    lines = ["## Full size: ADE20K-150, 512x512, random weights", ""]
    if not stored:
        return lines + [
            f"Not measured yet: `{RENDER_COMMAND} --parts full`.",
            "",
        ]
    lines += [
        f"Measured by `{stored['command']}` in {stored['minutes']} min on {stored['machine']},"
        f" load average {stored['load_average']}. CPU latency: batch 1, median of"
        f" {stored['runs']} passes after one warm-up.",
        "",
        "| method | backbone | params (M) | decoder params (M) | ref. decoder params | GFLOPs |"
        " paper GFLOPs | diff | CPU latency (s) | config |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for backbone in ("ViT-B", "Swin-T"):
        lines += [
            full_row(method, row, stored["configs"].get(row.config))
            for method in METHODS
            for row in method.full
            if row.backbone == backbone
        ]
    return lines + [""]


def published_section() -> List[str]:
    header = ("method", "backbone", "crop", "mIoU ss", "mIoU ms", "GFLOPs", "source")
    lines = ["## Published: ADE20K val mIoU as the papers report it (not reproduced here)", ""]
    return lines + md_table(header, PUBLISHED) + [""]


def render(
    runs: Sequence[Dict],
    full: Optional[Dict],
    iters: int,
    data_version: Optional[int],
    pretrain: Optional[Dict] = None,
) -> str:
    from benchmarks.compare.pretrained_report import pretrained_section

    lines = [
        "# Every decoder side by side",
        "",
        f"Regenerated from the stored measurements by `{RENDER_COMMAND}`; the command that"
        " measured each part is given in it. Method and options: the docstring of"
        " `benchmarks/compare/__main__.py`. The tiny part compares decoders trained for a few"
        " minutes on toy data; it says nothing about ADE20K, whose published numbers are in the"
        " last part.",
        "",
    ]
    lines += tiny_section(runs, iters, data_version) + [""]
    lines += pretrained_section(runs, iters, data_version, pretrain) + [""]
    lines += full_section(full)
    lines += published_section()

    notes = "What the recipes are, why Shrunk SegViT learns nothing on the tiny ViT, and how the"
    notes += ' full-size columns are counted: `docs/results.md`, "Every decoder side by side".'
    return "\n".join(lines + ["## Notes", "", notes, ""])
