"""Benchmark of the partition autoloader (``python -m bench.autoloader``)."""
