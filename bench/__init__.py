"""Benchmarks (`make bench`): figures, each with its reference, measured side by side."""
