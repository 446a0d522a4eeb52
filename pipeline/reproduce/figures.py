"""The figures of a reproduction: per-joint errors and max-frame success per test set (means over
seeds) and validation learning curves per setting."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import ScalarFormatter

from eval.plots import method_colors, plot_per_joint, plot_success_curve, save_figure
from pipeline.reproduce.scoring import CURVE
from pipeline.reproduce.settings import Setting, setting_name

LEARNING_CURVES = "learning_curves.png"


def mean_curve(curves: Sequence[tuple[Sequence[float], Sequence[float]]]):
    """Mean over seeds of (steps, errors) curves: on their common steps when all have the same,
    else linearly interpolated on the union of steps up to the shortest run's end. (steps, mean)."""
    first = np.asarray(curves[0][0], dtype=float)
    if all(len(s) == len(first) and np.array_equal(np.asarray(s, dtype=float), first) for s, _ in curves):
        return first, np.mean([np.asarray(e, dtype=float) for _, e in curves], axis=0)
    start = max(float(s[0]) for s, _ in curves)
    end = min(float(s[-1]) for s, _ in curves)
    grid = np.unique(np.concatenate([np.asarray(s, dtype=float) for s, _ in curves]))
    grid = grid[(grid >= start) & (grid <= end)]
    return grid, np.mean([np.interp(grid, s, e) for s, e in curves], axis=0)


def plot_setting_curves(ax, curves: Mapping[str, list], colors: Mapping[str, tuple] | None = None) -> None:
    """Validation error [mm] against optimizer step: per setting (name -> [(steps, errors), ...] over
    seeds) the mean over seeds as a solid line and each seed's curve faint; log-scaled error axis."""
    colors = colors or method_colors(list(curves))
    for name, runs in curves.items():
        if not runs:
            continue
        for s, e in runs:
            ax.plot(s, e, "-", color=colors[name], alpha=0.25, linewidth=0.9)
        steps, mean = mean_curve(runs)
        if not len(steps):  # the seeds' step ranges do not overlap: faint curves only
            continue
        ax.plot(steps, mean, "-o", ms=2.5, color=colors[name],
                label=f"{name} (last {mean[-1]:.2f} mm, {len(runs)} seed{'s' if len(runs) != 1 else ''})")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(ScalarFormatter())
    ax.tick_params(axis="y", which="minor", labelsize="x-small")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("validation mean joint error (mm)")
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small", loc="best")
    ax.set_title("Learning curves (bold: mean over seeds; faint: each seed)")


def write_learning_curves(out: Path, curves: Mapping[Setting, list], name: str = LEARNING_CURVES) -> Path:
    """``out/name`` (default learning_curves.png): validation error against step, one colour per setting."""
    fig = Figure(figsize=(9, 5.5))
    ax = fig.add_subplot()
    plot_setting_curves(ax, {setting_name(s): [(st, e) for _, st, e in runs] for s, runs in curves.items()})
    return save_figure(fig, out / name)


def write_figures(out: Path, name: str, plots: dict, skeleton) -> list[Path]:
    """The per-joint (``skeleton``'s joints) and max-frame success figures of one test set."""
    # One hue per setting: light = CNN, dark = CNN + refinement.
    pair = colormaps["tab20"]
    colors = {n: pair((2 * (i // 2)) % 20 + (0 if i % 2 else 1)) for i, n in enumerate(plots)}
    fig = Figure(figsize=(13, 5.2))
    ax = fig.add_subplot()
    plot_per_joint(ax, plots, skeleton, colors=colors)
    ax.set_title(f"Mean error per joint, {name} test set (mean over seeds)")
    a = save_figure(fig, out / f"per_joint_{name}.png")
    fig = Figure(figsize=(7.5, 5.5))
    ax = fig.add_subplot()
    plot_success_curve(ax, plots, CURVE, colors=colors)
    ax.set_title(f"Max-frame success rate, {name} test set (mean over seeds)")
    b = save_figure(fig, out / f"success_{CURVE}_{name}.png")
    return [a, b]
