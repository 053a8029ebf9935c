"""Semantic-segmentation datasets stored as a folder of images and a folder of label PNGs.

``register_folder_dataset`` registers a user's own dataset in one line; the built-in datasets
(``builtin.py``) use the same loader. Labels are single-channel PNGs holding class ids 0..K-1 and
the ignore value (255); image ``a/b.jpg`` is paired with label ``labels/b.png`` by file stem.
The image extension is found from the files when not given (:func:`detect_image_ext`).
"""

import logging
import os
from functools import partial
from typing import Dict, List, Optional, Sequence

from detectron2.data import DatasetCatalog, MetadataCatalog

from .validation import check_folder_exists

__all__ = [
    "detect_image_ext",
    "load_sem_seg_pairs",
    "make_palette",
    "register_folder_dataset",
    "register_sem_seg",
]

# Image formats Detectron2 / PIL read; the first one of these that names the label stems is used.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

logger = logging.getLogger(__name__)


def _ext(ext: str) -> str:
    """'jpg' or '.jpg' -> '.jpg'."""
    return ext if ext.startswith(".") else "." + ext


def _stems(folder: str, ext: str) -> Dict[str, str]:
    """Map file stem -> file name for the files of ``folder`` ending in ``ext`` (not recursive)."""
    return {f[: -len(ext)]: f for f in os.listdir(folder) if f.endswith(ext)}


def detect_image_ext(image_root: str, label_root: str, label_ext: str = "png") -> str:
    """
    The extension of the images in ``image_root`` named like the labels in ``label_root``.

    Used when a folder dataset is registered without ``image_ext``: image ``a.png`` or ``a.jpg``
    pairs with label ``a.png`` either way. Case is kept (``.JPG``), as file names are matched
    exactly.

    Raises:
        ValueError: when no image has a label's name, or when the named images use several
            extensions (say which, and how many of each).
    """
    label_ext = _ext(label_ext)
    check_folder_exists(label_root, "label folder", "")
    check_folder_exists(image_root, "image folder", "")
    labels = set(_stems(label_root, label_ext))
    found: Dict[str, int] = {}
    for f in os.listdir(image_root):
        stem, ext = os.path.splitext(f)
        if stem in labels and ext.lower() in IMAGE_EXTENSIONS:
            found[ext] = found.get(ext, 0) + 1
    if len(found) == 1:
        return next(iter(found))
    if not found:
        raise ValueError(
            f"No image in {image_root} has the name of a label in {label_root} ({len(labels)} "
            f"'*{label_ext}' label(s)); images and labels pair by file name: a.jpg <-> a.png. "
            f"Image extensions looked for: {', '.join(IMAGE_EXTENSIONS)}."
        )
    counts = ", ".join(f"{n} '*{e}'" for e, n in sorted(found.items()))
    raise ValueError(
        f"The images in {image_root} that have a label use several extensions ({counts}); "
        "convert them to one format, or register each extension as its own dataset with "
        "image_ext=..."
    )


def load_sem_seg_pairs(
    image_root: str,
    label_root: str,
    image_ext: Optional[str] = "jpg",
    label_ext: str = "png",
    *,
    scan_images: bool = True,
    missing_hint: str = "",
    name: str = "",
) -> List[dict]:
    """
    Pair the images of ``image_root`` with the label files of ``label_root`` by file stem.

    Args:
        image_root (str): folder of images.
        label_root (str): folder of label maps.
        image_ext (str | None): image extension ("jpg" or ".jpg"); None finds it from the files
            (:func:`detect_image_ext`).
        label_ext (str): label extension.
        scan_images (bool): if True, list ``image_root`` and keep only stems present in both
            folders (logging a warning for unpaired files, like Detectron2's ``load_sem_seg``).
            If False, the label files alone define the split and each image path is derived from
            the label's stem; use this when ``image_root`` holds images of several splits.
        missing_hint (str): appended to the error raised when a folder is missing, e.g. the
            prepare command that creates it.
        name (str): dataset name, for error messages.

    Returns:
        list[dict]: Detectron2 records with "file_name" and "sem_seg_file_name", sorted by stem.
    """
    prefix = f"Dataset {name!r}: " if name else ""
    check_folder_exists(label_root, prefix + "label folder", missing_hint)
    check_folder_exists(image_root, prefix + "image folder", missing_hint)
    label_ext = _ext(label_ext)
    image_ext = (
        _ext(image_ext) if image_ext else detect_image_ext(image_root, label_root, label_ext)
    )
    labels = _stems(label_root, label_ext)
    if scan_images:
        images = _stems(image_root, image_ext)
        stems = sorted(set(images) & set(labels))
        no_label, no_image = len(images) - len(stems), len(labels) - len(stems)
        if no_label or no_image:
            logger.warning(
                f"{image_root} / {label_root}: skipping {no_label} image(s) without a label and "
                f"{no_image} label(s) without an image; `python datasets/check.py` names them."
            )
    else:
        stems = sorted(labels)
    if not stems:
        raise ValueError(
            f"{prefix}no image/label pairs ('*{image_ext}' in {image_root}, '*{label_ext}' in "
            f"{label_root}). Check the folders and the extensions (leave image_ext out to find "
            f"it from the files). {missing_hint}"
        )
    return [
        {
            "file_name": os.path.join(image_root, stem + image_ext),
            "sem_seg_file_name": os.path.join(label_root, labels[stem]),
        }
        for stem in stems
    ]


