"""Benchmarks: each measures the product against a baseline in the same run (`make bench`)."""
