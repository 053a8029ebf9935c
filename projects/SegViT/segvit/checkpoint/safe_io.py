"""Reading weight files without running code from them; writing files without leaving partial ones.

:func:`read_weights` is the one reader of every weight file a user names (a checkpoint to train
from, resume or evaluate, a file to convert):

- ``.pth`` / ``.pt`` / ``.pyth`` / any other name: ``torch.load(weights_only=True)``, passed
  explicitly, so ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` cannot turn it off. ``allowed_globals``
  adds the few Python types a format needs beyond tensors and plain containers (an mmcv ``meta``
  dict holds numpy scalars). Zip files are scanned first, so a refusal names every other global.
- ``.pkl`` (Detectron2 / Caffe2 model-zoo files): :class:`ArrayUnpickler`, a restricted unpickler
  that builds only numpy arrays, numpy scalars and plain containers.
- ``.npz`` (Google ViT weights): numpy with ``allow_pickle=False``; object arrays (pickled Python
  objects) are refused.
- ``.safetensors``: the header is checked first (a damaged or truncated file is named with what
  is wrong), then read with safetensors (tensors only by construction).

An empty, truncated or non-weight file raises :class:`CheckpointError` naming the file, what it
is and the fix (e.g. "delete it and resume from model_0000499.pth").

:func:`atomic_write` is the one writer: the bytes go to a temporary file in the target folder,
which gets the permissions of a plain ``open()`` (``0o666 & ~umask``) and is renamed over the
target, so a kill or a full disk never leaves a partial file under the final name. A full disk
raises :class:`DiskFullError` naming the folder.
"""

import errno
import glob
import io
import json
import logging
import os
import pickle
import re
import tempfile
import zipfile
from typing import Any, Callable, Dict, Optional, Sequence

import torch

__all__ = [
    "ArrayUnpickler",
    "CheckpointError",
    "DiskFullError",
    "atomic_write",
    "atomic_write_text",
    "broken_file_fix",
    "disk_full_error",
    "read_weights",
]

_RESAVE = (
    "If you trust the file, load it once in a trusted environment and re-save only its weights: "
    "torch.save({'model': state_dict}, 'weights.pth')."
)


class CheckpointError(ValueError):
    """A file named as weights cannot be used; the message names it, says why and the fix."""


class DiskFullError(OSError):
    """No space left while writing; ``filename`` is the folder, the message says the fix."""


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


