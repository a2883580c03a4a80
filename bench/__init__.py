"""Benchmarks: each prints a table of numbers; none asserts a time."""
