"""Benchmark of loglake-client (``python -m bench.client``); see ``__main__`` for what is measured."""
