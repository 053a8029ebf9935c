#!/usr/bin/env python
"""Convert a pretrained ViT file into a Detectron2 checkpoint for ``train.init_checkpoint``.

Reads timm ``.pth``/``.safetensors``, mmseg ``.pth`` or Google ``.npz`` ViT weights, drops what the
SegViT backbone does not use (class token and its position, final norm, classifier head), resizes
the pos-embed to the ``--pretrain-img-size`` grid, checks the result against a ViT built with the
file's dimensions, and writes ``{"model": {"backbone.<key>": tensor}, ...}``.

Example::

    python tools/convert_pretrained.py --input pretrained/jx_vit_base_p16_384-83fb41ba.pth \\
        --output pretrained/vit_b16_384_segvit.pth

For the Segmenter / DEPICT configs (backbone with ``cls_token=True, final_norm=True``, bilinear
pos-embed resize) add ``--class-token --final-norm --pos-embed-interp bilinear``.

Then set ``train.init_checkpoint`` (LazyConfig) or ``MODEL.WEIGHTS`` (yacs) to the output file.
"""
import segvit.warning_filters  # noqa: F401  # isort: skip  (first: quiets library import warnings)
import argparse
import sys
from typing import List, Optional

from segvit.checkpoint.vit_weights import (
    infer_vit_config,
    load_into_backbone,
    read_state_dict,
    to_backbone_layout,
)
from segvit.checkpoint.writer import save_detectron2_checkpoint
from segvit.engine.cli import add_output_arguments, run_converter, setup_tool_logger
from segvit.modeling.backbone.vit import ViT


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--input", required=True, help="timm/mmseg .pth, .safetensors or .npz")
    parser.add_argument(
        "--pretrain-img-size",
        type=int,
        default=384,
        help="pos-embed grid of the output = this / patch size; must equal the backbone's "
        "pretrain_img_size (default 384 -> 24x24 for patch 16)",
    )
    parser.add_argument(
        "--num-prefix-tokens",
        type=int,
        default=None,
        help="pos-embed positions before the grid (1 = class token); inferred when omitted",
    )
    parser.add_argument(
        "--class-token",
        action="store_true",
        help="keep cls_token and its position (as cls_pos_embed): Segmenter / DEPICT backbones",
    )
    parser.add_argument(
        "--final-norm",
        action="store_true",
        help="keep the final LayerNorm 'norm': Segmenter / DEPICT backbones",
    )
    parser.add_argument(
        "--pos-embed-interp",
        default="bicubic",
        choices=("bicubic", "bilinear"),
        help="pos-embed resize mode (bicubic: SegViT/mmseg; bilinear: Segmenter)",
    )
    add_output_arguments(
        parser,
        prefix_help="prepended to every key: 'backbone.' for SegViT (default), 'backbone.net.' for "
        "the MaskFormer/Mask2Former ViT-B configs (the ViT inside a SimpleFeaturePyramid)",
    )
    return parser


def run(args: argparse.Namespace) -> None:
    """Convert ``args.input``, write ``args.output`` and print what was kept and dropped."""
    # Read once; look at the stored grid to learn the patch size, then resize to the wanted grid.
    state_dict, fmt = read_state_dict(args.input)
    layout = dict(
        num_prefix_tokens=args.num_prefix_tokens,
        source_format=fmt,
        class_token=args.class_token,
        final_norm=args.final_norm,
        pos_embed_interp=args.pos_embed_interp,
    )
    arch = infer_vit_config(to_backbone_layout(state_dict, **layout).state_dict)
    if args.pretrain_img_size % arch["patch_size"]:
        raise SystemExit(
            f"--pretrain-img-size {args.pretrain_img_size} is not a multiple of the checkpoint's "
            f"patch size {arch['patch_size']}"
        )
    grid = (args.pretrain_img_size // arch["patch_size"],) * 2
    weights = to_backbone_layout(state_dict, target_grid=grid, **layout)

    # Check the keys against a ViT of the file's size (num_heads does not affect shapes).
    reference = ViT(
        pretrain_img_size=args.pretrain_img_size,
        patch_size=arch["patch_size"],
        in_chans=arch["in_chans"],
        embed_dim=arch["embed_dim"],
        depth=arch["depth"],
        num_heads=1,
        mlp_ratio=arch.get("mlp_ratio", 4.0),
        qkv_bias=arch["qkv_bias"],
        drop_path_rate=0.0,
        out_indices=(arch["depth"] - 1,),
        cls_token=args.class_token,
        final_norm=args.final_norm,
    )
    missing, unexpected = load_into_backbone(reference, weights.state_dict)
    del reference

    save_detectron2_checkpoint(
        weights.state_dict, args.output, prefix=args.prefix, author="segvit convert_pretrained"
    )

    arch_str = ", ".join(f"{k}={v}" for k, v in arch.items() if k != "pretrain_img_size")
    print(f"input:   {args.input} ({weights.source_format})")
    print(f"arch:    {arch_str}")
    print(f"pos:     stored grid {weights.source_grid} -> {grid}")
    print(f"kept:    {len(weights.state_dict)} tensors (prefixed {args.prefix!r})")
    print(f"dropped: {', '.join(weights.dropped) or 'nothing'}")
    print(f"missing: {', '.join(missing) or 'none'}")
    print(
        f"unexpected (kept in the file, ignored by the backbone): {', '.join(unexpected) or 'none'}"
    )
    print(f"wrote:   {args.output}")


def main(argv: Optional[List[str]] = None) -> int:
    return run_converter(get_parser(), run, argv)


if __name__ == "__main__":
    setup_tool_logger()
    sys.exit(main())
