#!/usr/bin/env python
"""Dataset doctor: scan a registered semantic-segmentation dataset and list what is wrong.

    python datasets/check.py ade20k_sem_seg_val
    python datasets/check.py --folder path/to/images path/to/labels --num-classes 5

Reports, with file names: images without a label, labels without an image, unreadable or corrupt
images and labels, image/label size mismatches, label files the loader refuses (RGB labels;
'L' and palette 'P' PNGs are read as the loader reads them, palette indices as class ids), and
label values that are neither a class id nor ``ignore_label``. Images and labels are read by the
loader's reader (``segvit/data/image_io.py``). Also lists, as warnings, images with an EXIF
orientation tag (training and evaluation read the stored pixels of image and label alike) and
16-bit images (read scaled to 8 bits). Exits with status 1
when a problem other than a warning is found.
"""
import segvit.warning_filters  # noqa: F401  # isort: skip  (first: quiets library import warnings)
import argparse
import os
import sys
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional

from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image
from tqdm import tqdm

import segvit.data.datasets.builtin  # noqa: F401  (registers the built-in datasets)
from segvit.data.datasets.folder import register_folder_dataset
from segvit.data.datasets.validation import invalid_label_values
from segvit.data.image_io import HIGH_BIT_DEPTH_MODES, exif_orientation, read_label, to_8bit

# Problem kinds, in the order they are reported.
KINDS = (
    "dataset_error",  # the loader itself failed (missing folder, unregistered name, ...)
    "missing_label",  # an image of the split has no label file
    "missing_image",  # a label file has no image
    "unreadable_image",
    "unreadable_label",
    "label_mode",  # label PNG is RGB / 2-channel / > 255 instead of single-channel ('L' or 'P')
    "size_mismatch",  # image and label sizes differ
    "label_values",  # values >= num_classes other than ignore_label
    "exif_orientation",  # warning: the image has an EXIF orientation tag (ignored when read)
    "high_bit_depth",  # warning: a 16-bit image, read scaled to 8 bits (value / 257)
)
WARNING_KINDS = (
    "exif_orientation",
    "high_bit_depth",
)  # reported, but do not make the exit status 1


@dataclass(frozen=True)
class Problem:
    """One problem found by ``check_dataset``: its kind (see ``KINDS``), file and explanation."""

    kind: str
    file_name: str
    message: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.file_name}: {self.message}"


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def _expected_images(meta: dict, records: List[dict]) -> Optional[Dict[str, str]]:
    """{stem: image path} of the images of the split: from its split list, else its image folder."""
    image_root = meta.get("image_root")
    if not image_root or not os.path.isdir(image_root):
        return None
    ext = meta.get("image_ext") or (os.path.splitext(records[0]["file_name"])[1] if records else "")
    split_file = meta.get("split_file")
    if split_file:
        if not os.path.isfile(split_file):
            return None
        with open(split_file) as f:
            stems = {os.path.splitext(line.split()[0])[0] for line in f if line.strip()}
    else:
        stems = {_stem(f) for f in os.listdir(image_root) if ext and f.endswith(ext)}
    return {stem: os.path.join(image_root, stem + ext) for stem in stems}


def _open(path: str, kind: str, problems: List[Problem]) -> Optional[Image.Image]:
    """Fully decode ``path``; record a problem and return None when that fails."""
    try:
        image = Image.open(path)
        image.load()  # decodes (and closes) the file: catches truncated data too
        return image
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        problems.append(Problem(kind, path, f"cannot be read: {e}"))
        return None


def check_record(
    record: dict, num_classes: int, ignore_label: int, problems: List[Problem]
) -> None:
    """Check one Detectron2 record (``file_name``, ``sem_seg_file_name``), appending problems."""
    image_path, label_path = record["file_name"], record.get("sem_seg_file_name")
    if not label_path or not os.path.isfile(label_path):
        problems.append(Problem("missing_label", image_path, f"label {label_path} not found"))
        return
    if not os.path.isfile(image_path):
        problems.append(Problem("missing_image", label_path, f"image {image_path} not found"))
        image = None
    else:
        image = _open(image_path, "unreadable_image", problems)
    if image is not None and exif_orientation(image) != 1:
        problems.append(
            Problem(
                "exif_orientation",
                image_path,
                f"EXIF orientation {exif_orientation(image)}: viewers show it turned, but "
                "training and evaluation read the stored pixels, as for its label. If the label "
                "was drawn on the turned photo, save the image turned and without the tag "
                "(PIL: ImageOps.exif_transpose(image).save(path))",
            )
        )
    if image is not None:
        try:
            to_8bit(image, image_path)  # what the loader does: the same error for the same file
        except ValueError as e:
            problems.append(Problem("unreadable_image", image_path, str(e)))
            image = None
    if image is not None and image.mode in HIGH_BIT_DEPTH_MODES:
        problems.append(
            Problem(
                "high_bit_depth",
                image_path,
                f"mode {image.mode!r} (16 bits): training, evaluation and the demo read it scaled "
                "to 8 bits (value / 257)",
            )
        )
    label_image = _open(label_path, "unreadable_label", problems)
    if label_image is None:
        return
    try:
        label = read_label(label_path, image=label_image)  # the loader's reader ('L' and 'P')
    except ValueError as e:
        problems.append(Problem("label_mode", label_path, f"mode {label_image.mode!r}: {e}"))
        label = None
    if image is not None and image.size != label_image.size:
        problems.append(
            Problem(
                "size_mismatch",
                label_path,
                f"label is {label_image.size[0]}x{label_image.size[1]} but image {image_path} is "
                f"{image.size[0]}x{image.size[1]} (W x H)",
            )
        )
    if label is not None:
        bad = invalid_label_values(label, num_classes, ignore_label)
        if bad.size:
            problems.append(
                Problem(
                    "label_values",
                    label_path,
                    f"values {bad[:10].tolist()} are not in 0..{num_classes - 1} nor "
                    f"ignore_label {ignore_label}",
                )
            )


