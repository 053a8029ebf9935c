"""Checks shared by the dataset loaders, the dataset mapper and ``datasets/check.py``.

Errors name the offending file or folder and say how to fix it (docs/design.md, "Errors").
"""

import os

import numpy as np

__all__ = ["invalid_label_values", "check_label_values", "check_folder_exists"]


def invalid_label_values(label: np.ndarray, num_classes: int, ignore_label: int) -> np.ndarray:
    """
    Return the sorted distinct values of ``label`` that are neither a class id in
    ``[0, num_classes)`` nor ``ignore_label`` (an empty array when the label map is valid).

    Args:
        label (np.ndarray): an integer label map of any shape.
        num_classes (int): number of classes K; valid ids are 0..K-1.
        ignore_label (int): the value that marks pixels without a label (usually 255).
    """
    label = np.asarray(label)
    if label.dtype == np.uint8:
        # bincount over 256 bins is several times faster than np.unique on uint8 maps.
        present = np.flatnonzero(np.bincount(label.ravel(), minlength=256))
    else:
        present = np.unique(label)
    bad = (present < 0) | (present >= num_classes)
    bad &= present != ignore_label
    return present[bad]


def check_label_values(
    label: np.ndarray, num_classes: int, ignore_label: int, file_name: str
) -> None:
    """
    Raise ``ValueError`` naming ``file_name`` and the offending values when ``label`` holds a value
    that is not a class id in ``[0, num_classes)`` and not ``ignore_label``.

    Args:
        label (np.ndarray): the label map read from ``file_name``.
        num_classes (int): number of classes K of the dataset.
        ignore_label (int): the ignore value (255 for every built-in dataset).
        file_name (str): the label file, for the error message.
    """
    bad = invalid_label_values(label, num_classes, ignore_label)
    if bad.size:
        shown = ", ".join(str(v) for v in bad[:10].tolist())
        more = f" (and {bad.size - 10} more)" if bad.size > 10 else ""
        raise ValueError(
            f"Label file {file_name} contains value(s) {shown}{more}, but the dataset has "
            f"{num_classes} classes: valid values are 0..{num_classes - 1} and the ignore value "
            f"{ignore_label}. Re-run the dataset's prepare script (raw labels are often offset by "
            f"one) or register the dataset with the right class list; "
            f"`python datasets/check.py <dataset_name>` lists every bad file."
        )


def check_folder_exists(path: str, what: str, fix: str) -> None:
    """
    Raise ``FileNotFoundError`` when the folder ``path`` does not exist.

    Args:
        path (str): the folder that must exist.
        what (str): what the folder is, e.g. "ADE20K training labels".
        fix (str): how to create it, e.g. "run `python datasets/prepare_ade20k.py`".
    """
    if not os.path.isdir(path):
        raise FileNotFoundError(
            f"{what}: expected folder {os.path.abspath(path)} does not exist. {fix}"
        )
