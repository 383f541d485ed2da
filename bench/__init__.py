"""Benchmarks: `python -m bench` (or `make bench`) runs every benchmark module side by side in one run."""
