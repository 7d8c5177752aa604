"""Benchmarks: `make bench` (python -m bench). Kept out of the test suite."""
