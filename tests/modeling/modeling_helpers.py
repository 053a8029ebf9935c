"""Shared by the meta-architecture tests: random Detectron2-style input dicts."""

import torch


def random_inputs(sizes, num_classes, with_target=True):
    """One dict per (H, W): a random uint8 image, its size, and (optionally) a random target
    with an ignored (255) top-left corner."""
    batch = []
    for h, w in sizes:
        item = {
            "image": torch.randint(0, 256, (3, h, w), dtype=torch.uint8),
            "height": h,
            "width": w,
        }
        if with_target:
            target = torch.randint(0, num_classes, (h, w))
            target[: h // 4, : w // 4] = 255
            item["sem_seg"] = target
        batch.append(item)
    return batch
