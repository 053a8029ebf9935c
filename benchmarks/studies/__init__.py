"""Finished studies, kept runnable (``python -m benchmarks.studies.<name>``); their results are
recorded in ``docs/results.md``."""
