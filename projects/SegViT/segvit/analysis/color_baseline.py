"""A colour-only baseline: every pixel gets the class whose mean training colour is nearest.

It measures how much of a dataset can be solved from pixel colour alone; on the synthetic dataset
(:mod:`segvit.data.synthetic`) it must stay far below what a model that sees shapes reaches.
"""

from typing import Dict, Iterable, Optional

import numpy as np
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.detection_utils import read_image
from detectron2.evaluation import SemSegEvaluator
from PIL import Image

__all__ = ["fit_class_mean_colors", "predict_by_nearest_color", "evaluate_color_baseline"]


def fit_class_mean_colors(
    dataset_dicts: Iterable[Dict], num_classes: int, ignore_label: int = 255
) -> np.ndarray:
    """Mean RGB colour of each class over the non-ignored pixels of a dataset.

    Args:
        dataset_dicts (iterable[dict]): Detectron2 dicts with "file_name" and "sem_seg_file_name".
        num_classes (int): K, the number of classes.
        ignore_label (int): label value that is left out.

    Returns:
        np.ndarray: (K, 3) float64 mean colours; NaN for a class with no pixel.
    """
    sums = np.zeros((num_classes, 3), dtype=np.float64)
    counts = np.zeros(num_classes, dtype=np.int64)
    for record in dataset_dicts:
        image = read_image(record["file_name"], format="RGB")  # (H, W, 3) uint8
        label = np.asarray(Image.open(record["sem_seg_file_name"]), dtype=np.int64)  # (H, W)
        if image.shape[:2] != label.shape:
            raise ValueError(
                f"Image {record['file_name']} is {image.shape[:2]} but its label "
                f"{record['sem_seg_file_name']} is {label.shape}; regenerate the dataset."
            )
        keep = label != ignore_label
        classes, pixels = label[keep], image[keep].astype(np.float64)  # (N,), (N, 3)
        if classes.size and classes.max() >= num_classes:
            raise ValueError(
                f"Label {classes.max()} in {record['sem_seg_file_name']} is >= num_classes="
                f"{num_classes}; pass the dataset's number of classes."
            )
        counts += np.bincount(classes, minlength=num_classes)
        for c in range(3):
            sums[:, c] += np.bincount(classes, weights=pixels[:, c], minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts[:, None]


def predict_by_nearest_color(image: np.ndarray, class_colors: np.ndarray) -> torch.Tensor:
    """Scores of each class for each pixel: minus the squared distance to the class colour.

    Args:
        image (np.ndarray): (H, W, 3) RGB image.
        class_colors (np.ndarray): (K, 3) mean colours; NaN rows (unseen classes) never win.

    Returns:
        torch.Tensor: (K, H, W) float32 scores; argmax over K is the nearest colour.
    """
    pixels = torch.from_numpy(np.array(image, dtype=np.float32))  # (H, W, 3), a writable copy
    colors = torch.as_tensor(class_colors, dtype=torch.float32)  # (K, 3)
    dist = ((pixels[None] - colors[:, None, None]) ** 2).sum(-1)  # (K, H, W)
    return -torch.nan_to_num(dist, nan=float("inf"))


def evaluate_color_baseline(
    train_name: str = "synthetic_sem_seg_train",
    val_name: str = "synthetic_sem_seg_val",
    max_val_images: Optional[int] = None,
) -> Dict:
    """Fit the class colours on ``train_name``; evaluate on ``val_name`` with ``SemSegEvaluator``.

    Args:
        train_name (str): registered dataset to fit the class colours on.
        val_name (str): registered dataset to evaluate on (metadata: stuff_classes, ignore_label).
        max_val_images (int or None): evaluate on the first images only.

    Returns:
        dict: "sem_seg" (the evaluator's metrics: "mIoU", "IoU-<class>", ... in percent) and
        "class_mean_colors" ({class name: [R, G, B]}).
    """
    meta = MetadataCatalog.get(train_name)
    num_classes = len(meta.stuff_classes)
    colors = fit_class_mean_colors(DatasetCatalog.get(train_name), num_classes, meta.ignore_label)
    evaluator = SemSegEvaluator(val_name, distributed=False, output_dir=None)
    evaluator.reset()
    for record in DatasetCatalog.get(val_name)[:max_val_images]:
        image = read_image(record["file_name"], format="RGB")
        scores = predict_by_nearest_color(image, colors)  # (K, H, W)
        evaluator.process([{"file_name": record["file_name"]}], [{"sem_seg": scores}])
    metrics = evaluator.evaluate()["sem_seg"]
    return {
        "sem_seg": dict(metrics),
        "class_mean_colors": {
            name: [round(float(v), 2) for v in c] for name, c in zip(meta.stuff_classes, colors)
        },
    }
