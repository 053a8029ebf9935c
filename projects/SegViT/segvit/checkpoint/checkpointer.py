"""Detectron2's checkpointer, made safe: no code runs from a file, no partial file, no hidden
mismatch.

Every checkpoint a user names (``train.init_checkpoint``, ``last_checkpoint`` on ``--resume``, the
weights of ``--eval-only``, ``tools/demo.py``, ...) goes through :class:`SafeCheckpointer`, which
reads with :func:`~segvit.checkpoint.safe_io.read_weights` (weights only, whatever
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` says) and writes with
:func:`~segvit.checkpoint.safe_io.atomic_write`. A ViT ``pos_embed`` stored for another token grid
is resized (bicubic, like the official mmseg loader) with a log line, instead of being skipped
with a warning.

:func:`load_model_weights` is the one call for evaluation, demos and export: it refuses weights
that leave model tensors unloaded (missing, or of another shape) and lists them, unless
``allow_partial=True`` (the ``--allow-partial-weights`` flag of the tools).
"""

import logging
import os
from typing import Any, Dict, List, Sequence, Tuple

import torch
from detectron2.checkpoint import DetectionCheckpointer

from segvit.modeling.backbone.utils import square_grid

from .safe_io import CheckpointError, atomic_write, atomic_write_text, broken_file_fix, read_weights
from .vit_weights import fit_pos_embed

__all__ = ["SafeCheckpointer", "load_model_weights"]

logger = logging.getLogger(__name__)


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
        if filename.endswith(".npz"):
            raise CheckpointError(
                f"{filename} is a NumPy .npz (Google ViT weights, in their own names); convert it "
                f"first: python tools/convert_pretrained.py --input {filename} --output vit.pth, "
                "then name vit.pth in train.init_checkpoint."
            )
        if filename.endswith(".pkl"):
            data = read_weights(filename)
            if not isinstance(data, dict):
                raise CheckpointError(f"{filename} holds a {type(data).__name__}, not a dict")
            if "model" in data and "__author__" in data:  # Detectron2 model-zoo format
                return data
            if "blobs" in data:  # Caffe2 / Detectron1 model zoo (as DetectionCheckpointer)
                data = data["blobs"]
            data = {k: v for k, v in data.items() if not k.endswith("_momentum")}
            return {"model": data, "__author__": "Caffe2", "matching_heuristics": True}
        if filename.endswith(".pyth"):  # pycls, as DetectionCheckpointer, but weights only
            data = read_weights(filename)
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
        data = read_weights(f)
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
            resized = fit_pos_embed(grid, target.shape, getattr(owner, "pretrain_grid", None))
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
                f"exist. {broken_file_fix(last)}"
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
        atomic_write_text(path, last_filename_basename, what="last_checkpoint file")


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
                "Use the config file the checkpoint was trained with (configs are code: use "
                "only config files you trust), or pass --allow-partial-weights to run anyway.",
            )
        )
    if unloaded:
        logger.warning("%s", _format_unloaded(path, unloaded, "--allow-partial-weights: running"))
    return unloaded, list(incompatible.unexpected_keys)