class ArrayUnpickler(pickle.Unpickler):
    """An unpickler that builds numpy arrays, numpy scalars and plain containers, nothing else.

    Pickle runs code by calling the globals a file names (``os.system``, ``builtins.exec``); this
    unpickler refuses every global except the numpy array/dtype/scalar constructors and
    ``collections.OrderedDict``, so a crafted ``.pkl`` stops before anything is called.
    """

    _ALLOWED = {
        ("collections", "OrderedDict"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),  # how protocol-2 pickles store bytes (numpy array data)
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        if module == "numpy" and re.fullmatch(r"(u?int|float|complex)\d+|bool_", name):
            return super().find_class(module, name)  # dtype classes of numpy >= 1.25 pickles
        raise pickle.UnpicklingError(f"it asks to call {module}.{name}")


def read_weights(path: str, allowed_globals: Sequence[Any] = (), *, mmap: bool = False) -> Any:
    """Read a weight file without running code from it (the formats: see the module docstring).

    Args:
        path: the file; the format is chosen by its extension.
        allowed_globals: Python globals a ``torch.load`` may build besides torch's weights-only
            defaults (tensors, dict, list, tuple, OrderedDict, str, numbers, None): objects, or
            ``(object, "module.name")`` pairs naming them as the pickle spells them.
        mmap: memory-map a zip-format ``torch.load`` (parts of the file that are never used,
            such as an optimizer state, then cost no memory).

    Returns:
        The object stored in the file: usually a dict (``{"model": state_dict, ...}`` or a state
        dict); for ``.npz`` a dict of numpy arrays, for ``.safetensors`` a dict of tensors.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError: unsafe, empty, truncated, damaged or not a weight file.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file (a weights file was expected)")
    if os.path.getsize(path) == 0:
        raise CheckpointError(_describe_unusable(path, EOFError("empty file")))
    if path.endswith(".pkl"):
        return _read_pkl(path)
    if path.endswith(".npz"):
        return _read_npz(path)
    if path.endswith(".safetensors"):
        return _read_safetensors(path)
    return _read_torch(path, allowed_globals, mmap)


def _global_name(entry: Any) -> str:
    if isinstance(entry, tuple):
        return entry[1]
    return f"{entry.__module__}.{entry.__qualname__}"


def _refusal(path: str, names: Sequence[str]) -> CheckpointError:
    return CheckpointError(
        f"{path}: refused: the file needs the Python global(s) {', '.join(names)}, which are "
        "neither tensors nor the plain types of a weights file; unpickling them could run code, "
        f"so the file is not loaded (it is read with weights_only=True). {_RESAVE}"
    )


def _read_torch(path: str, allowed_globals: Sequence[Any], mmap: bool) -> Any:
    allowed = {_global_name(g) for g in allowed_globals}
    try:
        needed = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # noqa: BLE001  (legacy or damaged file: the weights-only load still guards)
        needed = []
    refused = [name for name in needed if name not in allowed]
    if refused:
        raise _refusal(path, refused)
    try:
        with torch.serialization.safe_globals(list(allowed_globals)):
            # weights_only=True passed explicitly: TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD cannot override
            return torch.load(
                path, map_location="cpu", weights_only=True, mmap=mmap and zipfile.is_zipfile(path)
            )
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL ([\w.]+)", str(e))  # torch names the global it refused
        if found:
            raise _refusal(path, [found.group(1)]) from None
        raise CheckpointError(_describe_unusable(path, e)) from None
    except Exception as e:  # noqa: BLE001  (EOFError, RuntimeError, ... on damaged or other files)
        raise CheckpointError(_describe_unusable(path, e)) from None


def _read_pkl(path: str) -> Any:
    with open(path, "rb") as f:
        data = f.read()
    try:
        return ArrayUnpickler(io.BytesIO(data), encoding="latin1").load()
    except pickle.UnpicklingError as e:
        if "asks to call" in str(e):
            raise CheckpointError(
                f"{path}: refused to unpickle this .pkl file: {e}. Weight .pkl files are read with "
                "a restricted unpickler that builds only numpy arrays and plain containers, "
                f"because unpickling anything else could run code. {_RESAVE}"
            ) from None
        raise CheckpointError(_describe_unusable(path, e)) from None
    except Exception as e:  # noqa: BLE001  (a damaged pickle fails in many ways)
        raise CheckpointError(_describe_unusable(path, e)) from None


def _read_npz(path: str) -> Dict[str, Any]:
    import numpy as np

    arrays = {}
    try:
        with np.load(path, allow_pickle=False) as npz:
            for key in npz.files:
                try:
                    arrays[key] = npz[key]
                except ValueError as e:
                    if "allow_pickle" not in str(e):
                        raise
                    raise CheckpointError(
                        f"{path}: refused: array {key!r} is an object array (pickled Python "
                        "objects, not numbers); unpickling it could run code, so the file is not "
                        "loaded (it is read with allow_pickle=False). Re-save it with numeric "
                        "arrays only: np.savez(path, **{name: np.asarray(a, dtype=np.float32)})."
                    ) from None
    except CheckpointError:
        raise
    except Exception as e:  # noqa: BLE001  (BadZipFile, EOFError, zlib.error, ...)
        raise CheckpointError(
            _describe_unusable(path, e, kind=".npz (zip of .npy arrays)")
        ) from None
    return arrays


def _safetensors_problem(path: str) -> Optional[str]:
    """What is wrong with the header of a ``.safetensors`` file, or None if it looks whole.

    The format: an 8-byte little-endian length N, N bytes of JSON (name -> dtype, shape and
    ``data_offsets`` into the data that follows), then the tensor data.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        length_bytes = f.read(8)
        if len(length_bytes) < 8:
            return f"it is {size} bytes, too short for the 8-byte header length"
        length = int.from_bytes(length_bytes, "little")
        if length > size - 8:
            return (
                f"its first 8 bytes give a header of {length} bytes, but only {size - 8} bytes "
                "follow: the file is truncated, or it is not a .safetensors file"
            )
        raw = f.read(length)
    try:
        header = json.loads(raw)
        ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
    except Exception as e:  # noqa: BLE001  (not JSON, or not the expected fields)
        return f"its {length}-byte header is not valid safetensors JSON ({type(e).__name__}: {e})"
    data = size - 8 - length
    if ends and max(ends) > data:
        return (
            f"its header lists {max(ends)} bytes of tensor data but the file holds {data}: "
            "the file is truncated"
        )
    return None


def _read_safetensors(path: str) -> Dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    with open(path, "rb") as f:
        if _text_like(f.read(256)):
            raise CheckpointError(_describe_unusable(path, ValueError("a text file")))
    problem = _safetensors_problem(path)
    if problem is None:
        try:
            return load_file(path, device="cpu")
        except Exception as e:  # noqa: BLE001  (safetensors raises its own error types)
            problem = f"{type(e).__name__}: {e}"
    raise CheckpointError(
        f"{path} is not a readable .safetensors file: {problem}. {broken_file_fix(path)}"
    )


def _text_like(head: bytes) -> bool:
    if not head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\r\n\t" for c in text)


def _describe_unusable(path: str, error: BaseException, kind: Optional[str] = None) -> str:
    """What an unreadable file is (from its first bytes) and how to fix it."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(256)
    reason = str(error).split(". ")[0][:200]
    if size == 0:
        what = "is empty (0 bytes)"
    elif _text_like(head):
        return (
            f"{path} is not a checkpoint: it is a text file (starts with {head[:40]!r}). "
            "Pass a model file written by tools/train_net.py or a converter (.pth)."
        )
    elif head.startswith(b"PK") or head.startswith(b"\x80"):
        what = f"is truncated or corrupt ({size} bytes; {type(error).__name__}: {reason})"
    elif kind is not None:
        what = f"is not a readable {kind} file ({size} bytes; {type(error).__name__}: {reason})"
    else:
        return (
            f"{path} is not a checkpoint (its first bytes {head[:8]!r} are neither a PyTorch "
            "file nor a pickle). Pass a model file written by tools/train_net.py or a converter "
            "(.pth)."
        )
    return (
        f"{path} {what}, probably from a run killed while saving it, a full disk or an "
        f"interrupted download. {broken_file_fix(path)}"
    )


def _checkpoint_iteration(name: str) -> int:
    m = re.fullmatch(r"model_(\d+)\.pth", name)
    return int(m.group(1)) if m else -1


def broken_file_fix(path: str) -> str:
    """The fix for a broken or missing checkpoint ``path``: "Delete it and resume from
    model_000X.pth" with the newest other checkpoint beside it, or "write it again"."""
    folder = os.path.dirname(os.path.abspath(path))
    others = [
        os.path.basename(p)
        for p in glob.glob(os.path.join(folder, "model_*.pth"))
        if os.path.abspath(p) != os.path.abspath(path) and os.path.getsize(p) > 0
    ]
    others.sort(key=lambda n: (n == "model_final.pth", _checkpoint_iteration(n)))
    if not others:
        return (
            "Delete it and write it again (re-run the training or the converter that made it, "
            "or download it again)."
        )
    best = others[-1]
    last = os.path.join(folder, "last_checkpoint")
    return (
        f"Delete it and resume from {best}: `rm {path}; echo {best} > {last}`, then run "
        "tools/train_net.py again with --resume (or name that file in train.init_checkpoint)."
    )


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def _umask() -> int:
    """The process umask, read without changing it where Linux reports it (thread-safe)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore at once
    os.umask(mask)
    return mask


def _no_space(error: BaseException) -> bool:
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(error, RuntimeError) and "No space left" in str(error)


def disk_full_error(error: BaseException, folder: str) -> Optional[DiskFullError]:
    """The :class:`DiskFullError` to raise for ``error`` (or for one in its chain), or None.

    A :class:`DiskFullError` in the chain is returned as it is; a "no space left" ``OSError``
    (a log, a metrics file, an event file) becomes one naming ``folder`` (the run's output
    folder) and the fix. Later log writes fail too, so logging's own error reports are turned
    off: otherwise each record prints a traceback that buries the one error that matters.
    """
    seen: Optional[BaseException] = error
    while seen is not None:
        if isinstance(seen, DiskFullError) or _no_space(seen):
            logging.raiseExceptions = False
            if isinstance(seen, DiskFullError):
                return seen
            return DiskFullError(
                errno.ENOSPC,
                f"No space left on device while writing into {folder} ({seen}). Free space there "
                "(or set train.output_dir to a disk with room) and run again with --resume: "
                "checkpoints are written to a temporary file and renamed, so the last one is "
                "complete",
                folder,
            )
        seen = seen.__context__
    return None


def atomic_write(path: str, write: Callable[[Any], None], *, what: str = "file") -> None:
    """Write ``path`` through ``write(binary_file)`` into a temporary file beside it, then rename.

    The folder is created if needed. The file gets the permissions a plain ``open()`` would give
    (``0o666 & ~umask``; the temporary file starts at 0600). A kill or an error leaves ``path``
    as it was (old content or absent) and removes the temporary file. No space left raises
    :class:`DiskFullError` naming the folder; ``what`` ("checkpoint", ...) names the file in it.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        if _no_space(e):
            logging.raiseExceptions = False  # see disk_full_error
            raise DiskFullError(
                errno.ENOSPC,
                f"No space left on device while writing the {what} {path}. Free space in "
                f"{folder} (or set train.output_dir to a disk with room) and run again with "
                "--resume: files are written to a temporary file and renamed, so the previous "
                "checkpoint and last_checkpoint are complete",
                folder,
            ) from None
        raise


def atomic_write_text(path: str, text: str, *, what: str = "file") -> None:
    """:func:`atomic_write` of ``text`` encoded as UTF-8 (reports, ``last_checkpoint``)."""
    data = text.encode("utf-8")
    atomic_write(path, lambda f: f.write(data), what=what)
