#!/usr/bin/env python
"""Convert ImageNet Swin weights into a Detectron2 checkpoint for ``train.init_checkpoint``.

Reads Microsoft's official Swin file (e.g. ``swin_tiny_patch4_window7_224.pth``, ``{"model": sd}``;
timm's Swin layout also works), drops what ``SwinBackbone`` does not use (classifier ``head.*``,
its final ``norm.*``, the ``attn_mask`` buffers), infers the architecture (embed dim, depths, heads
and window size from the relative-position tables), checks every tensor against a
``SwinBackbone`` built with those dimensions, and writes
``{"model": {<prefix><key>: tensor}, "__author__": "segvit convert_swin_pretrained"}``.
The per-output norms ``backbone.norm{i}.*`` are not in ImageNet files: Detectron2 reports them as
missing and they keep their LayerNorm initialisation (weight 1, bias 0), as in maskformer2.

Where the Swin sits decides ``--prefix``:

- MaskFormer / Mask2Former (``SemSegMaskFormer``): ``backbone.`` (the default);
- SegViT on Swin (the Swin is ``MSDeformAttnNeck.net``): ``backbone.net.``.

Examples (ADE20K Swin-T configs)::

    # MaskFormer and Mask2Former
    python tools/convert_swin_pretrained.py --input pretrained/swin_tiny_patch4_window7_224.pth \\
        --output pretrained/swin_tiny_d2.pth
    python tools/train_net.py --config-file configs/ade20k/maskformer_swin_t_512x512_160k.py \\
        --num-gpus 8 train.init_checkpoint=pretrained/swin_tiny_d2.pth
    python tools/train_net.py --config-file configs/ade20k/mask2former_swin_t_512x512_160k.py \\
        --num-gpus 8 train.init_checkpoint=pretrained/swin_tiny_d2.pth

    # SegViT on Swin-T
    python tools/convert_swin_pretrained.py --input pretrained/swin_tiny_patch4_window7_224.pth \\
        --output pretrained/swin_tiny_d2_segvit.pth --prefix backbone.net.
    python tools/train_net.py --config-file configs/ade20k/segvit_swin_t_512x512_160k.py \\
        --num-gpus 8 train.init_checkpoint=pretrained/swin_tiny_d2_segvit.pth

The model config must use the file's dimensions (printed as ``arch:``); Detectron2's checkpointer
skips tensors of the wrong shape with only a warning.
"""
import segvit.warning_filters  # noqa: F401  # isort: skip  (first: quiets library import warnings)
import argparse
import sys
from typing import List, Optional

from segvit.checkpoint.swin_weights import (
    build_reference,
    check_against_reference,
    describe_dropped,
    infer_swin_config,
    load_swin_state_dict,
    swin_name,
)
from segvit.checkpoint.writer import save_detectron2_checkpoint
from segvit.engine.cli import add_output_arguments, run_converter, setup_tool_logger


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--input", required=True, help="official Swin .pth (or .safetensors)")
    add_output_arguments(
        parser,
        prefix_help="prepended to every key: 'backbone.' for MaskFormer/Mask2Former (default), "
        "'backbone.net.' for SegViT on Swin",
    )
    return parser


def run(args: argparse.Namespace) -> None:
    """Convert ``args.input``, write ``args.output`` and print what was kept and dropped."""
    weights = load_swin_state_dict(args.input)
    arch = infer_swin_config(weights.state_dict)
    state_dict, left, added = check_against_reference(
        weights.state_dict, build_reference(arch), source=args.input
    )

    save_detectron2_checkpoint(
        state_dict, args.output, prefix=args.prefix, author="segvit convert_swin_pretrained"
    )

    keys = ("embed_dim", "depths", "num_heads", "window_size", "patch_size", "mlp_ratio", "ape")
    print(f"input:   {args.input} ({weights.source_format} Swin layout)")
    print(f"arch:    {swin_name(arch)}: " + ", ".join(f"{k}={arch[k]}" for k in keys))
    print(f"kept:    {len(state_dict)} tensors (prefixed {args.prefix!r})")
    print(f"dropped: {describe_dropped(weights.dropped)}")
    if added:
        print(f"added:   {len(added)} relative_position_index buffers (fixed by window_size)")
    print(f"left at initialisation (not in ImageNet files): {', '.join(left) or 'none'}")
    print(f"wrote:   {args.output}")


def main(argv: Optional[List[str]] = None) -> int:
    return run_converter(get_parser(), run, argv)


if __name__ == "__main__":
    setup_tool_logger()
    sys.exit(main())
