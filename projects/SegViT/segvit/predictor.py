"""Run a trained model from a LazyConfig + checkpoint on RGB images (for demo tools).

Like Detectron2's ``DefaultPredictor`` but for LazyConfig files: applies the config's test-time
augmentations (resize), returns the label map at the image's own size, and, on request for SegViT
models, the per-class ATM masks (query k <-> class k) that the prediction panels show.

Memory on huge photos: the model runs at the test resolution; the label map at the photo's size is
the argmax of the bilinearly resized scores, computed in bands of rows
(:func:`~segvit.modeling.meta_arch.postprocess.upsampled_argmax`): K per-class maps at full size are
never held (a 6000x4000 photo would need K x 96 MB), so memory does not grow with the class count
beyond the K maps at the test resolution. ``mask_probs`` (K maps at full size by definition) are
only computed when asked for.
"""

import logging
import os
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from detectron2.config import instantiate
from detectron2.data import MetadataCatalog
from detectron2.data import transforms as T

from segvit.checkpoint import load_model_weights
from segvit.data.class_count import check_num_classes
from segvit.data.datasets.config_datasets import resolve_dataset_names
from segvit.data.datasets.folder import make_palette
from segvit.visualization import visible_colors

from .modeling.meta_arch.postprocess import upsampled_argmax

logger = logging.getLogger(__name__)


def test_dataset_name(cfg) -> Optional[str]:
    try:
        names = cfg.dataloader.test.dataset.names
    except Exception:  # noqa: BLE001  (a config without a test loader is fine here)
        return None
    names = resolve_dataset_names(names)  # registers a dataset named by config values
    return names[0] if names else None


class SemSegPredictor:
    """Model + weights + test transforms. ``predictor(rgb)`` -> dict of numpy arrays.

    Args:
        cfg: a LazyConfig with ``model`` (and optionally ``dataloader.test``).
        checkpoint: a weights file (e.g. ``output/model_final.pth``), read without running code
            from it; weights that leave model tensors unloaded are refused.
        device: "cpu" (default) or "cuda".
        allow_partial_weights: run even with model tensors left unloaded (logged).
        with_masks: also return the (K, H, W) ATM masks of SegViT models ("mask_probs").
    """

    def __init__(
        self,
        cfg,
        checkpoint: str,
        device: str = "cpu",
        allow_partial_weights: bool = False,
        with_masks: bool = False,
    ):
        if not checkpoint or not os.path.isfile(checkpoint):
            raise FileNotFoundError(
                f"checkpoint {checkpoint!r} does not exist; pass a trained model with "
                "train.init_checkpoint=path/to/model_final.pth"
            )
        check_num_classes(cfg, ("test",))  # before a class index beyond the palette crashes
        self.model = instantiate(cfg.model).to(device).eval()
        load_model_weights(self.model, checkpoint, allow_partial_weights)
        self.device = device
        self.with_masks = with_masks
        self.augmentations = self._test_augmentations(cfg)
        name = test_dataset_name(cfg)
        meta = MetadataCatalog.get(name) if name else None
        num_classes = self._num_classes()
        names = getattr(meta, "stuff_classes", None)
        if not names:
            logger.warning(
                "Class names: %s, so classes are called 'class 0' ... 'class %d'. They come from "
                "the metadata of the config's test dataset (dataloader.test.dataset.names): use "
                "the config that registers it (configs/custom/*.py take custom.class_names=[...]) "
                "or register it before building the predictor.",
                (
                    f"dataset {name!r} is not registered in this process"
                    if name
                    else "the config names no test dataset"
                ),
                max(num_classes - 1, 0),
            )
        self.class_names: List[str] = list(names or [f"class {k}" for k in range(num_classes)])
        colors = getattr(meta, "stuff_colors", None) or make_palette(max(len(self.class_names), 1))
        self.colors: Sequence[Sequence[int]] = visible_colors(colors)

    def _num_classes(self) -> int:
        head = getattr(self.model, "head", None)
        return int(getattr(head, "num_classes", 0) or 0)

    @staticmethod
    def _test_augmentations(cfg) -> List:
        try:
            augs = cfg.dataloader.test.mapper.augmentations
        except Exception:  # noqa: BLE001
            return []
        return list(instantiate(augs))

    @torch.no_grad()
    def __call__(self, rgb: np.ndarray) -> Dict[str, np.ndarray]:
        """
        Args:
            rgb: (H, W, 3) uint8 image.
        Returns:
            "sem_seg": (H, W) int64 classes; "mask_probs" (``with_masks`` and SegViT models only):
            (K, H, W) float32 sigmoid masks of the class queries.
        """
        height, width = rgb.shape[:2]
        aug_input = T.AugInput(rgb)
        T.AugmentationList(self.augmentations)(aug_input)
        image = torch.as_tensor(np.ascontiguousarray(aug_input.image.transpose(2, 0, 1)))
        scores = self.model([{"image": image}])[0]["sem_seg"]  # (K, h, w) at the test size
        out = {"sem_seg": upsampled_argmax(scores, (height, width)).cpu().numpy()}
        del scores
        if self.with_masks and hasattr(self.model, "forward_outputs"):
            normalized = self.model.normalize(image)[None]
            masks = self.model.forward_outputs(normalized)["pred_masks"]
            masks = masks[..., : image.shape[-2], : image.shape[-1]]
            masks = F.interpolate(masks, size=(height, width), mode="bilinear", align_corners=False)
            out["mask_probs"] = masks[0].sigmoid().cpu().numpy()
        return out
