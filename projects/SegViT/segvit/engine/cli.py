"""The command-line kit shared by every script in ``tools/`` (Detectron2's ``engine/defaults.py``
role: ``default_argument_parser``, ``default_setup``).

Every tool has ``get_parser()`` built with these helpers and ``main(argv=None) -> int``, calls
:func:`setup_tool_logger` when run as a script, and reads its config with :func:`load_config`,
which refuses an override whose key is not in the config (a typo would otherwise be silently
added or ignored) or whose value has the wrong type, before anything is built. Weights come from
``train.init_checkpoint=PATH`` and the device from ``train.device=cpu|cuda|cuda:N``, as in
``tools/train_net.py``; tools that only inspect or convert a model build it on the CPU.
"""

import argparse
import difflib
import os
from typing import Any, Callable, Optional, Sequence

import torch
from detectron2.config import LazyConfig
from detectron2.utils.logger import setup_logger
from omegaconf import OmegaConf

__all__ = [
    "ConfigOverrideError",
    "add_config_arguments",
    "add_output_arguments",
    "add_weights_arguments",
    "check_device",
    "check_output_arguments",
    "check_overrides",
    "load_config",
    "run_converter",
    "setup_tool_logger",
    "weights_path",
]


class ConfigOverrideError(ValueError):
    """A ``key=value`` override that names no key of the config or has the wrong type."""


def add_config_arguments(
    parser: argparse.ArgumentParser, *, required: bool = True, default: Optional[str] = None
) -> None:
    """``--config-file FILE`` and the trailing ``key=value`` overrides (as d2's parser).

    ``--config`` is accepted as an older spelling of ``--config-file``; a tool with a natural
    config (``required=False``) gives it as ``default``.
    """
    parser.add_argument(
        "--config-file",
        "--config",
        dest="config_file",
        required=required,
        default=default,
        metavar="FILE",
        help="a LazyConfig file (configs/...)",
    )
    parser.add_argument(
        "opts",
        nargs=argparse.REMAINDER,
        default=[],
        help="config overrides key=value, checked against the config (e.g. train.device=cpu); "
        "+key=value adds a key the config does not have",
    )


def add_weights_arguments(parser: argparse.ArgumentParser) -> None:
    """``--allow-partial-weights``; the weights themselves are ``train.init_checkpoint=PATH``."""
    parser.add_argument(
        "--allow-partial-weights",
        action="store_true",
        help="run even if the checkpoint (train.init_checkpoint=PATH) leaves model tensors "
        "unloaded, at their random initialisation",
    )


def add_output_arguments(
    parser: argparse.ArgumentParser, *, prefix_help: Optional[str] = None
) -> None:
    """``--output``, ``--prefix`` (default ``backbone.``; only with ``prefix_help``, for tools
    whose keys need one) and ``--overwrite`` of a converter."""
    parser.add_argument("--output", required=True, help="Detectron2 checkpoint to write (.pth)")
    if prefix_help is not None:
        parser.add_argument("--prefix", default="backbone.", help=prefix_help)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")


def check_output_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Stop (``parser.error``) on a prefix that would glue onto the keys, or on an existing
    output without ``--overwrite``: a converter never replaces a file by accident."""
    prefix = getattr(args, "prefix", "")
    if prefix and not prefix.endswith("."):
        parser.error(f"--prefix {prefix!r} must end with '.' (e.g. 'backbone.net.')")
    if os.path.exists(args.output) and not args.overwrite:
        parser.error(f"{args.output} exists; pass --overwrite to replace it")


def run_converter(
    parser: argparse.ArgumentParser,
    run: Callable[[argparse.Namespace], None],
    argv: Optional[Sequence[str]] = None,
) -> int:
    """A converter's ``main``: parse ``argv``, stop on bad output arguments
    (:func:`check_output_arguments`) before anything is read, then ``run(args)``; returns 0."""
    args = parser.parse_args(argv)
    check_output_arguments(parser, args)
    run(args)
    return 0


def setup_tool_logger() -> None:
    """Log segvit's, Detectron2's and fvcore's records to the terminal, as ``default_setup`` does
    for ``train_net.py`` (without a log file). Call it once, from a tool's ``__main__`` block:
    each call adds handlers. Records still propagate, to the handlers of a caller's own."""
    for name in ("segvit", "detectron2", "fvcore"):
        setup_logger(name=name, enable_propagation=True)


