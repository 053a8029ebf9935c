"""Everything imports on a machine without compiled ops (Detectron2's `_C`, MSDeformAttn)."""

import ast
import importlib
import pkgutil
from pathlib import Path

import segvit

PACKAGE_DIR = Path(segvit.__file__).parent
REPO = PACKAGE_DIR.parents[2]


def _segvit_modules():
    return sorted(
        m.name for m in pkgutil.walk_packages([str(PACKAGE_DIR)], prefix="segvit.") if m.name
    )


def _detectron2_modules_used():
    """Every `detectron2...` module imported by our package, tools and configs."""
    names = set()
    for root in ("projects", "tools", "configs"):
        for path in (REPO / root).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                module = getattr(node, "module", None) or ""
                if isinstance(node, ast.ImportFrom) and module.startswith("detectron2"):
                    names.add(module)
                elif isinstance(node, ast.Import):
                    names.update(a.name for a in node.names if a.name.startswith("detectron2"))
    return sorted(names)


def test_every_segvit_module_imports():
    modules = _segvit_modules()
    assert len(modules) > 20, modules  # the walk found the package
    for name in modules:
        importlib.import_module(name)


def test_every_detectron2_module_we_use_imports():
    modules = _detectron2_modules_used()
    assert "detectron2.evaluation" in modules and "detectron2.engine" in modules
    for name in modules:
        importlib.import_module(name)


def test_maskformer2_imports_through_our_fallback():
    from segvit.baselines._compat import import_mask2former

    mask2former = import_mask2former()
    assert hasattr(mask2former, "MaskFormer")
    fast_eval_api = importlib.import_module("detectron2.evaluation.fast_eval_api")
    assert hasattr(fast_eval_api, "COCOeval_opt")


def test_registries_know_our_modules():
    from detectron2.modeling import BACKBONE_REGISTRY, META_ARCH_REGISTRY, SEM_SEG_HEADS_REGISTRY

    assert "SegViT" in META_ARCH_REGISTRY
    assert "ATMHead" in SEM_SEG_HEADS_REGISTRY
    assert "SegViTViT" in BACKBONE_REGISTRY