def check_dataset(
    name: str, *, max_files: Optional[int] = None, progress: bool = False
) -> List[Problem]:
    """
    Scan the registered dataset ``name`` and return its problems (an empty list when clean).

    Args:
        name (str): a name registered in ``DatasetCatalog`` with sem-seg metadata
            (``stuff_classes``, ``ignore_label``, ``image_root``, ``sem_seg_root``).
        max_files (int | None): check only the first N records (the folder scans stay complete).
        progress (bool): show a tqdm progress bar.
    """
    try:
        records = DatasetCatalog.get(name)
    except (FileNotFoundError, KeyError, ValueError, AssertionError) as e:
        return [Problem("dataset_error", name, str(e))]
    meta = MetadataCatalog.get(name).as_dict()
    if "stuff_classes" not in meta:
        return [Problem("dataset_error", name, "metadata has no 'stuff_classes'")]
    num_classes, ignore_label = len(meta["stuff_classes"]), meta.get("ignore_label", 255)

    problems: List[Problem] = []
    expected = _expected_images(meta, records) or {}
    listed = {_stem(r["file_name"]) for r in records}
    for stem in sorted(set(expected) - listed):
        problems.append(Problem("missing_label", expected[stem], "image has no label"))
    label_root, label_ext = meta.get("sem_seg_root"), meta.get("sem_seg_ext", ".png")
    if label_root and os.path.isdir(label_root):
        used = {os.path.basename(r.get("sem_seg_file_name", "")) for r in records}
        for f in sorted(os.listdir(label_root)):
            if f.endswith(label_ext) and f not in used:
                problems.append(
                    Problem("missing_image", os.path.join(label_root, f), "label has no image")
                )
    for record in tqdm(records[:max_files], desc=f"checking {name}", disable=not progress):
        check_record(record, num_classes, ignore_label, problems)
    order = {k: i for i, k in enumerate(KINDS)}
    return sorted(problems, key=lambda p: (order.get(p.kind, len(KINDS)), p.file_name))


def format_report(name: str, problems: Iterable[Problem], max_per_kind: int = 20) -> str:
    """A human-readable report: a count per kind and up to ``max_per_kind`` files each."""
    problems = list(problems)
    if not problems:
        return f"{name}: no problems found."
    lines = [f"{name}: {len(problems)} problem(s)"]
    for kind in sorted({p.kind for p in problems}, key=lambda k: (k not in KINDS, k)):
        of_kind = [p for p in problems if p.kind == kind]
        lines.append(f"  {kind}: {len(of_kind)}")
        lines += [f"    {p.file_name}: {p.message}" for p in of_kind[:max_per_kind]]
        if len(of_kind) > max_per_kind:
            lines.append(f"    ... and {len(of_kind) - max_per_kind} more")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("name", nargs="?", help="registered dataset name")
    parser.add_argument(
        "--folder", nargs=2, metavar=("IMAGE_ROOT", "LABEL_ROOT"), help="check a folder pair"
    )
    parser.add_argument("--num-classes", type=int, help="number of classes, 1..255 (with --folder)")
    parser.add_argument(
        "--image-ext",
        default="",
        help="image extension (with --folder); default: found from the files",
    )
    parser.add_argument("--max-files", type=int, default=None, help="check only N records")
    parser.add_argument("--max-per-kind", type=int, default=20, help="files listed per kind")
    args = parser.parse_args(argv)
    if args.folder:
        if not args.num_classes:
            parser.error("--folder needs --num-classes")
        if not 1 <= args.num_classes <= 255:
            parser.error(
                f"--num-classes {args.num_classes}: 8-bit label PNGs hold class ids 0..254 and "
                "the ignore value 255, so give 1..255 classes"
            )
        args.name = args.name or "check_folder_dataset"
        register_folder_dataset(
            args.name,
            *args.folder,
            [f"class_{i}" for i in range(args.num_classes)],
            image_ext=args.image_ext or None,  # None: as the loader, from the files
        )
    elif not args.name:
        parser.error("give a registered dataset name or --folder IMAGE_ROOT LABEL_ROOT")
    problems = check_dataset(args.name, max_files=args.max_files, progress=True)
    print(format_report(args.name, problems, args.max_per_kind))
    return 1 if any(p.kind not in WARNING_KINDS for p in problems) else 0


if __name__ == "__main__":
    sys.exit(main())
