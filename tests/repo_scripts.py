"""Load the repo's scripts (tools/*.py, datasets/*.py), which are not packages, as modules."""

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load_script(folder: str, name: str):
    """The script ``<repo>/<folder>/<name>.py`` as a fresh module."""
    spec = importlib.util.spec_from_file_location(f"_{folder}_{name}", REPO / folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
