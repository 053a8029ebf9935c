"""Loading and saving checkpoints without running code from a file, losing a run, or hiding a
mismatch.

Every checkpoint a user names (``train.init_checkpoint``, ``last_checkpoint`` on ``--resume``, the
weights of ``--eval-only``, ``tools/demo.py``, ...) goes through :class:`SafeCheckpointer`:

- ``.pth`` / ``.pyth`` / any other name: ``torch.load(weights_only=True)``, passed explicitly, so
  ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` cannot turn it off. A file holding other Python objects
  is refused with the reason and the fix (re-save only its tensors).
- ``.pkl`` (Detectron2 / Caffe2 model-zoo files): read with :class:`ArrayUnpickler`, a restricted
  unpickler that builds only numpy arrays, numpy scalars and plain containers (dict, list, tuple,
  str, numbers). Anything else in the file (a function, a class) stops the load before it is
  called, naming what the file asked for. No opt-in is needed for genuine weight files, and none
  exists for the rest: a trusted legacy file with other objects is converted once, by its owner,
  to a ``.pth`` of tensors.
- ``.safetensors``: read with safetensors (tensors only by construction).
- an empty, truncated or non-checkpoint file (a text file, an image) is named with what it is and
  the fix, e.g. "delete it and resume from model_0000499.pth".
- a ViT ``pos_embed`` stored for another token grid is resized (bicubic, like the official
  mmseg loader) with a log line, instead of being skipped with a warning.

Saves are atomic: a checkpoint and ``last_checkpoint`` are written to a temporary file in the same
folder and renamed, so a kill or a full disk never leaves a partial file under the final name;
a full disk raises :class:`DiskFullError` naming the folder, the intact checkpoint and the fix.

:func:`load_model_weights` is the one call for evaluation, demos and export: it refuses weights
that leave model tensors unloaded (missing, or of another shape) and lists them, unless
``allow_partial=True`` (the ``--allow-partial-weights`` flag of the tools).
"""

import errno
import glob
import io
import logging
import os
import pickle
import re
import tempfile
from typing import Any, Callable, Dict, List, Sequence, Tuple

import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.utils.file_io import PathManager

from segvit.modeling.backbone.utils import square_grid

from .vit_weights import _fit_pos_embed

__all__ = [
    "ArrayUnpickler",
    "CheckpointError",
    "DiskFullError",
    "SafeCheckpointer",
    "atomic_write",
    "find_checkpoints",
    "load_model_weights",
    "read_checkpoint_file",
]

logger = logging.getLogger(__name__)

_REPLACE = (
    "If you trust the file and need it, load it once in a trusted environment and save only "
    "its tensors: torch.save({'model': state_dict}, 'weights.pth')."
)


class CheckpointError(ValueError):
    """A file named as a checkpoint cannot be used; the message names it, says why and the fix."""


class DiskFullError(OSError):
    """No space left while writing a checkpoint; the message names the folder and the fix."""


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


def _text_like(head: bytes) -> bool:
    if not head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\r\n\t" for c in text)


