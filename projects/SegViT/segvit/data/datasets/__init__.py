"""Registration of the paper's datasets (ADE20K, COCO-Stuff-10K, PASCAL-Context 59/60) and of
user folder datasets; label validation shared by the mapper and ``datasets/check.py``."""

from . import builtin  # registers the datasets under $DETECTRON2_DATASETS
from .config_datasets import folder_dataset, resolve_dataset_names
from .folder import load_sem_seg_pairs, register_folder_dataset
from .validation import check_label_values
