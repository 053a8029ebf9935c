"""Every decoder side by side (``python -m benchmarks.compare`` -> ``benchmarks/compare.md``).

:mod:`~benchmarks.compare.methods`: the methods and published numbers (data);
:mod:`~benchmarks.compare.runs`: tiny training runs, stored as JSON;
:mod:`~benchmarks.compare.full_size`: size, GFLOPs and CPU latency of the full-size configs;
:mod:`~benchmarks.compare.report`: the Markdown table. Usage: ``benchmarks/compare/__main__.py``.
"""
