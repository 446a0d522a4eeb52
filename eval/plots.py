"""Figures of the evaluation: functions that draw on a matplotlib ``ax`` from metric dicts.

``metrics`` arguments map a method name to its ``eval.metrics.summarize`` result (errors in mm,
success curves as fractions over ``thresholds_mm``). Figures are built with ``matplotlib.figure.Figure``
(the Agg renderer, no pyplot state) and saved atomically; their file names come from the metric
names: ``per_joint.png`` and ``success_<curve>.png``.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Mapping

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from eval.metrics import CURVE_NAMES
from pipeline.fsutil import atomic_write_bytes
from pipeline.skeleton import Skeleton

CURVE_LABELS = {
    "max_frame": "frames with every joint within threshold (%)",
    "mean_frame": "frames with mean joint error within threshold (%)",
    "joint": "joints within threshold (%)",
}
CURVE_TITLES = {
    "max_frame": "Success rate, max-frame (all joints of a frame)",
    "mean_frame": "Success rate, mean-frame (mean joint error of a frame)",
    "joint": "Success rate, per joint (all joints pooled)",
}
DPI = 110


def figure_name(metric: str) -> str:
    """File name of the figure of ``metric``: 'per_joint' or one of ``CURVE_NAMES``."""
    if metric == "per_joint":
        return "per_joint.png"
    if metric in CURVE_NAMES:
        return f"success_{metric}.png"
    raise ValueError(f"no figure for metric {metric!r}")


def method_colors(names) -> dict[str, tuple]:
    """A stable colour per method, in the given order (matplotlib's tab10 cycle)."""
    cmap = colormaps["tab10"]
    return {name: cmap(i % 10) for i, name in enumerate(names)}


def plot_per_joint(ax, metrics: Mapping[str, dict], skeleton: Skeleton,
                   colors: Mapping[str, tuple] | None = None) -> None:
    """Grouped bars of the mean error of each joint and of the mean (mm), one bar per method.

    Like the paper's Fig. 4: joints in skeleton order with their names, then a 'mean' group.
    """
    names = list(metrics)
    colors = colors or method_colors(names)
    labels = [n.replace("_", " ") for n in skeleton.joint_names] + ["mean"]
    x = np.arange(len(labels))  # (J+1,)
    width = 0.8 / max(len(names), 1)
    for i, name in enumerate(names):
        m = metrics[name]
        values = list(m["per_joint_mm"]) + [m["mean_error_mm"]]  # (J+1,)
        if len(values) != len(labels):
            raise ValueError(f"{name}: {len(values) - 1} per-joint errors, skeleton has "
                             f"{skeleton.num_joints} joints")
        offset = (i - (len(names) - 1) / 2) * width
        ax.bar(x + offset, values, width, label=f"{name} ({m['mean_error_mm']:.2f} mm)",
               color=colors[name])
    ax.axvline(len(labels) - 1.5, color="0.6", linewidth=0.8, linestyle=":")
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=50, ha="right")
    ax.set_xlim(-0.6, len(labels) - 0.4)
    ax.set_ylabel("mean error (mm)")
    ax.set_title("Mean 3D error per joint")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(title="method (mean error)", fontsize="small")


def plot_success_curve(ax, metrics: Mapping[str, dict], curve: str = "max_frame",
                       colors: Mapping[str, tuple] | None = None,
                       linestyles: Mapping[str, str] | None = None) -> None:
    """Success rate (% of frames, or of joints for ``joint``) against the error threshold (mm).

    ``linestyles``: method -> matplotlib line style (default solid), e.g. to tell test sets apart."""
    if curve not in CURVE_NAMES:
        raise ValueError(f"unknown curve {curve!r}; choose from {CURVE_NAMES}")
    names = list(metrics)
    colors = colors or method_colors(names)
    t_max = 0.0
    for name in names:
        m = metrics[name]
        t = np.asarray(m["thresholds_mm"], dtype=np.float64)  # (T,)
        y = 100.0 * np.asarray(m[curve], dtype=np.float64)  # (T,) percent
        t_max = max(t_max, float(t.max()))
        ax.plot(t, y, label=f"{name} ({m['mean_error_mm']:.2f} mm)", color=colors[name], linewidth=1.8,
                linestyle=(linestyles or {}).get(name, "-"))
    ax.set_xlim(0, t_max or 80)
    ax.set_ylim(0, 100)
    ax.set_xlabel("error threshold (mm)")
    ax.set_ylabel(CURVE_LABELS[curve])
    ax.set_title(CURVE_TITLES[curve])
    ax.grid(alpha=0.3)
    ax.legend(title="method (mean error)", loc="lower right", fontsize="small")


