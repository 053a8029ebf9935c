"""Shared semantic-segmentation data loaders; dataset files set names, crop and scales.

``dataloader.train.total_batch_size`` is the batch over all processes (16 in the paper's recipe:
2 per GPU x 8 GPUs; with ``--num-gpus N`` each process gets 16 / N; with
``train.grad_accum_steps=k`` an optimizer step sees k such batches).

The training stream is seeded by ``train.seed``: the image order and each image's augmentation
depend only on the seed and the position in the stream, and ``tools/train_net.py --resume`` sets
``skip_batches`` so that a resumed run continues it (``segvit.data.build``).
"""

from detectron2.config import LazyCall as L
from detectron2.data import get_detection_dataset_dicts
from detectron2.evaluation import SemSegEvaluator
from omegaconf import OmegaConf

from segvit.data.build import build_semseg_test_loader, build_semseg_train_loader
from segvit.data.dataset_mapper import SemSegDatasetMapper
from segvit.data.transforms import build_test_augmentations, build_train_augmentations

dataloader = OmegaConf.create()
dataloader.train = L(build_semseg_train_loader)(
    dataset=L(get_detection_dataset_dicts)(names="???"),
    mapper=L(SemSegDatasetMapper)(
        is_train=True,
        augmentations=L(build_train_augmentations)(
            crop_size=(512, 512),
            img_scale=(2048, 512),  # (long-side cap, short side) before the 0.5-2.0 ratio
            ratio_range=(0.5, 2.0),
            cat_max_ratio=0.75,  # re-draw crops where one class covers > 75% (mmseg)
        ),
        image_format="RGB",
        num_classes=None,  # set to check label values (a value >= num_classes stops with its file)
    ),
    total_batch_size=16,
    num_workers=4,  # per process; fewer where the process has fewer cores (segvit/data/workers.py)
    seed="${train.seed}",
    skip_batches=0,  # set by tools/train_net.py when resuming
)
dataloader.test = L(build_semseg_test_loader)(
    dataset=L(get_detection_dataset_dicts)(names="???", filter_empty=False),
    mapper=L(SemSegDatasetMapper)(
        is_train=False,
        augmentations=L(build_test_augmentations)(img_scale=(2048, 512)),
        image_format="RGB",
        # Evaluation checks its labels like training: a bad value stops with its file, before
        # SemSegEvaluator could count it in the wrong cell or fail with a bare reshape error.
        num_classes="${...train.mapper.num_classes}",
    ),
    num_workers=4,
)
dataloader.evaluator = L(SemSegEvaluator)(dataset_name="${..test.dataset.names}")
