"""Output folders this project owns: a marker file, and a lock held while a training runs.

Every tool that writes a folder of results (``tools/train_net.py``'s ``train.output_dir``,
``tools/demo.py --output``, ``tools/visualize_predictions.py --output``) first *claims* it:

- a folder that does not exist, or is empty, is created and gets the marker file
  ``.segvit_output``;
- a folder holding the marker was made by one of our tools: its files may be written again;
- any other folder (it holds a user's files, directly or through a symbolic link) is refused with
  ``FileExistsError`` naming the folder, what it holds and the fix. Nothing is written into it.

A training also *locks* its folder: ``fcntl.flock`` on the marker file, held by the main process
for the whole run and released by the operating system when that process ends, however it ends
(a killed run leaves no stale lock). A second training into a folder in use is refused with
:class:`OutputDirInUseError`.
"""

import contextlib
import fcntl
import os
from typing import Iterator, List

__all__ = [
    "MARKER",
    "OutputDirInUseError",
    "check_output_folder",
    "claim_output_folder",
    "lock_output_folder",
]

MARKER = ".segvit_output"
_MARKER_TEXT = (
    "This folder holds outputs of SegViT-D2 tools (docs/training.md, 'Output folders'). They\n"
    "write only into folders holding this file (or new, empty ones). While a training runs it\n"
    "holds a lock on this file.\n"
)


class OutputDirInUseError(RuntimeError):
    """Another training holds the lock of the output folder; the message names it and the fix."""


def _shown(names: List[str]) -> str:
    names = sorted(names)
    return ", ".join(names[:5]) + (f" (and {len(names) - 5} more)" if len(names) > 5 else "")


def check_output_folder(folder: str, *, what: str) -> None:
    """Refuse ``folder`` unless it is absent, empty or holds :data:`MARKER` (read-only check).

    Args:
        folder: the output folder.
        what: how the user named it, for the message (``"train.output_dir"``, ``"--output"``).
    Raises:
        FileExistsError naming the folder (and where a link points), its files and the fix.
    """
    if not os.path.lexists(folder):
        return
    if not os.path.isdir(folder):
        raise FileExistsError(
            f"{what}={folder!r} is not a folder (a file, or a link to nothing). Choose a new "
            f"folder for {what}."
        )
    names = os.listdir(folder)
    if not names or MARKER in names:
        return
    real = os.path.realpath(folder)
    where = f" (a link to {real})" if real != os.path.abspath(folder) else ""
    raise FileExistsError(
        f"{what}={folder!r}{where} holds files ({_shown(names)}) but no {MARKER}: it is not a "
        f"folder SegViT-D2's tools made, and they never write into one. Choose a new (or empty) "
        f"folder for {what}. If it is the output of one of our runs made before the marker "
        f"existed, mark it: `touch {os.path.join(folder, MARKER)}`."
    )


def claim_output_folder(folder: str, *, what: str) -> None:
    """:func:`check_output_folder`, then create ``folder`` and its marker if needed."""
    check_output_folder(folder, what=what)
    os.makedirs(folder, exist_ok=True)
    marker = os.path.join(folder, MARKER)
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as f:
        f.write(_MARKER_TEXT)


@contextlib.contextmanager
def lock_output_folder(folder: str, *, what: str) -> Iterator[None]:
    """Hold the lock of a claimed ``folder`` (see the module docstring) inside the ``with``.

    Raises:
        OutputDirInUseError: another process holds it (a training running into that folder).
    """
    fd = os.open(os.path.join(folder, MARKER), os.O_RDONLY | os.O_NOFOLLOW)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputDirInUseError(
                f"{what}={folder!r} is in use by another training (it holds the lock on "
                f"{os.path.join(folder, MARKER)}). Wait for it to finish, or choose another "
                f"{what}. (The lock ends with its process: a killed run leaves none behind.)"
            ) from None
        yield
    finally:
        os.close(fd)  # closing the file releases the lock