def _describe_unusable(path: str, error: BaseException) -> str:
    """What an unreadable file is (from its first bytes) and how to fix it."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(256)
    if size == 0:
        what = "is empty (0 bytes)"
    elif head.startswith(b"PK") or head.startswith(b"\x80"):
        reason = str(error).split(". ")[0][:120]
        what = f"is truncated or corrupt ({size} bytes; {type(error).__name__}: {reason})"
    elif _text_like(head):
        return (
            f"{path} is not a checkpoint: it is a text file (starts with {head[:40]!r}). "
            "Pass a model file written by tools/train_net.py or a converter (.pth)."
        )
    else:
        return (
            f"{path} is not a checkpoint (its first bytes {head[:8]!r} are neither a PyTorch "
            "file nor a pickle). Pass a model file written by tools/train_net.py or a converter "
            "(.pth)."
        )
    return f"{path} {what}, probably from a run killed while saving it or a full disk. " + (
        _fallback_fix(path)
    )


def _checkpoint_iteration(name: str) -> int:
    m = re.fullmatch(r"model_(\d+)\.pth", name)
    return int(m.group(1)) if m else -1


def _fallback_fix(path: str) -> str:
    """ "Delete it and resume from model_000X.pth" with the newest other checkpoint beside it."""
    folder = os.path.dirname(os.path.abspath(path))
    others = [
        os.path.basename(p)
        for p in glob.glob(os.path.join(folder, "model_*.pth"))
        if os.path.abspath(p) != os.path.abspath(path) and os.path.getsize(p) > 0
    ]
    others.sort(key=lambda n: (n == "model_final.pth", _checkpoint_iteration(n)))
    if not others:
        return "Delete it and write it again (re-run the training or the converter that made it)."
    best = others[-1]
    last = os.path.join(folder, "last_checkpoint")
    return (
        f"Delete it and resume from {best}: `rm {path}; echo {best} > {last}`, then run "
        "tools/train_net.py again with --resume (or name that file in train.init_checkpoint)."
    )


def _torch_load_weights_only(path: str) -> Any:
    try:
        # weights_only=True passed explicitly: TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD cannot override it.
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        with open(path, "rb") as f:
            pickled = f.read(2) in (b"PK", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
        if pickled and ("weights only" in str(e).lower() or "weights_only" in str(e).lower()):
            found = re.search(r"GLOBAL ([\w.]+)|global ([\w.]+)", str(e))
            what = f" ({next(g for g in found.groups() if g)})" if found else ""
            raise CheckpointError(
                f"{path} holds Python objects other than tensors{what}; loading it could run "
                f"code, so it is refused (tensors are read with weights_only=True). {_REPLACE}"
            ) from None
        raise CheckpointError(_describe_unusable(path, e)) from None
    except FileNotFoundError:
        raise
    except Exception as e:  # noqa: BLE001  (EOFError, KeyError, IndexError, ... on non-pickles)
        raise CheckpointError(_describe_unusable(path, e)) from None


def _load_pkl(path: str) -> Any:
    with PathManager.open(path, "rb") as f:
        data = f.read()
    try:
        return ArrayUnpickler(io.BytesIO(data), encoding="latin1").load()
    except pickle.UnpicklingError as e:
        if "asks to call" in str(e):
            raise CheckpointError(
                f"{path}: refused to unpickle this .pkl file: {e}. Weight .pkl files are read with "
                "a restricted unpickler that builds only numpy arrays and plain containers, "
                f"because unpickling anything else can run code. {_REPLACE}"
            ) from None
        raise CheckpointError(_describe_unusable(path, e)) from None
    except Exception as e:  # noqa: BLE001  (a damaged pickle fails in many ways)
        raise CheckpointError(_describe_unusable(path, e)) from None


def read_checkpoint_file(path: str) -> Any:
    """Read a checkpoint file without running code from it (see the module docstring).

    Returns the object stored in the file: for ``.pth`` usually ``{"model": state_dict, ...}``;
    for ``.safetensors`` the state dict. Raises :class:`CheckpointError` for an unsafe, empty,
    truncated or non-checkpoint file and ``FileNotFoundError`` for a missing one.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if os.path.getsize(path) == 0:
        raise CheckpointError(_describe_unusable(path, EOFError("empty file")))
    if path.endswith(".pkl"):
        return _load_pkl(path)
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        try:
            return load_file(path, device="cpu")
        except Exception as e:  # noqa: BLE001  (safetensors raises its own error types)
            raise CheckpointError(_describe_unusable(path, e)) from None
    return _torch_load_weights_only(path)


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def _is_disk_full(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


def atomic_write(path: str, write: Callable[[Any], None], *, what: str = "file") -> None:
    """Write ``path`` through ``write(binary_file)`` into a temporary file beside it, then rename.

    A kill or an error leaves ``path`` as it was (old content or absent) and removes the
    temporary file. No space left raises :class:`DiskFullError` naming the folder.
    """
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        if _is_disk_full(e) or (isinstance(e, RuntimeError) and "No space left" in str(e)):
            # Every later write to log.txt fails too: without this, logging prints one
            # "--- Logging error ---" traceback per record and buries the one error that matters.
            logging.raiseExceptions = False
            raise DiskFullError(
                errno.ENOSPC,
                f"No space left on device while writing the {what} {path}. Free space in "
                f"{folder} (or set train.output_dir to a disk with room) and run again with "
                "--resume: files are written to a temporary file and renamed, so the previous "
                "checkpoint and last_checkpoint are complete",
            ) from None
        raise


# ---------------------------------------------------------------------------------------------
# Checkpointer
# ---------------------------------------------------------------------------------------------


def _unloaded_tensors(incompatible) -> List[str]:
    """Model tensors a load left at their initial values, as readable lines."""
    lines = [f"{k}: not in the checkpoint" for k in incompatible.missing_keys]
    lines += [
        f"{k}: shape {tuple(ckpt)} in the checkpoint, {tuple(model)} in the model"
        for k, ckpt, model in incompatible.incorrect_shapes
    ]
    return lines


def _format_unloaded(path: str, lines: Sequence[str], fix: str) -> str:
    shown = "\n  ".join(lines[:20])
    more = f"\n  ... and {len(lines) - 20} more" if len(lines) > 20 else ""
    return (
        f"{path} leaves {len(lines)} model tensor(s) unloaded (the model would run with random "
        f"values there):\n  {shown}{more}\n{fix}"
    )


class SafeCheckpointer(DetectionCheckpointer):
    """Detectron2's checkpointer with safe reads, atomic writes and pos-embed resizing.

    Drop-in for ``DetectionCheckpointer`` (same arguments, same checkpoint format). After each
    :meth:`load`, ``last_incompatible`` holds the missing / unexpected / wrongly shaped keys.
    :meth:`resume_or_load` with ``resume=True`` refuses a ``last_checkpoint`` that is missing,
    unreadable or does not fit the model (a folder of another run).
    """

    last_incompatible = None

    # --- reading -----------------------------------------------------------------------------
    def _load_file(self, filename: str) -> Dict[str, Any]:
        if filename.endswith(".pkl"):
            data = read_checkpoint_file(filename)
            if not isinstance(data, dict):
                raise CheckpointError(f"{filename} holds a {type(data).__name__}, not a dict")
            if "model" in data and "__author__" in data:  # Detectron2 model-zoo format
                return data
            if "blobs" in data:  # Caffe2 / Detectron1 model zoo (as DetectionCheckpointer)
                data = data["blobs"]
            data = {k: v for k, v in data.items() if not k.endswith("_momentum")}
            return {"model": data, "__author__": "Caffe2", "matching_heuristics": True}
        if filename.endswith(".pyth"):  # pycls, as DetectionCheckpointer, but weights only
            data = read_checkpoint_file(filename)
            if not isinstance(data, dict) or "model_state" not in data:
                raise CheckpointError(f"{filename}: pycls checkpoints must contain 'model_state'")
            state = {
                k: v
                for k, v in data["model_state"].items()
                if not k.endswith("num_batches_tracked")
            }
            return {"model": state, "__author__": "pycls", "matching_heuristics": True}
        return super()._load_file(filename)  # URL queries as Detectron2; reads via _torch_load

    def _torch_load(self, f: str) -> Dict[str, Any]:
        data = read_checkpoint_file(f)
        if not isinstance(data, dict):
            raise CheckpointError(
                f"{f} holds a {type(data).__name__}, not a dict of tensors; it is not a model "
                "checkpoint. Pass a file written by tools/train_net.py or a converter."
            )
        return data

    def _load_model(self, checkpoint: Dict[str, Any]):
        state = checkpoint.get("model")
        if not isinstance(state, dict):
            raise CheckpointError("the checkpoint's 'model' entry is not a dict of tensors")
        self._convert_ndarray_to_tensor(state)
        if state and all(k.startswith("module.") for k in state):  # DDP prefix, as fvcore
            checkpoint["model"] = state = {k[len("module.") :]: v for k, v in state.items()}
        checkpoint["model"] = state = self._backbone_into_net(state)
        self._resize_pos_embeds(state)
        incompatible = super()._load_model(checkpoint)
        self.last_incompatible = incompatible
        return incompatible

    def _backbone_into_net(self, state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Load a ViT checkpoint (``backbone.<key>``, e.g. from ``tools/convert_pretrained.py`` or
        ``tools/pretrain_tiny_backbone.py``) into a ViT wrapped by ``SimpleFeaturePyramid``
        (``backbone.net.<key>``: MaskFormer / Mask2Former), with a log line. Only when none of the
        checkpoint's ``backbone.`` keys exists in the model and the renamed ones do."""
        keys = [k for k in state if k.startswith("backbone.")]
        model_keys = set(self.model.state_dict())
        if not keys or any(k.startswith("backbone.net.") or k in model_keys for k in keys):
            return state
        if not any("backbone.net." + k[len("backbone.") :] in model_keys for k in keys):
            return state
        logger.info(
            "Loading the checkpoint's backbone.* tensors into the model's backbone.net.* (a ViT "
            "inside SimpleFeaturePyramid)"
        )
        return {
            ("backbone.net." + k[len("backbone.") :] if k.startswith("backbone.") else k): v
            for k, v in state.items()
        }

    def _resize_pos_embeds(self, state: Dict[str, torch.Tensor]) -> None:
        """Resize ViT ``pos_embed`` tensors stored for another token grid to the model's grid.

        A stored table of ``1 + g*g`` positions (with a class token, timm/mmseg) loses its first
        position; ``g*g`` positions are a ``g x g`` grid. Resized bicubic, as the official mmseg
        loader and our backbone's own ``resize_pos_embed`` do.
        """
        model_state = self.model.state_dict()
        for key, value in list(state.items()):
            if not key.endswith("pos_embed") or key not in model_state:
                continue
            target = model_state[key]
            if value.shape == target.shape or value.dim() != 3 or target.dim() != 3:
                continue
            if value.shape[-1] != target.shape[-1]:
                continue  # another embed dim: not resizable, reported as unloaded
            owner = self.model.get_submodule(key.rsplit(".", 1)[0]) if "." in key else self.model
            n = value.shape[1]
            with_token = square_grid(n) is None and square_grid(n - 1) is not None
            grid = value[:, 1:] if with_token else value  # drop the class-token position
            resized = _fit_pos_embed(grid, target.shape, getattr(owner, "pretrain_grid", None))
            if resized.shape != target.shape:
                continue  # not two square grids: reported as unloaded
            state[key] = resized
            side = square_grid(grid.shape[1])
            logger.info(
                "Resized %s from a %dx%d grid%s to the model's shape %s (bicubic)",
                key,
                side,
                side,
                " (class-token position dropped)" if with_token else "",
                tuple(target.shape),
            )

    def resume_or_load(self, path: str, *, resume: bool = True) -> Dict[str, Any]:
        if not (resume and self.has_checkpoint()):
            return self.load(path, checkpointables=[])
        last = self.get_checkpoint_file()
        if not os.path.isfile(last):
            raise CheckpointError(
                f"{os.path.join(self.save_dir, 'last_checkpoint')} names {last}, which does not "
                f"exist. {_fallback_fix(last)}"
            )
        ret = self.load(last)
        unloaded = _unloaded_tensors(self.last_incompatible)
        if unloaded:
            raise CheckpointError(
                _format_unloaded(
                    last,
                    unloaded,
                    "It was written by a run of another model; --resume needs the same config. "
                    "Use another train.output_dir (or --overwrite-output to replace that run).",
                )
            )
        return ret

    # --- writing -----------------------------------------------------------------------------
    def save(self, name: str, **kwargs: Any) -> None:
        """As ``Checkpointer.save``, but written to a temporary file and renamed."""
        if not self.save_dir or not self.save_to_disk:
            return
        data = {"model": self.model.state_dict()}
        for key, obj in self.checkpointables.items():
            data[key] = obj.state_dict()
        data.update(kwargs)
        basename = f"{name}.pth"
        save_file = os.path.join(self.save_dir, basename)
        self.logger.info("Saving checkpoint to %s", save_file)
        atomic_write(save_file, lambda f: torch.save(data, f), what="checkpoint")
        self.tag_last_checkpoint(basename)

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        path = os.path.join(self.save_dir, "last_checkpoint")
        text = last_filename_basename.encode()
        atomic_write(path, lambda f: f.write(text), what="last_checkpoint file")


def load_model_weights(
    model: torch.nn.Module, path: str, allow_partial: bool = False
) -> Tuple[List[str], List[str]]:
    """Load the weights of ``path`` into ``model`` for evaluation, demos or export.

    Args:
        model: the model (DDP-wrapped or not).
        path: a checkpoint (``.pth``, ``.pkl``, ``.safetensors``), read safely.
        allow_partial: accept weights that leave model tensors unloaded (logged as warnings).

    Returns:
        (unloaded, unexpected): model tensors left at their initial values (with the reason) and
        checkpoint keys the model has no place for.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError: the file is unsafe or unreadable, or (unless ``allow_partial``) it leaves
            model tensors unloaded; the message lists them.
    """
    if not path or not os.path.isfile(path):
        raise FileNotFoundError(
            f"checkpoint {path!r} does not exist; pass a trained model with "
            "train.init_checkpoint=path/to/model_final.pth"
        )
    checkpointer = SafeCheckpointer(model)
    checkpointer.load(path, checkpointables=[])
    incompatible = checkpointer.last_incompatible
    unloaded = _unloaded_tensors(incompatible)
    if unloaded and not allow_partial:
        raise CheckpointError(
            _format_unloaded(
                path,
                unloaded,
                "Use the config the checkpoint was trained with (config.yaml next to it), or pass "
                "--allow-partial-weights to run anyway.",
            )
        )
    if unloaded:
        logger.warning("%s", _format_unloaded(path, unloaded, "--allow-partial-weights: running"))
    return unloaded, list(incompatible.unexpected_keys)


def find_checkpoints(folder: str) -> List[str]:
    """The names of another run's checkpoint files in ``folder`` (``model_*.pth``,
    ``last_checkpoint``), sorted; empty when there are none or no folder."""
    if not os.path.isdir(folder):
        return []
    names = os.listdir(folder)
    return sorted(n for n in names if n == "last_checkpoint" or re.fullmatch(r"model_.*\.pth", n))
