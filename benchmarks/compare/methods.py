"""The methods of the side-by-side comparison and their published numbers (data only).

Every number in :data:`METHODS` and :data:`PUBLISHED` names its source: a table of the SegViT paper
(NeurIPS 2022), a method's own README or paper, or the reference arithmetic of decoder sizes in
``docs/results.md`` ("Reference decoder sizes").
"""

import dataclasses
import os
import re
from typing import Dict, List, Optional, Sequence, Tuple

from benchmarks.common import ROOT

DEMO_CONFIG = "configs/synthetic/segvit_tiny.py"

# Recipes of the tiny part. "own": the method's loss as in its paper. "demo": the demo config's
# recipe (``segvit_tiny.py``): the paper's loss plus the per-pixel cross-entropy across the class
# queries' mask logits (weight 10), which only exists for heads with one query per class and
# sigmoid masks (SegViT's ATM criterion). "sampled": the demo recipe with the mask losses on 2,048
# importance-sampled pixels per image instead of all 16,384 of a 128x128 crop (not in the paper;
# docs/design.md, "Point-sampled ATM loss").
RECIPES = ("own", "demo", "sampled")
PIXEL_CE_OFF = ("model.criterion.pixel_ce_weight=0.0",)  # the paper's ATM loss
SAMPLED = ("model.criterion.num_points=2048",)
# The second regime: the method's own loss, fine-tuned from the tiny ViT pre-trained without pixel
# labels by `tools/pretrain_tiny_backbone.py` (docs/results.md, "Pre-trained tiny backbone").
PRETRAINED_RECIPE = "pretrained"
PRETRAINED_CHECKPOINT = "output/pretrained_tiny/backbone_tiny.pth"
PRETRAINED = (f"train.init_checkpoint={PRETRAINED_CHECKPOINT}",)
ALL_RECIPES = RECIPES + (PRETRAINED_RECIPE,)


@dataclasses.dataclass(frozen=True)
class FullSize:
    """A full-size config and what the papers give for it."""

    config: str
    backbone: str  # "ViT-B" or "Swin-T"
    paper_gflops: Optional[float] = None
    paper_source: str = ""  # where paper_gflops comes from
    ref_decoder_params_m: Optional[float] = None  # reference arithmetic, docs/results.md
    ref_source: str = ""


@dataclasses.dataclass(frozen=True)
class Method:
    name: str
    key: str  # file-name key
    tiny_config: str
    recipes: Dict[str, Tuple[str, ...]]  # recipe -> train_net overrides; absent: n/a
    demo_note: str  # what "demo recipe" means for this method, or why it does not apply
    full: Tuple[FullSize, ...] = ()


