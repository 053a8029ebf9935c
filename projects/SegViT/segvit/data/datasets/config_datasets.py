"""Datasets named by a config's values: a folder dataset registered when the config is built.

``configs/custom/*.py`` set ``dataloader.<split>.dataset.names`` to a ``LazyCall`` of
:func:`folder_dataset`, whose arguments come from the config's ``custom`` node (folders, class
names, image extension), so that command-line overrides choose the data and no Python file has
to register it. Building the node registers the dataset (again, harmlessly, each time) and
returns its name; :func:`resolve_dataset_names` gives the names of any ``names`` value (a name, a
list of names, or such a node) to code that needs them before the loaders are built (class-count
check, predictor metadata). A config saved as ``config.yaml`` keeps the node, so the class names
come back with it.

The ``segvit.len`` OmegaConf resolver lets a config derive the class count from the class names:
``model.head.num_classes = "${segvit.len:${custom.class_names}}"``.
"""

import os
from typing import Any, List, Optional, Sequence

from detectron2.config import instantiate
from omegaconf import OmegaConf

from .folder import register_folder_dataset

__all__ = ["folder_dataset", "resolve_dataset_names"]

OmegaConf.register_new_resolver("segvit.len", lambda value: len(value), replace=True)


def folder_dataset(
    name: str,
    image_root: str,
    label_root: str,
    class_names: Sequence[str],
    image_ext: Optional[str] = "",
    ignore_label: int = 255,
    keys: str = "",
) -> str:
    """
    Register ``name`` as a folder dataset (:func:`register_folder_dataset`) and return ``name``.

    Args:
        name (str): dataset name, e.g. "custom_train".
        image_root (str): folder of images.
        label_root (str): folder of label PNGs (class ids 0..K-1, ``ignore_label``).
        class_names (Sequence[str]): the K class names, in class-id order.
        image_ext (str): image extension; "" finds it from the files.
        ignore_label (int): label value of unlabelled pixels.
        keys (str): the config keys these values come from, named in errors, e.g.
            "custom.train_images / custom.train_labels".

    Raises:
        ValueError: a folder is not set or does not exist, or ``class_names`` is empty.
    """
    where = f" ({keys})" if keys else ""
    for what, folder in (("image folder", image_root), ("label folder", label_root)):
        if not folder:
            raise ValueError(
                f"Dataset {name!r}: the {what} is not set{where}. Add it as an override, e.g. "
                "custom.train_images=my_data/images/train (docs/custom_data.md)."
            )
        if not os.path.isdir(folder):
            raise ValueError(
                f"Dataset {name!r}: the {what} {folder!r}{where} does not exist (relative paths "
                f"start at {os.getcwd()})."
            )
    if not class_names:
        raise ValueError(
            f"Dataset {name!r}: no class names. Add custom.class_names=[name0,name1,...] in the "
            "order of the label values 0, 1, ... (docs/custom_data.md)."
        )
    register_folder_dataset(
        name,
        image_root,
        label_root,
        [str(c) for c in class_names],
        ignore_label=ignore_label,
        image_ext=image_ext or None,
    )
    return name


def resolve_dataset_names(names: Any) -> List[str]:
    """
    The dataset names of a config's ``dataloader.<split>.dataset.names`` value: a name, a list
    of names, or a ``LazyCall`` that registers a dataset and returns its name (built here, which
    registers it). Returns [] for None or a missing value ("???").
    """
    if names is None or names == "???":
        return []
    if isinstance(names, str):
        return [names]
    if OmegaConf.is_dict(names) or isinstance(names, dict):
        if "_target_" not in names:
            raise ValueError(f"dataset names: expected a name or a LazyCall, got {names}")
        return resolve_dataset_names(instantiate(names))
    return [n for item in names for n in resolve_dataset_names(item)]
