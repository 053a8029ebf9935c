"""Run a trained model from a LazyConfig + checkpoint on RGB images (for demo tools).

Like Detectron2's ``DefaultPredictor`` but for LazyConfig files: applies the config's test-time
augmentations (resize), returns the label map at the image's own size, and, for SegViT models,
the per-class ATM masks (query k <-> class k) that the demo pictures show.
"""

import os
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from detectron2.config import instantiate
from detectron2.data import MetadataCatalog
from detectron2.data import transforms as T

from segvit.checkpoint.safe_checkpointer import load_model_weights
from segvit.data.class_count import check_num_classes


def test_dataset_name(cfg) -> Optional[str]:
    try:
        names = cfg.dataloader.test.dataset.names
    except Exception:  # noqa: BLE001  (a config without a test loader is fine here)
        return None
    return names if isinstance(names, str) else list(names)[0]


class SemSegPredictor:
    """Model + weights + test transforms. ``predictor(rgb)`` -> dict of numpy arrays.

    Args:
        cfg: a LazyConfig with ``model`` (and optionally ``dataloader.test``).
        checkpoint: a weights file (e.g. ``output/model_final.pth``), read without running code
            from it; weights that leave model tensors unloaded are refused.
        device: "cpu" (default) or "cuda".
        allow_partial_weights: run even with model tensors left unloaded (logged).
    """

    def __init__(
        self, cfg, checkpoint: str, device: str = "cpu", allow_partial_weights: bool = False
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
        self.augmentations = self._test_augmentations(cfg)
        name = test_dataset_name(cfg)
        meta = MetadataCatalog.get(name) if name else None
        num_classes = self._num_classes()
        self.class_names: List[str] = list(
            getattr(meta, "stuff_classes", None) or [f"class {k}" for k in range(num_classes)]
        )
        colors = getattr(meta, "stuff_colors", None)
        if not colors:
            rng = np.random.RandomState(0)
            colors = rng.randint(0, 255, size=(len(self.class_names), 3)).tolist()
        self.colors: Sequence[Sequence[int]] = colors

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
            "sem_seg": (H, W) int64 classes; "mask_probs": (K, H, W) float32 sigmoid masks of the
            class queries (SegViT models only; absent otherwise).
        """
        height, width = rgb.shape[:2]
        aug_input = T.AugInput(rgb)
        T.AugmentationList(self.augmentations)(aug_input)
        image = torch.as_tensor(np.ascontiguousarray(aug_input.image.transpose(2, 0, 1)))
        scores = self.model([{"image": image, "height": height, "width": width}])[0]["sem_seg"]
        out = {"sem_seg": scores.argmax(0).cpu().numpy()}
        if hasattr(self.model, "forward_outputs"):
            normalized = self.model.normalize(image)[None]
            masks = self.model.forward_outputs(normalized)["pred_masks"]
            masks = masks[..., : image.shape[-2], : image.shape[-1]]
            masks = F.interpolate(masks, size=(height, width), mode="bilinear", align_corners=False)
            out["mask_probs"] = masks[0].sigmoid().cpu().numpy()
        return out