SEGVIT_DEMO_NOTE = (
    "own: the paper's ATM loss (`pixel_ce_weight=0`); demo: + the demo's per-pixel CE (weight 10)"
)
METHODS: List[Method] = [
    Method(
        "SegViT", "segvit", "configs/synthetic/segvit_tiny.py",
        {"own": PIXEL_CE_OFF, "demo": (), "sampled": SAMPLED,
         "pretrained": PIXEL_CE_OFF + PRETRAINED}, SEGVIT_DEMO_NOTE,
        (FullSize("configs/ade20k/segvit_vit_b16_512x512_160k.py", "ViT-B", 120.9,
                  "SegViT T1", 22.303, "docs/results.md"),
         FullSize("configs/ade20k/segvit_swin_t_512x512_160k.py", "Swin-T", 48.0, "SegViT T6")),
    ),
    Method(
        "Shrunk SegViT", "segvit_shrunk", "configs/synthetic/segvit_shrunk_tiny.py",
        {"own": PIXEL_CE_OFF, "demo": (), "sampled": SAMPLED,
         "pretrained": PIXEL_CE_OFF + PRETRAINED}, SEGVIT_DEMO_NOTE,
        (FullSize("configs/ade20k/ablations/segvit_shrunk_vit_b16_512x512_160k.py", "ViT-B",
                  97.1, "SegViT T8"),),
    ),
    Method(
        "SETR-naive", "setr", "configs/synthetic/setr_tiny.py",
        {"own": (), "pretrained": PRETRAINED},
        "n/a: its own loss is the per-pixel CE already",
        (FullSize("configs/ade20k/ablations/setr_naive_vit_b16_512x512_160k.py", "ViT-B", 107.3,
                  "SegViT T8"),),
    ),
    Method(
        "Segmenter", "segmenter", "configs/synthetic/segmenter_tiny.py",
        {"own": (), "pretrained": PRETRAINED},
        "n/a: its own loss is the per-pixel CE already",
        (FullSize("configs/ade20k/segmenter_vit_b16_512x512_160k.py", "ViT-B", 129.6,
                  "SegViT T1", 16.06, "docs/results.md"),),
    ),
    Method(
        "DEPICT-SA", "depict_sa", "configs/synthetic/depict_sa_tiny.py",
        {"own": (), "pretrained": PRETRAINED},
        "n/a: its own loss is the per-pixel CE already",
        (FullSize("configs/ade20k/depict_sa_vit_b16_512x512_160k.py", "ViT-B", None, "",
                  0.812847, "docs/results.md"),),
    ),
    Method(
        "DEPICT-CA", "depict_ca", "configs/synthetic/depict_ca_tiny.py",
        {"own": (), "pretrained": PRETRAINED},
        "n/a: its own loss is the per-pixel CE already",
        (FullSize("configs/ade20k/depict_ca_vit_b16_512x512_160k.py", "ViT-B", None, "",
                  1.164594, "docs/results.md"),),
    ),
    Method(
        "RSSeg-R (reconstruction)", "rsseg_r", "configs/synthetic/rsseg_r_tiny.py",
        {"own": (), "pretrained": PRETRAINED},
        "n/a: its own loss is the per-pixel CE plus its auxiliary losses (docs/rsseg.md)",
        (FullSize("configs/ade20k/rsseg_r_vit_b16_512x512_160k.py", "ViT-B"),),
    ),
    Method(
        "MaskFormer", "maskformer", "configs/synthetic/maskformer_tiny.py",
        {"own": (), "pretrained": PRETRAINED},
        "n/a: its 16 queries are matched, not one per class",
        (FullSize("configs/ade20k/maskformer_vit_b16_512x512_160k.py", "ViT-B"),
         FullSize("configs/ade20k/maskformer_swin_t_512x512_160k.py", "Swin-T", 57.3,
                  "SegViT T6")),
    ),
    Method(
        "Mask2Former", "mask2former", "configs/synthetic/mask2former_tiny.py",
        {"own": (), "pretrained": PRETRAINED},
        "n/a: its 16 queries are matched, not one per class",
        (FullSize("configs/ade20k/mask2former_vit_b16_512x512_160k.py", "ViT-B"),
         FullSize("configs/ade20k/mask2former_swin_t_512x512_160k.py", "Swin-T", 73.7,
                  "SegViT T6")),
    ),
]  # fmt: skip

# Options of ours, not in any paper, off by default in every config: measured on the tiny part
# beside the methods (own loss, from scratch), never in the paper-regime tables or full size.
FEATURE_QUERIES = ("model.head.feature_queries=True",)
OPTIONS: List[Method] = [
    Method(
        "Shrunk SegViT + feature_queries (option)", "segvit_shrunk_fq",
        "configs/synthetic/segvit_shrunk_tiny.py", {"own": PIXEL_CE_OFF + FEATURE_QUERIES},
        "own: the paper's ATM loss; the QU queries start as table + first feature"
        " (`model.head.feature_queries=True`, not in the paper; docs/design.md)",
    ),
]  # fmt: skip
TINY_METHODS: List[Method] = METHODS + OPTIONS  # the rows of the tiny from-scratch table

