"""Guards shared by the ``datasets/prepare_*.py`` converters: never overwrite, never write raw."""

import os
from typing import List


def check_outputs_free(paths: List[str], overwrite: bool) -> None:
    """Refuse to replace existing converted files unless ``overwrite`` (``--overwrite``)."""
    if overwrite:
        return
    for path in paths:
        if os.path.exists(path):
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
