"""``sdnet curves``: learning curves of training runs side by side, and a comparison table."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "curves",
        help="learning curves of runs (validation error vs steps and minutes) and a comparison table",
        description="Reads RUN/history.csv of each run and writes OUT/learning_curves.png and "
        "OUT/curves.md: steps, minutes, the validation error of every run at equal wall time (the "
        "shortest run's length, or --at-minutes), final and best error, and the minutes to reach "
        "15, 12 and 10 mm. Runs are named by their folder, or NAME=RUN.",
    )
    p.add_argument("runs", nargs="+", help="run dirs of `sdnet train` (RUN or NAME=RUN)")
    p.add_argument("--out", type=Path, required=True, help="folder for learning_curves.png and curves.md")
    p.add_argument("--at-minutes", type=float, default=None,
                   help="compare the runs' validation error at this many minutes (default: the shortest run)")
    p.set_defaults(func=run)


def parse_runs(specs: list[str]) -> dict[str, Path]:
    """{name: run dir} from 'RUN' or 'NAME=RUN' arguments."""
    out = {}
    for spec in specs:
        name, _, path = spec.rpartition("=")
        out[name or Path(path).name] = Path(path)
    return out


def run(args: argparse.Namespace) -> int:
    from eval.learning import comparison_table, learning_curve_figure, read_history
    from eval.plots import save_figure
    from eval.report import markdown_table
    from pipeline.errors import SdnetError
    from pipeline.fsutil import atomic_write_text

    runs = {}
    for name, path in parse_runs(args.runs).items():
        try:
            runs[name] = read_history(path)
        except ValueError as e:
            raise SdnetError(str(e)) from None
    table = comparison_table(runs, args.at_minutes)
    args.out.mkdir(parents=True, exist_ok=True)
    save_figure(learning_curve_figure(runs), args.out / "learning_curves.png")
    rows = [[None if isinstance(v, float) and v != v else v for v in r] for r in table.values.tolist()]
    text = markdown_table(list(table.columns), rows)  # a blank cell: threshold never reached
    atomic_write_text(args.out / "curves.md", text + "\n")
    print(text)
    return 0
