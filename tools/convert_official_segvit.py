#!/usr/bin/env python
"""Convert a released SegViT checkpoint (official mmseg code) into a Detectron2 checkpoint.

Reads the official ``.pth`` with ``torch.load(weights_only=True)`` (only the metadata types of an
mmcv checkpoint are allowed besides tensors), maps every tensor of ``checkpoint["state_dict"]``
to the model built from ``--config-file``, prints a report (mapped, dropped and why) and writes
``{"model": {...}}`` that the config loads with no missing and no unexpected keys. Nothing is
written when anything does not fit; an existing ``--output`` is kept unless ``--overwrite``.

Example (docs/model_zoo.md lists every released checkpoint with its config)::

    python tools/convert_official_segvit.py --input ade_51.3.pth \\
        --config-file configs/ade20k/segvit_vit_b16_512x512_160k.py \\
        --output pretrained/segvit_vit_b16_ade20k_51.3.pth
    python tools/train_net.py --config-file configs/ade20k/segvit_vit_b16_512x512_160k.py \\
        --eval-only train.init_checkpoint=pretrained/segvit_vit_b16_ade20k_51.3.pth

Trailing ``key=value`` arguments override the config, checked as in ``tools/train_net.py``.
"""
import segvit.warning_filters  # noqa: F401  # isort: skip  (first: quiets library import warnings)
import argparse
import re
import sys
from collections import Counter
from typing import Any, Dict, List, Optional

import torch
from detectron2.config import instantiate

from segvit.checkpoint.official_segvit import (
    OfficialCheckpointError,
    convert_official_state_dict,
    official_state_dict,
    read_official_checkpoint,
)
from segvit.checkpoint.writer import save_detectron2_checkpoint
from segvit.engine.cli import (
    add_config_arguments,
    add_output_arguments,
    load_config,
    run_converter,
    setup_tool_logger,
)

AUTHOR = "segvit convert_official_segvit"


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--input", required=True, help="official SegViT .pth (mmseg / mmcv)")
    add_config_arguments(parser)  # our LazyConfig of the same model, e.g. configs/ade20k/...
    add_output_arguments(parser)
    return parser


def build_reference_model(config: str, opts: List[str]):
    """The config (with overrides) and its model on the "meta" device: names and shapes, no
    memory, no init time."""
    cfg = load_config(config, opts)
    with torch.device("meta"):
        return cfg, instantiate(cfg.model)


def describe_meta(meta: Any, pixel_mean, pixel_std) -> List[str]:
    """Report lines about the file's mmcv ``meta``: versions, iteration, classes, and the
    normalisation of its config text compared with the model's."""
    ours_mean = [round(float(v), 3) for v in pixel_mean]
    ours_std = [round(float(v), 3) for v in pixel_std]
    unchecked = (
        f"normalisation not checked: {{}}; evaluating with the config's mean {ours_mean}, std "
        f"{ours_std} (docs/model_zoo.md, 'Normalisation of the ViT-B model')"
    )
    if not isinstance(meta, dict) or not meta:
        return [unchecked.format("the file has no meta")]
    lines = []
    versions = {k: meta[k] for k in ("mmcv_version", "mmseg_version", "iter") if k in meta}
    if versions:
        lines.append(", ".join(f"{k} {v}" for k, v in versions.items()))
    if isinstance(meta.get("CLASSES"), (list, tuple)):
        lines.append(f"{len(meta['CLASSES'])} class names")
    text = meta.get("config") if isinstance(meta.get("config"), str) else ""
    match = re.search(r"img_norm_cfg\s*=\s*dict\(\s*mean=\[([^\]]*)\],\s*std=\[([^\]]*)\]", text)
    if match:
        mean = [float(v) for v in match.group(1).split(",")]
        std = [float(v) for v in match.group(2).split(",")]
        same = ours_mean == [round(v, 3) for v in mean] and ours_std == [round(v, 3) for v in std]
        lines.append(
            f"normalisation in the file's config: mean {mean}, std {std} "
            + (
                "(= the config's)"
                if same
                else f"(the config has mean {ours_mean}, std "
                f"{ours_std}: set model.pixel_mean / model.pixel_std to the file's to evaluate)"
            )
        )
    else:
        lines.append(unchecked.format("the file's meta holds no config text with img_norm_cfg"))
    return lines


def print_report(args, conversion, meta_lines: List[str], model) -> None:
    groups = Counter(ours.split(".")[0] for _, ours in conversion.mapped)
    gh, gw = model.backbone.pretrain_grid
    print(f"input:    {args.input}")
    for line in meta_lines:
        print(f"meta:     {line}")
    print(f"config:   {args.config_file}{' ' + ' '.join(args.opts) if args.opts else ''}")
    print(
        f"mapped:   {len(conversion.mapped)} tensors ("
        + ", ".join(f"{k} {v}" for k, v in sorted(groups.items()))
        + f"); pos-embed grid {gh}x{gw}"
    )
    for name, reason in conversion.dropped:
        print(f"dropped:  {name}: {reason}")
    print("load:     0 missing, 0 unexpected keys (strict load into the config's model)")
    print(f"wrote:    {args.output}")


def run(args: argparse.Namespace) -> None:
    """Convert ``args.input``, write ``args.output`` and print the report."""
    cfg, model = build_reference_model(args.config_file, args.opts)  # a bad override fails first
    checkpoint = read_official_checkpoint(args.input)
    official = official_state_dict(checkpoint, args.input)
    conversion = convert_official_state_dict(official, model)
    # the same check Detectron2's loader makes, strictly: every name and shape matches
    model.load_state_dict(conversion.state_dict, strict=True, assign=True)
    meta_lines = describe_meta(checkpoint.get("meta"), cfg.model.pixel_mean, cfg.model.pixel_std)
    state_dict: Dict[str, torch.Tensor] = conversion.state_dict
    save_detectron2_checkpoint(state_dict, args.output, prefix="", author=AUTHOR)
    print_report(args, conversion, meta_lines, model)


def main(argv: Optional[List[str]] = None) -> int:
    """0 when written; 1 with one ``error:`` line when the file does not fit (nothing written)."""
    try:
        return run_converter(get_parser(), run, argv)
    except OfficialCheckpointError as e:
        print(f"error: {e}\nnothing written.", file=sys.stderr)
        return 1


if __name__ == "__main__":
    setup_tool_logger()
    sys.exit(main())
