#!/usr/bin/env python
"""Segment images with a trained model: colour overlays, raw label PNGs and class areas.

Example::

    python tools/demo.py --config-file configs/synthetic/segvit_tiny.py \\
        --input 'photos/*.jpg' --output output/demo_images \\
        train.init_checkpoint=output/demo/model_final.pth

``--input`` takes image files, folders and globs. For each image ``NAME`` it writes
``NAME_overlay.jpg`` (prediction blended over the image, with a legend strip under it: each
predicted class's colour, name and share of the pixels), ``NAME_label.png`` (palette PNG whose
pixel values are class indices) and, for the whole run, ``areas.json`` (per image: the fraction
of pixels of each predicted class). Inputs whose names clash (``a.jpg``, ``a.png``, ``x/a.jpg``)
get distinct names (``a_jpg``, ``a_png``, ``a_jpg_2``) and ``areas.json`` keys them by path.
``--output`` must be a new or empty folder, or one a SegViT-D2 tool wrote (it holds
``.segvit_output``): a folder of the user's files is refused, never written into.
A photo's EXIF orientation is applied (the image is segmented upright, as a viewer shows it).
Runs on ``train.device`` (the config's; override with ``train.device=cpu`` or ``cuda``).
"""
import segvit.warning_filters  # noqa: F401  # isort: skip  (first: quiets library import warnings)
import argparse
import glob
import json
import os
import sys
from collections import Counter
from typing import Dict, List, Optional, Sequence

import numpy as np
from PIL import Image

import segvit  # noqa: F401  (registers datasets and models)
from segvit.data.image_io import read_image_pixels
from segvit.engine.cli import (
    add_config_arguments,
    add_weights_arguments,
    check_device,
    load_config,
    setup_tool_logger,
    weights_path,
)
from segvit.engine.run_folder import check_output_folder, claim_output_folder
from segvit.predictor import SemSegPredictor
from segvit.visualization import overlay_with_legend

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def expand_inputs(patterns: Sequence[str]) -> List[str]:
    """Files, folders (their images, sorted) and globs -> a list of image paths."""
    paths: List[str] = []
    for pattern in patterns:
        if os.path.isdir(pattern):
            names = sorted(os.listdir(pattern))
            paths += [
                os.path.join(pattern, n) for n in names if n.lower().endswith(IMAGE_EXTENSIONS)
            ]
        elif os.path.isfile(pattern):
            paths.append(pattern)
        else:
            matches = sorted(glob.glob(pattern))
            if not matches:
                raise FileNotFoundError(f"--input {pattern!r} matches no file, folder or glob")
            paths += matches
    unique = {}
    for path in paths:  # the same file named twice (a folder and a glob) is segmented once
        unique.setdefault(os.path.realpath(path), path)
    return list(unique.values())


def output_names(paths: Sequence[str]) -> List[str]:
    """One distinct output name per input: its stem; stems shared by several inputs get their
    extension (``a_jpg``), and names still shared a counter (``a_jpg_2``), in input order."""
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    clash = Counter(stems)
    names = [
        f"{s}_{os.path.splitext(p)[1].lstrip('.').lower()}" if clash[s] > 1 else s
        for s, p in zip(stems, paths)
    ]
    seen: Counter = Counter()
    unique = []
    for name in names:
        seen[name] += 1
        unique.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return unique


def save_label_png(label: np.ndarray, colors, path: str) -> None:
    """Write class indices as a palette PNG (values = classes, colours = the dataset palette)."""
    png = Image.fromarray(label.astype(np.uint8), mode="P")
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[: len(colors)] = np.asarray(colors, dtype=np.uint8)[:256]
    png.putpalette(palette.flatten().tolist())
    png.save(path)


def class_areas(label: np.ndarray, class_names: Sequence[str]) -> Dict[str, float]:
    values, counts = np.unique(label, return_counts=True)
    return {class_names[v]: round(float(c) / label.size, 6) for v, c in zip(values, counts)}


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_config_arguments(parser)
    parser.add_argument("--input", nargs="+", required=True, help="images, folders or globs")
    parser.add_argument("--output", required=True, help="folder for the overlays and labels")
    add_weights_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> Dict[str, Dict[str, float]]:
    """Segment every input into ``args.output``; returns the class areas of ``areas.json``."""
    cfg = load_config(args.config_file, args.opts)
    paths = expand_inputs(args.input)
    stems = output_names(paths)
    check_output_folder(args.output, what="--output")  # new, empty or ours: never a user's files
    predictor = SemSegPredictor(
        cfg,
        weights_path(cfg),
        device=check_device(cfg.train.device),
        allow_partial_weights=args.allow_partial_weights,
    )
    claim_output_folder(args.output, what="--output")

    basenames = Counter(os.path.basename(p) for p in paths)
    areas = {}
    for path, stem in zip(paths, stems):
        rgb = read_image_pixels(path, "RGB", apply_exif=True)  # upright; 16-bit scaled
        label = predictor(rgb)["sem_seg"]
        vis = overlay_with_legend(rgb, label, predictor.colors, predictor.class_names)
        Image.fromarray(vis).save(os.path.join(args.output, f"{stem}_overlay.jpg"), quality=92)
        save_label_png(label, predictor.colors, os.path.join(args.output, f"{stem}_label.png"))
        key = os.path.basename(path) if basenames[os.path.basename(path)] == 1 else path
        areas[key] = class_areas(label, predictor.class_names)
    with open(os.path.join(args.output, "areas.json"), "w") as f:
        json.dump(areas, f, indent=2)
    print(f"segmented {len(paths)} image(s) into {args.output}")
    return areas


def main(argv: Optional[Sequence[str]] = None) -> int:
    run(get_parser().parse_args(argv))
    return 0


if __name__ == "__main__":
    setup_tool_logger()
    sys.exit(main())
