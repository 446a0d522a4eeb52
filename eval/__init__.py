"""Metrics, plots, result-file I/O, comparison, reports and benchmarks."""
