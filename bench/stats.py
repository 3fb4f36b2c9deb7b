"""Repetition and summary helpers shared by the benchmarks."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence


def timed(fn: Callable[[], object]) -> float:
    """Wall time of one call, in s (perf_counter)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def summary(values: Sequence[float]) -> dict[str, float]:
    """median, min, max and the number of repetitions."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def alternate(a: Callable[[], object], b: Callable[[], object], repetitions: int) -> list[tuple]:
    """Time `a` and `b` alternately (a, b, b, a, ...), so drift hits both alike.
    Returns [(seconds_a, seconds_b), ...]."""
    pairs = []
    for index in range(repetitions):
        if index % 2:
            tb, ta = timed(b), timed(a)
        else:
            ta, tb = timed(a), timed(b)
        pairs.append((ta, tb))
    return pairs