def make_palette(num_classes: int) -> List[List[int]]:
    """
    Deterministic, distinct RGB colors for ``num_classes`` <= 256 classes, none of them black:
    class k gets entry k + 1 of the PASCAL VOC color map (bits of the id spread over the high
    bits of R, G and B), whose entry 0 is black. A black class would darken every overlay of a
    dataset whose class 0 is its most common one (background).
    """
    if not 0 < num_classes <= 256:
        raise ValueError(f"make_palette supports 1..256 classes, got {num_classes}.")
    palette = []
    for i in range(1, num_classes + 1):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette.append([r, g, b])
    return palette


def register_sem_seg(name: str, loader, **metadata) -> None:
    """
    (Re-)register ``name`` with a loader and metadata. Idempotent: an existing registration of
    ``name`` (dataset and metadata) is replaced, so importing or calling twice does not crash.
    """
    if name in DatasetCatalog:
        DatasetCatalog.remove(name)
    if name in MetadataCatalog:
        MetadataCatalog.remove(name)
    DatasetCatalog.register(name, loader)
    MetadataCatalog.get(name).set(**metadata)


def register_folder_dataset(
    name: str,
    image_root: str,
    label_root: str,
    class_names: Sequence[str],
    colors: Optional[Sequence[Sequence[int]]] = None,
    ignore_label: int = 255,
    image_ext: Optional[str] = None,
    label_ext: str = "png",
) -> None:
    """
    Register a folder of images and a folder of label PNGs as a semantic-segmentation dataset,
    usable by name in configs (``DatasetCatalog.get(name)``) and evaluated with ``SemSegEvaluator``.

    Args:
        name (str): dataset name, e.g. "my_dataset_train".
        image_root (str): folder of images.
        label_root (str): folder of single-channel label PNGs (class ids 0..K-1, ``ignore_label``).
        class_names (Sequence[str]): the K class names; their order defines the ids.
        colors (Sequence[Sequence[int]] | None): K RGB colors for visualization; default
            ``make_palette(K)``.
        ignore_label (int): label value for unlabeled pixels.
        image_ext (str | None): image file extension; None (default) finds it from the images
            named like the labels (:func:`detect_image_ext`), now if both folders exist, else
            when the dataset is loaded.
        label_ext (str): label file extension.

    Registering a name again replaces the earlier registration (safe to call twice).
    """
    class_names = list(class_names)
    if not class_names:
        raise ValueError(f"register_folder_dataset({name!r}): class_names is empty.")
    if len(class_names) > 255:
        raise ValueError(
            f"register_folder_dataset({name!r}): {len(class_names)} classes do not fit 8-bit "
            "label PNGs, which hold class ids 0..254 and the ignore value 255 (at most 255 "
            "classes); merge classes or split the dataset."
        )
    if 0 <= ignore_label < len(class_names):
        raise ValueError(
            f"register_folder_dataset({name!r}): ignore_label={ignore_label} is also a class id "
            f"(there are {len(class_names)} classes); use a value in {len(class_names)}..255, "
            "e.g. 255."
        )
    colors = [list(c) for c in colors] if colors is not None else make_palette(len(class_names))
    if len(colors) != len(class_names):
        raise ValueError(
            f"register_folder_dataset({name!r}): {len(colors)} colors for {len(class_names)} "
            f"classes; pass one RGB color per class or colors=None."
        )
    if not image_ext and os.path.isdir(image_root) and os.path.isdir(label_root):
        image_ext = detect_image_ext(image_root, label_root, label_ext)
    loader = partial(
        load_sem_seg_pairs,
        image_root,
        label_root,
        image_ext,
        label_ext,
        missing_hint="(registered by register_folder_dataset)",
        name=name,
    )
    register_sem_seg(
        name,
        loader,
        stuff_classes=class_names,
        stuff_colors=colors,
        ignore_label=ignore_label,
        evaluator_type="sem_seg",
        image_root=image_root,
        sem_seg_root=label_root,
        image_ext=_ext(image_ext) if image_ext else None,
        sem_seg_ext=_ext(label_ext),
    )
