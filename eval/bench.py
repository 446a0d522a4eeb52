"""Benchmarks behind ``sdnet bench``: each entry returns a dict of named figures.

Rules: medians over repeats; speed-ups as ratios measured in the same run; nothing here is asserted
in tests (timings on shared machines are noisy). The whole bench stays within 10 minutes on 2 cores.
Each stage adds its entry to BENCHMARKS.
"""
from __future__ import annotations

import importlib
import statistics
import time
from typing import Callable


def median_rate(fn: Callable[[], int], repeats: int) -> float:
    """Median of items/second over ``repeats`` calls of ``fn`` (which returns the items it did)."""
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        n = fn()
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time in seconds of ``repeats`` calls of ``fn``."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# name -> (module, function); imported only when that benchmark runs (keeps `sdnet --help` fast).
_ENTRIES = {
    "synth": ("eval.bench_synth", "bench_synth"),
    "data": ("eval.bench_data", "bench_data"),
    "train": ("eval.bench_train", "bench_train"),
    "infer": ("eval.bench_infer", "bench_infer"),
    "refine": ("eval.bench_refine", "bench_refine"),
}


def _lazy(module: str, function: str) -> Callable[..., dict]:
    def run(quick: bool = False) -> dict:
        return getattr(importlib.import_module(module), function)(quick)

    return run


BENCHMARKS: dict[str, Callable[..., dict]] = {name: _lazy(*entry) for name, entry in _ENTRIES.items()}
