"""Learning curves and time to accuracy (eval.learning) and the `sdnet curves` command."""
from __future__ import annotations

import math

import pandas as pd
import pytest
from matplotlib.figure import Figure

from eval.learning import (comparison_table, error_at, loss_terms, plot_loss_terms, read_history,
                           run_curves_figure, time_to_accuracy)
from pipeline.cli import main
from tests.helpers import is_a_drawn_figure

HEADER = "epoch,step,loss,mean_error_mm,sdl,val_loss,val_mean_error_mm,val_sdl,learning_rate,seconds\n"


def write_run(path, rows):
    """A run dir whose history.csv has (step, seconds, val mm) rows."""
    path.mkdir(parents=True)
    lines = [f"{i + 1},{step},0.1,{val + 1},,0.1,{val},,0.001,{sec}" for i, (step, sec, val) in enumerate(rows)]
    (path / "history.csv").write_text(HEADER + "\n".join(lines) + "\n")
    return path


def test_time_to_accuracy_is_the_first_validation_at_or_below_each_threshold(tmp_path):
    run = write_run(tmp_path / "r", [(200, 60, 20.0), (400, 120, 15.0), (600, 180, 13.0), (800, 240, 11.9),
                                     (1000, 300, 12.5)])
    h = read_history(run)
    assert list(h["minutes"]) == [1, 2, 3, 4, 5]
    tta = time_to_accuracy(h, (15, 12, 10))
    assert tta[15.0] == {"minutes": 2.0, "step": 400}  # <= counts
    assert tta[12.0] == {"minutes": 4.0, "step": 800}  # the first hit, not the last row
    assert tta[10.0] == {"minutes": None, "step": None}
    assert error_at(h, 3.5) == 13.0 and math.isnan(error_at(h, 0.5))


def test_comparison_table_compares_at_the_shortest_runs_length(tmp_path):
    a = read_history(write_run(tmp_path / "a", [(100, 60, 20.0), (200, 120, 14.0), (300, 180, 11.0)]))
    b = read_history(write_run(tmp_path / "b", [(50, 60, 18.0), (100, 120, 13.0)]))
    t = comparison_table({"a": a, "b": b}).set_index("run")
    assert t.loc["a", "val mm at 2.0 min"] == 14.0 and t.loc["b", "val mm at 2.0 min"] == 13.0
    assert t.loc["a", "final val mm"] == 11.0 and t.loc["a", "min to 12 mm"] == 3.0
    assert pd.isna(t.loc["b", "min to 12 mm"])


def test_read_history_rejects_a_missing_or_empty_file(tmp_path):
    with pytest.raises(ValueError, match="no training history"):
        read_history(tmp_path)
    (tmp_path / "history.csv").write_text(HEADER)
    with pytest.raises(ValueError, match="expected rows"):
        read_history(tmp_path)


def test_curves_command_writes_the_figure_and_table(tmp_path, capsys):
    a = write_run(tmp_path / "a", [(100, 60, 20.0), (200, 120, 11.0)])
    b = write_run(tmp_path / "b", [(100, 60, 16.0), (200, 120, 14.0)])
    out = tmp_path / "out"
    assert main(["curves", f"first={a}", str(b), "--out", str(out)]) == 0
    table = (out / "curves.md").read_text()
    assert "| first |" in table and "| b |" in table
    assert is_a_drawn_figure(out / "learning_curves.png")
    assert main(["curves", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "no training history" in capsys.readouterr().err


def test_loss_terms_plot_training_solid_and_validation_dashed_for_logged_columns():
    history = pd.DataFrame({"step": [10, 20, 30], "minutes": [1.0, 2.0, 3.0], "val_mean_error_mm": [20, 15, 12],
                            "loss": [3.0, 2.0, 1.0], "joint": [3.0, 2.0, 1.0], "loss_a": [float("nan")] * 3,
                            "loss_b": [0.0, 0.0, 0.0], "val_loss": [3.5, 2.5, 1.5], "val_joint": [3.5, 2.5, 1.5]})
    assert loss_terms(history) == ["loss", "joint"]  # all-NaN and all-zero terms are left out
    ax = Figure().add_subplot()
    plot_loss_terms(ax, history, "minutes")
    lines = ax.get_lines()
    assert [l.get_linestyle() for l in lines] == ["-", "--", "-", "--"]
    assert list(lines[1].get_ydata()) == [3.5, 2.5, 1.5] and list(lines[0].get_xdata()) == [1.0, 2.0, 3.0]
    assert ax.get_yscale() == "log"
    assert len(run_curves_figure("r", history).axes) == 4
    assert len(run_curves_figure("r", history.drop(columns=["loss", "joint"])).axes) == 2  # old histories
