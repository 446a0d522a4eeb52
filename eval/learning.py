"""Learning curves of training runs: validation error against optimizer steps and wall-clock minutes.

Reads ``RUN/history.csv`` (one row per epoch, written by ``sdnet train``): ``step``, ``seconds``
(wall-clock seconds of training and validation since the run started, over all resumes),
``mean_error_mm`` (training batches, running mean over the epoch) and ``val_mean_error_mm``
(validation split, mm). Pure functions on DataFrames, plots that take an ``ax``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import ScalarFormatter

from eval.plots import method_colors, save_figure
from eval.report import markdown_table
from pipeline.fsutil import atomic_write_text
from pipeline.runfiles import RunDir

THRESHOLDS_MM = (15.0, 12.0, 10.0)


def read_history(run_dir: Path) -> pd.DataFrame:
    """RUN/history.csv as a DataFrame with a ``minutes`` column; ValueError when missing or empty."""
    path = RunDir(run_dir).history
    if not path.is_file():
        raise ValueError(f"{path}: no training history")
    df = pd.read_csv(path)
    needed = {"step", "seconds", "val_mean_error_mm"}
    if df.empty or not needed <= set(df.columns):
        raise ValueError(f"{path}: expected rows with columns {sorted(needed)}")
    df = df.dropna(subset=["val_mean_error_mm"]).sort_values("step").reset_index(drop=True)
    return df.assign(minutes=df["seconds"] / 60.0)


def time_to_accuracy(history: pd.DataFrame, thresholds_mm: Sequence[float] = THRESHOLDS_MM) -> dict:
    """Minutes (and steps) until the validation error first reached each threshold [mm].

    Returns {threshold: {"minutes": float | None, "step": int | None}}; None = never reached.
    Resolution is one validation (one epoch of the run).
    """
    out = {}
    for t in thresholds_mm:
        hit = history[history["val_mean_error_mm"] <= t]
        if hit.empty:
            out[float(t)] = {"minutes": None, "step": None}
        else:
            row = hit.iloc[0]
            out[float(t)] = {"minutes": round(float(row["minutes"]), 2), "step": int(row["step"])}
    return out


def error_at(history: pd.DataFrame, minutes: float) -> float:
    """The validation error [mm] of the last validation at or before ``minutes`` (NaN if none)."""
    rows = history[history["minutes"] <= minutes + 1e-9]
    return float(rows["val_mean_error_mm"].iloc[-1]) if len(rows) else float("nan")


def best_error(history: pd.DataFrame) -> float:
    """The lowest validation error [mm] of a run."""
    return float(history["val_mean_error_mm"].min())


def plot_learning_curves(ax_steps, ax_minutes, runs: Mapping[str, pd.DataFrame],
                         thresholds_mm: Sequence[float] = THRESHOLDS_MM) -> None:
    """Validation error (solid) and training-batch error (dotted, when recorded) of each run against
    steps (``ax_steps``) and wall-clock minutes (``ax_minutes``), log-scaled error axis."""
    colors = method_colors(list(runs))
    for name, df in runs.items():
        for ax, x in ((ax_steps, "step"), (ax_minutes, "minutes")):
            ax.plot(df[x], df["val_mean_error_mm"], "-o", ms=2.5, color=colors[name],
                    label=f"{name} (val, last {df['val_mean_error_mm'].iloc[-1]:.2f} mm)")
            if "mean_error_mm" in df and df["mean_error_mm"].notna().any():
                ax.plot(df[x], df["mean_error_mm"], ":", color=colors[name], alpha=0.7)
    for ax, label in ((ax_steps, "optimizer step"), (ax_minutes, "wall-clock minutes (training + validation)")):
        for t in thresholds_mm:
            ax.axhline(t, color="0.6", linewidth=0.7, linestyle="--")
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(ScalarFormatter())
        ax.yaxis.set_minor_formatter(ScalarFormatter())
        ax.tick_params(axis="y", which="minor", labelsize="x-small")
        ax.set_xlabel(label)
        ax.set_ylabel("mean joint error (mm)")
        ax.grid(alpha=0.3, which="both")
        ax.set_xlim(left=0)
    ax_steps.set_title("Learning curves (solid: validation; dotted: training batches)")
    ax_minutes.legend(fontsize="small", loc="upper right")


def learning_curve_figure(runs: Mapping[str, pd.DataFrame]) -> Figure:
    """One figure, steps on the left and minutes on the right."""
    fig = Figure(figsize=(12, 4.6))
    ax1, ax2 = fig.subplots(1, 2)
    plot_learning_curves(ax1, ax2, runs)
    fig.tight_layout()
    return fig


# history.csv loss columns (training; validation is the same name with "val_") -> legend label.
LOSS_TERMS = {"loss": "total loss (joint + w psi_SDL)", "joint": "joint loss",
              "sdl": "psi_SDL (alpha Loss_a + beta Loss_b)", "loss_a": "Loss_a (angles)",
              "loss_b": "Loss_b (bone ratios)"}


def loss_terms(history: pd.DataFrame) -> list[str]:
    """The ``LOSS_TERMS`` columns of ``history`` with at least one positive finite value."""
    out = []
    for col in LOSS_TERMS:
        if col in history and (pd.to_numeric(history[col], errors="coerce") > 0).any():
            out.append(col)
    return out


def plot_loss_terms(ax, history: pd.DataFrame, x: str = "step") -> None:
    """The loss terms of one run (unitless, log scale) against ``x`` ('step' or 'minutes'):
    training (solid, mean over the epoch's batches) and validation (dashed, same colour)."""
    terms = loss_terms(history)
    colors = method_colors(terms)
    for col in terms:
        width = 2.2 if col == "loss" else 1.4
        ax.plot(history[x], history[col], "-", color=colors[col], linewidth=width, label=LOSS_TERMS[col])
        val = f"val_{col}"
        if val in history and (pd.to_numeric(history[val], errors="coerce") > 0).any():
            ax.plot(history[x], history[val], "--", color=colors[col], linewidth=width, alpha=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("optimizer step" if x == "step" else "wall-clock minutes (training + validation)")
    ax.set_ylabel("loss (unitless)")
    ax.grid(alpha=0.3, which="both")
    ax.set_xlim(left=0)
    if terms:
        ax.set_title("Loss terms (solid: training; dashed: validation)")
        ax.legend(fontsize="small", loc="upper right")


def run_curves_figure(name: str, history: pd.DataFrame) -> Figure:
    """One run's learning curves: error in mm (top) and loss terms (bottom), against steps (left)
    and minutes (right). Without logged loss terms, only the top row."""
    rows = 2 if loss_terms(history) else 1
    fig = Figure(figsize=(12, 4.4 * rows))
    axes = fig.subplots(rows, 2, squeeze=False)
    plot_learning_curves(axes[0, 0], axes[0, 1], {name: history})
    if rows == 2:
        plot_loss_terms(axes[1, 0], history, "step")
        plot_loss_terms(axes[1, 1], history, "minutes")
    fig.tight_layout()
    return fig


def comparison_table(runs: Mapping[str, pd.DataFrame], at_minutes: float | None = None,
                     thresholds_mm: Sequence[float] = THRESHOLDS_MM) -> pd.DataFrame:
    """One row per run: steps, minutes, final and best validation error, the error at ``at_minutes``
    (default: the shortest run's length, so every run is compared at equal wall time), and the
    minutes to each threshold."""
    if at_minutes is None:
        at_minutes = min(float(df["minutes"].iloc[-1]) for df in runs.values())
    rows = []
    for name, df in runs.items():
        row = {"run": name, "steps": int(df["step"].iloc[-1]), "minutes": round(float(df["minutes"].iloc[-1]), 1),
               f"val mm at {at_minutes:.1f} min": round(error_at(df, at_minutes), 2),
               "final val mm": round(float(df["val_mean_error_mm"].iloc[-1]), 2),
               "best val mm": round(best_error(df), 2)}
        for t, hit in time_to_accuracy(df, thresholds_mm).items():
            row[f"min to {t:g} mm"] = np.nan if hit["minutes"] is None else hit["minutes"]
        rows.append(row)
    return pd.DataFrame(rows)


def write_curves(runs: Mapping[str, Path], out: Path, at_minutes: Sequence[float]) -> str:
    """``sdnet curves``: OUT/learning_curves.png and OUT/curves.md (the comparison table, also returned)
    of the runs {name: run dir}; ValueError naming the file when a run has no usable history."""
    histories = {name: read_history(path) for name, path in runs.items()}
    table = comparison_table(histories, at_minutes)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_figure(learning_curve_figure(histories), out / "learning_curves.png")
    rows = [[None if isinstance(v, float) and v != v else v for v in r] for r in table.values.tolist()]
    text = markdown_table(list(table.columns), rows)  # a blank cell: threshold never reached
    atomic_write_text(out / "curves.md", text + "\n")
    return text
