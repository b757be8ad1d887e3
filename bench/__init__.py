"""Benchmarks of issue 6 (`make bench`): see bench/README.md."""
