"""``sdnet curves``: learning curves of training runs side by side, and a comparison table."""
from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.errors import SdnetError


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
    from eval.learning import write_curves

    try:
        text = write_curves(parse_runs(args.runs), args.out, args.at_minutes)
    except ValueError as e:
        raise SdnetError(str(e)) from None
    print(text)
    return 0