# ADE20K val mIoU as published: (method, backbone, crop, ss, ms, GFLOPs, source). Only numbers
# found in the papers and the methods' READMEs; "-" = not given there.
SEGVIT_T1 = "SegViT paper (NeurIPS 2022) Table 1"
PUBLISHED: List[Tuple[str, str, str, str, str, str, str]] = [
    ("SegViT", "ViT-B", "512", "51.3", "53.0", "120.9", SEGVIT_T1),
    ("SegViT", "ViT-L (AugReg)", "640", "54.6", "55.2", "637.9", SEGVIT_T1),
    ("SegViT", "Swin-T", "512", "47.1", "-", "48.0", "SegViT paper Table 6"),
    ("Shrunk SegViT", "ViT-B", "512", "50.0", "-", "97.1", "SegViT paper Table 8 (Shrunk)"),
    ("Shrunk SegViT", "ViT-L (AugReg)", "640", "53.9", "55.1", "373.5", SEGVIT_T1),
    ("SETR-naive", "ViT-B", "512", "46.5", "-", "107.3",
     "SegViT paper Tables 4 and 8 (Single, SETR)"),
    ("Segmenter", "ViT-B", "512", "49.0", "50.0", "129.6",
     SEGVIT_T1 + " (Segmenter*: 'reproduced under the same settings as the official repo')"),
    ("Segmenter", "ViT-B", "512", "48.5", "-", "-",
     "DEPICT's README plot, read off by pixel"),
    ("Segmenter", "ViT-L (AugReg)", "640", "51.8", "53.6", "671.8",
     SEGVIT_T1 + "; the same mIoU in Segmenter's README"),
    ("DEPICT (variant not stated)", "ViT-B", "512", "≈49.2-49.4", "-", "-",
     "DEPICT's README plot, read off by pixel; not a table value"),
    ("DEPICT-SA", "ViT-L", "640", "52.9", "54.3", "-",
     "DEPICT paper (arXiv 2024, via Papers-with-Code)"),
    ("DEPICT-CA", "-", "-", "-", "-", "-",
     "no ADE20K number for DEPICT-CA in the provided texts (the paper's tables were not readable)"),
    ("MaskFormer", "Swin-T", "512", "46.7", "-", "57.3", "SegViT paper Table 6"),
    ("Mask2Former", "Swin-T", "512", "47.7", "-", "73.7", "SegViT paper Table 6"),
    ("MaskFormer, Mask2Former", "ViT-B", "512", "-", "-", "-",
     "none: their papers have no plain-ViT model; our ViT-B configs are our own pairing"),
]  # fmt: skip


def find_methods(names: Optional[Sequence[str]]) -> List[Method]:
    """Methods and options by name or key (case-insensitive); all when ``names`` is empty."""
    if not names:
        return list(TINY_METHODS)
    by_name = {m.name.lower(): m for m in TINY_METHODS}
    by_name.update({m.key: m for m in TINY_METHODS})
    unknown = [n for n in names if n.lower() not in by_name]
    if unknown:
        raise SystemExit(f"--methods: unknown {unknown}; use {[m.key for m in TINY_METHODS]}")
    return [by_name[n.lower()] for n in names]


def config_exists(config: str) -> bool:
    return os.path.isfile(os.path.join(ROOT, config))


# The name of a run folder of `python -m benchmarks.compare --parts tiny` (runs.train_one) begins
# with the run it holds; the one parser of it (runs.adopt_run, benchmarks.separation).
RUN_NAME = re.compile(
    r"^(?P<key>[a-z0-9_]+?)__(?P<recipe>[a-z]+)__seed(?P<seed>\d+)__(?P<iters>\d+)it"
)


def parse_run_folder(folder: str) -> Tuple[Method, str, int, int]:
    """(method, recipe, seed, iterations) of a run folder of ``benchmarks.compare``."""
    name = os.path.basename(os.path.normpath(folder))
    match = RUN_NAME.match(name)
    if match is None:
        raise ValueError(
            f"run folder {folder!r}: its name must start with <key>__<recipe>__seed<k>__<iters>it "
            "(a folder of python -m benchmarks.compare, e.g. segvit__own__seed0__2000it-...)"
        )
    method = next((m for m in TINY_METHODS if m.key == match["key"]), None)
    if method is None or match["recipe"] not in method.recipes:
        raise ValueError(
            f"run folder {folder!r}: no method {match['key']!r} with recipe {match['recipe']!r} "
            f"in benchmarks/compare/methods.py (keys: {[m.key for m in TINY_METHODS]})"
        )
    return method, match["recipe"], int(match["seed"]), int(match["iters"])
