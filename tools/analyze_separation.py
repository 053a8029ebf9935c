#!/usr/bin/env python
"""Over-smoothness and class separation of a trained model's features, per layer.

Streams ``dataloader.test`` of a LazyConfig (overrides checked against the config) through the
model (whole-image pass) and reports, for every tapped feature, the label-free over-smoothness,
intra/inter-class cosine and their gap, the Fisher ratio and the boundary contrast, raw and
per-image centred, with bootstrap 95% intervals over images (``segvit.analysis.separation``;
docs/rsseg.md). Taps default to every ViT block (wherever the backbone nests it), RSSeg-R's
local pathway and SASM, and the decoder's own feature (``decoder_feature_tap``);
``--taps backbone.blocks.3 head.classifier:input`` reads others.
Example::

    python tools/analyze_separation.py --config-file configs/synthetic/rsseg_r_tiny.py \\
        --output output/rsseg_r_tiny/separation.json \\
        train.init_checkpoint=output/rsseg_r_tiny/model_final.pth
"""

import segvit.warning_filters  # noqa: F401  # isort: skip  (first: quiets library import warnings)
import argparse
import json
import sys
from typing import Dict, Optional, Sequence

import segvit  # noqa: F401  (registers datasets and models)
from segvit.analysis.separation_report import format_table, separation_report
from segvit.checkpoint.safe_io import atomic_write_text
from segvit.engine.cli import (
    add_config_arguments,
    add_weights_arguments,
    check_device,
    load_config,
    setup_tool_logger,
)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_config_arguments(parser)
    parser.add_argument("--output", default=None, help="JSON file to write")
    parser.add_argument("--taps", nargs="+", default=None, help="module paths (':input' suffix)")
    parser.add_argument("--max-images", type=int, default=None, help="stop after N images")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--min-cells", type=int, default=16, help="pure cells a class needs")
    parser.add_argument("--allow-random-init", action="store_true", help="no checkpoint needed")
    add_weights_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> Dict:
    """Measure, print the raw and centred tables, write ``--output``; returns the report."""
    cfg = load_config(args.config_file, args.opts)
    check_device(cfg.train.device)
    report = separation_report(
        cfg,
        taps=args.taps,
        max_images=args.max_images,
        resamples=args.resamples,
        min_cells=args.min_cells,
        allow_random_init=args.allow_random_init,
        allow_partial_weights=args.allow_partial_weights,
    )
    report["config"] = args.config_file
    for variant in ("raw", "centred"):
        print(f"\n{variant} (mean [95% CI] over {report['images']} images)\n")
        print(format_table(report, variant))
    if args.output:
        atomic_write_text(args.output, json.dumps(report, indent=2), what="report")
        print(f"Wrote {args.output}")
    else:
        print(json.dumps({"config": args.config_file, "images": report["images"]}))
    return report


def main(argv: Optional[Sequence[str]] = None) -> int:
    run(get_parser().parse_args(argv))
    return 0


if __name__ == "__main__":
    setup_tool_logger()
    sys.exit(main())