def save_figure(fig: Figure, path: Path, dpi: int = DPI) -> Path:
    """Render ``fig`` to PNG and write it to ``path`` atomically (temporary file, then rename)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    atomic_write_bytes(Path(path), buf.getvalue())
    return Path(path)


def per_joint_figure(metrics: Mapping[str, dict], skeleton: Skeleton) -> Figure:
    fig = Figure(figsize=(11, 4.8))
    plot_per_joint(fig.add_subplot(), metrics, skeleton)
    return fig


def success_figure(metrics: Mapping[str, dict], curve: str) -> Figure:
    fig = Figure(figsize=(6.4, 4.8))
    plot_success_curve(fig.add_subplot(), metrics, curve)
    return fig


def write_metric_figures(out_dir: Path, metrics: Mapping[str, dict],
                         skeleton: Skeleton) -> dict[str, Path]:
    """Write ``per_joint.png`` and ``success_<curve>.png`` for every curve; returns metric -> path."""
    out_dir = Path(out_dir)
    written = {"per_joint": save_figure(per_joint_figure(metrics, skeleton),
                                        out_dir / figure_name("per_joint"))}
    for curve in CURVE_NAMES:
        written[curve] = save_figure(success_figure(metrics, curve), out_dir / figure_name(curve))
    return written


def rolling_mean(values, window: int) -> np.ndarray:
    """Centred moving average of a (N,) series: the mean over the ``window // 2`` frames on either
    side of each frame and itself (fewer at the ends): (N,)."""
    v = np.asarray(values, dtype=np.float64)  # (N,)
    half, n = max(int(window) // 2, 0), v.size
    sums = np.concatenate([[0.0], np.cumsum(v)])  # (N+1,)
    idx = np.arange(n)
    lo, hi = np.clip(idx - half, 0, n), np.clip(idx + half + 1, 0, n)
    return (sums[hi] - sums[lo]) / (hi - lo)


def plot_sequence_errors(ax, frame_index, errors: Mapping[str, np.ndarray], title: str = "",
                         window: int = 25, colors: Mapping[str, tuple] | None = None) -> None:
    """Per-frame mean joint error (mm) of one test sequence against its frame index, per method:
    every frame as a thin translucent line, the ``window``-frame centred moving average bold."""
    order = np.argsort(np.asarray(frame_index), kind="stable")
    x = np.asarray(frame_index)[order]  # (N,)
    colors = colors or method_colors(list(errors))
    for name, e in errors.items():
        y = np.asarray(e, dtype=np.float64)[order]  # (N,) mm
        ax.plot(x, y, color=colors[name], linewidth=0.6, alpha=0.35)
        ax.plot(x, rolling_mean(y, window), color=colors[name], linewidth=1.8,
                label=f"{name} (mean {y.mean():.2f} mm)")
    ax.set_xlabel("frame index")
    ax.set_ylabel("mean joint error (mm)")
    if x.size and x.max() > x.min():
        ax.set_xlim(x.min(), x.max())
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(f"{title} ({len(x)} frames; bold: {window}-frame moving average)", fontsize="medium")
    ax.legend(fontsize="small", loc="upper right")


def sequence_errors_figure(sequences: Mapping[str, tuple[np.ndarray, Mapping[str, np.ndarray]]],
                           window: int = 25) -> Figure:
    """One row per test sequence of ``plot_sequence_errors``: ``sequences`` maps a sequence name to
    (frame indices (N,), {method: per-frame mean error (N,) mm})."""
    n = max(len(sequences), 1)
    fig = Figure(figsize=(11, 2.9 * n))
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    names = list(next(iter(sequences.values()))[1]) if sequences else []
    colors = method_colors(names)
    for ax, (seq, (frames, errors)) in zip(axes, sequences.items()):
        plot_sequence_errors(ax, frames, errors, title=str(seq), window=window, colors=colors)
    fig.tight_layout()
    return fig