def load_config(path: str, opts: Sequence[str] = ()):
    """``LazyConfig.load(path)`` with the overrides ``opts`` (``["key=value", ...]``) checked by
    :func:`check_overrides` and applied.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ConfigOverrideError: an override names no key of the config, has the wrong type, deletes a
            key (``~key``, which LazyConfig does not support) or cannot be parsed.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--config-file {path} does not exist; pass a file in configs/")
    cfg = LazyConfig.load(path)
    opts = list(opts)
    check_overrides(cfg, opts)
    return LazyConfig.apply_overrides(cfg, opts)


def _parse_override_value(override: str) -> Any:
    """The value of ``key=value`` as ``LazyConfig.apply_overrides`` reads it (hydra's parser)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        return OverridesParser.create().parse_overrides([override])[0].value()
    except HydraException as e:  # e.g. an unclosed bracket
        reason = str(e).splitlines()[0]
        raise ConfigOverrideError(
            f"config override {override!r} cannot be parsed ({reason}); write key=value, with "
            "lists as [a,b] and quotes around values holding spaces or brackets"
        ) from None


def _type_mismatch(current: Any, value: Any) -> Optional[str]:
    """The type ``value`` should have to replace ``current``, or None when it fits.

    Numbers (int and float alike), booleans and lists must keep their kind. A string key takes any
    scalar (hydra reads ``output/1`` as a string but ``123`` as a number) or a list of strings
    (Detectron2 dataset ``names`` may be one name or several), but not a dict or a list of numbers
    (``train.device=[1,2]``). An interpolation is left to its target, and a None or nested node may
    be replaced by anything.
    """
    if isinstance(value, str) and value.startswith("${"):
        return None  # an interpolation: its target has the type
    if value is None:
        return None if current is None or OmegaConf.is_dict(current) else type(current).__name__
    if isinstance(current, bool):
        return None if isinstance(value, bool) else "bool (True or False)"
    if isinstance(current, (int, float)):  # either: a weight written as 0 may be set to 0.5
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if number else type(current).__name__
    if OmegaConf.is_list(current):
        return None if isinstance(value, (list, tuple)) else "list, e.g. [a,b]"
    if isinstance(current, str):
        if isinstance(value, (list, tuple)):
            return None if all(isinstance(v, str) for v in value) else "str"
        return "str" if isinstance(value, dict) else None
    return None


def _missing_key(cfg, key: str) -> str:
    """Why ``key`` is not in ``cfg``: its first missing part, the closest known name, the fix."""
    parts = key.split(".")
    depth = 0
    while (
        OmegaConf.select(cfg, ".".join(parts[: depth + 1]), default="__missing__") != "__missing__"
    ):
        depth += 1
    parent = ".".join(parts[:depth])
    node = OmegaConf.select(cfg, parent) if parent else cfg
    known = sorted(node.keys()) if OmegaConf.is_dict(node) else []
    close = difflib.get_close_matches(parts[depth], known, n=1)
    hint = f"Did you mean {'.'.join([*parts[:depth], close[0]])!r}? " if close else ""
    return (
        f"key {key!r} does not exist in the config. {hint}Known keys under "
        f"{parent or '<root>'!r}: {known} (+{key}=... adds a new key)"
    )


def check_overrides(cfg, overrides: Sequence[str]) -> None:
    """Refuse ``key=value`` overrides whose key is not in ``cfg`` (a typo would be ignored) or
    whose value has another type than the config's (``train.max_iter=abc``), before anything is
    built. ``+key=value`` adds a key on purpose (hydra's syntax), e.g. an argument left at its
    default. Raises :class:`ConfigOverrideError` naming the override, the key and the fix."""
    for override in overrides:
        if override.startswith("+"):
            continue
        key = override.split("=", 1)[0]
        if key.startswith("~"):
            raise ConfigOverrideError(
                f"config override {override!r}: deleting a key is not supported by LazyConfig; "
                f"set it instead, e.g. {key[1:]}=null"
            )
        if OmegaConf.select(cfg, key, default="__missing__") == "__missing__":
            raise ConfigOverrideError(f"config override {override!r}: {_missing_key(cfg, key)}")
        if "=" not in override:
            raise ConfigOverrideError(
                f"config override {override!r} has no value; write {key}=VALUE"
            )
        try:
            current = OmegaConf.select(cfg, key)
        except Exception:  # noqa: BLE001  (an unresolvable interpolation: nothing to compare)
            continue
        value = _parse_override_value(override)
        expected = _type_mismatch(current, value)
        if expected is not None:
            raise ConfigOverrideError(
                f"config override {override!r}: {key} must be of type {expected} (the config has "
                f"{key}={current!r}), got {value!r}. Fix the value, e.g. {key}={current}."
            )


def check_device(device: Any) -> str:
    """``train.device`` if this machine can run it: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``."""
    if not isinstance(device, str) or device.split(":")[0] not in ("cpu", "cuda"):
        raise ValueError(
            f"train.device={device!r} is not a device; use train.device=cpu, cuda or cuda:N"
        )
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"train.device={device!r} but no CUDA GPU is available; add train.device=cpu"
        )
    return device


def weights_path(cfg) -> str:
    """``cfg.train.init_checkpoint``, which must name a file (the trained model to run)."""
    path = cfg.train.get("init_checkpoint", "") if "train" in cfg else ""
    if not path or not os.path.isfile(path):
        raise FileNotFoundError(
            f"train.init_checkpoint={path!r} is not a file; pass the trained model, e.g. "
            "train.init_checkpoint=output/demo/model_final.pth"
        )
    return path
