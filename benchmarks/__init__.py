"""Measurements of the project's models: run each as ``python -m benchmarks.<name>``.

Every module writes one Markdown report next to it (``benchmarks/<name>.md``) with tables and
one-line captions; what the numbers mean is in ``docs/results.md``. Shared helpers live in
:mod:`benchmarks.common`; finished one-off studies live in :mod:`benchmarks.studies`.
"""
