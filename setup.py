#!/usr/bin/env python
"""SegViT-D2: SegViT (NeurIPS 2022) as a Detectron2 project. Installs the `segvit` package."""
from setuptools import find_packages, setup

setup(
    name="segvit",
    version="0.1.0",
    description="SegViT: semantic segmentation with plain Vision Transformers, on Detectron2",
    package_dir={"": "projects/SegViT"},
    packages=find_packages("projects/SegViT"),
    python_requires=">=3.10",
    # The pinned stack is installed by tools/setup_env.sh from requirements/constraints.txt;
    # Detectron2 and maskformer2 are not installable as plain requirements
    # (README.md, "Setup details").
    install_requires=[],
)
