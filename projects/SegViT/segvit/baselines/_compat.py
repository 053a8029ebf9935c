"""The one import fallback needed to use maskformer2 (the ``mask2former`` module) here.

``import mask2former`` imports ``mask2former.evaluation.instance_evaluation``, which imports
``detectron2.evaluation.fast_eval_api``, which needs Detectron2's compiled ``_C`` extension. A
pure-Python Detectron2 (no ``_C``) therefore cannot import maskformer2 at all, although nothing we
use from it (models, losses, matcher) needs ``_C``.

``fast_eval_api`` only defines ``COCOeval_opt``, a faster C++ drop-in for pycocotools' ``COCOeval``
used by COCO-style *instance* evaluation. Detectron2's own ``coco_evaluation.py`` makes the same
substitution when the import fails. Semantic segmentation (``SemSegEvaluator``) never uses it.
"""

import importlib
import logging
import sys
import types
from types import ModuleType

logger = logging.getLogger(__name__)

_FAST_EVAL_API = "detectron2.evaluation.fast_eval_api"


def install_fast_eval_api_fallback() -> bool:
    """Make ``detectron2.evaluation.fast_eval_api`` importable without Detectron2's ``_C``.

    Does nothing when the real module imports. Otherwise installs in ``sys.modules`` a stand-in
    whose ``COCOeval_opt`` is ``pycocotools.cocoeval.COCOeval`` (same API and results, slower).

    Returns:
        bool: True if the stand-in was installed (now or by an earlier call).
    """
    existing = sys.modules.get(_FAST_EVAL_API)
    if existing is not None:
        return bool(getattr(existing, "_segvit_fallback", False))
    try:
        importlib.import_module(_FAST_EVAL_API)
        return False
    except ImportError as e:  # only the missing compiled extension is expected here
        reason = str(e)
    import detectron2.evaluation as d2_evaluation
    from pycocotools.cocoeval import COCOeval

    stand_in = types.ModuleType(_FAST_EVAL_API)
    stand_in.__doc__ = (
        "Stand-in installed by segvit.baselines._compat: Detectron2's compiled _C is missing, so "
        "COCOeval_opt is pycocotools' pure-Python COCOeval (instance evaluation only)."
    )
    stand_in.COCOeval_opt = COCOeval
    stand_in._segvit_fallback = True
    sys.modules[_FAST_EVAL_API] = stand_in
    d2_evaluation.fast_eval_api = stand_in  # `import a.b.c` also reads the parent's attribute
    logger.info(
        "%s is not importable (%s); using pycocotools' COCOeval instead.", _FAST_EVAL_API, reason
    )
    return True


def import_mask2former() -> ModuleType:
    """Import and return maskformer2's ``mask2former`` package, applying the fallback above first.

    Note: importing ``mask2former`` registers its datasets (ADE20K-full, COCO-Stuff-10K, Mapillary
    Vistas, ADE20K panoptic/instance, COCO panoptic+semseg) in Detectron2's ``DatasetCatalog``,
    with paths read from ``$DETECTRON2_DATASETS`` at that moment (see ``docs/baselines.md``).
    """
    install_fast_eval_api_fallback()
    return importlib.import_module("mask2former")
