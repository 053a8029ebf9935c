"""Guards shared by the ``datasets/prepare_*.py`` converters: never overwrite, never write raw,
never write through a symbolic link.

A dataset folder comes from an archive or another person; a symbolic link inside the output tree
(``annotations_detectron2/training/x.png -> ~/photo.jpg``, dangling or not) would make a write
land outside that tree. :func:`check_no_links` refuses such a tree before anything is written,
naming the link and the fix, and :func:`save_png` replaces the file name itself (a temporary file
renamed over it), so a link made after the check is replaced, never followed.
"""

import os
import tempfile
from typing import List

import numpy as np
from PIL import Image

__all__ = ["check_no_links", "check_outputs_free", "check_outside", "save_png"]


def check_outputs_free(paths: List[str], overwrite: bool) -> None:
    """Refuse to replace existing converted files unless ``overwrite`` (``--overwrite``)."""
    if overwrite:
        return
    for path in paths:
        if os.path.lexists(path):
            raise FileExistsError(
                f"{path} already exists. Pass --overwrite (convert(..., overwrite=True)) to "
                f"replace the converted files."
            )


def check_outside(dst: str, raw_dirs: List[str]) -> None:
    """Refuse an output folder inside one of the raw data folders (raw data stays untouched)."""
    dst = os.path.realpath(dst)
    for raw in raw_dirs:
        raw = os.path.realpath(raw)
        if dst == raw or dst.startswith(raw + os.sep):
            raise ValueError(f"Output folder {dst} is inside the raw folder {raw}; choose another.")


def check_no_links(dst: str, paths: List[str]) -> None:
    """Refuse when ``dst``, a folder under it or one of the output ``paths`` is a symbolic link.

    Args:
        dst: the output folder (e.g. ``<dataset>/annotations_detectron2``).
        paths: the files the converter will write, all under ``dst``.
    Raises:
        ValueError naming the link, where it points and the fix (remove the link).
    """
    checked = set()
    for path in paths:
        rel = os.path.relpath(path, dst)
        if rel.startswith(os.pardir):
            raise ValueError(f"{path} is not inside the output folder {dst}.")
        parts = [] if rel == os.curdir else rel.split(os.sep)
        current = dst
        for part in [None, *parts]:
            current = current if part is None else os.path.join(current, part)
            if current in checked:
                continue
            checked.add(current)
            if os.path.islink(current):
                raise ValueError(
                    f"{current} is a symbolic link (to {os.readlink(current)!r}); the converter "
                    f"writes only real files and folders inside {dst}, never through a link, so "
                    f"that a dataset folder cannot make it write elsewhere. Remove the link "
                    f"(`rm {current}`) and run again."
                )


def save_png(array: np.ndarray, path: str) -> None:
    """Write a 2-D uint8 array as a mode 'L' PNG at ``path`` without following a link there: a
    temporary file in the same folder is renamed over the name (a kill leaves no partial file)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            Image.fromarray(array).save(f, format="PNG")
        os.replace(tmp, path)  # replaces a link itself, never its target
    except BaseException:
        if os.path.lexists(tmp):
            os.remove(tmp)
        raise
