"""Benchmarks: printed tables of medians and ratios, never timed asserts."""
