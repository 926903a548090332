"""The provider's benchmarks (``make bench``, ``make bench-quick``): see ``bench/run.py``."""
