"""Data: built-in synthetic dataset, dataset registration, mappers and augmentations."""
