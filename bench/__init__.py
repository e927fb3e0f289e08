"""Benchmarks: each prints ratios against a baseline measured in the same run and writes bench/results/<name>.json.

Run one with ``python -m bench.<name>`` or all with ``python -m bench`` (``make bench``).
"""
