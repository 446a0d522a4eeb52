"""Benchmarks behind ``sdnet bench``: each entry returns a dict of named figures.

Rules: medians over repeats; speed-ups as ratios measured in the same run; nothing here is asserted
in tests (timings on shared machines are noisy). The whole bench stays within 10 minutes on 2 cores.
Each stage adds its entry to BENCHMARKS.
"""
from __future__ import annotations

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


BENCHMARKS: dict[str, Callable[..., dict]] = {}


def _data(quick: bool = False) -> dict:
    from eval.bench_data import bench_data

    return bench_data(quick)


BENCHMARKS["data"] = _data


def _synth(quick: bool = False) -> dict:
    from pipeline.synth.benchmark import bench_synth

    return bench_synth(quick)


BENCHMARKS["synth"] = _synth


def _infer(quick: bool = False) -> dict:
    from eval.bench_infer import bench_infer

    return bench_infer(quick)


BENCHMARKS["infer"] = _infer


def _refine(quick: bool = False) -> dict:
    from eval.bench_refine import bench_refine

    return bench_refine(quick)


BENCHMARKS["refine"] = _refine


def _train(quick: bool = False) -> dict:
    from pipeline.train import bench_train
    return bench_train(quick)


BENCHMARKS["train"] = _train
