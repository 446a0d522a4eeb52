"""``sdnet fit-refine``: refit a run's refinement (RUN/prior.json, RUN/refine.json) on train and val."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "fit-refine", help="refit the refinement of a run: bone prior on 'train', weights on 'val'",
        description="Fits the bone-length mixture of the hierarchical refinement by EM on DATA's training "
        "poses (RUN/prior.json) and chooses the refinement's weights (search radius, background and "
        "temporal terms, window) by the lowest mean error on the validation frames, over the grid of the "
        "run's experiment (its `refine` section; RUN/refine.json holds the whole search table). The test "
        "split is never read. `sdnet train` already does this when it ends; use this command to refit. "
        "`sdnet eval` and `sdnet predict` only read the run. Replaces prior.json and refine.json.")
    p.add_argument("--run", type=Path, required=True, help="run directory of `sdnet train`")
    p.add_argument("--data", type=Path, required=True,
                   help="output of `sdnet data` the run was trained on (its source tree must still be "
                   "there: the validation depth frames are read for the background term)")
    p.add_argument("--quiet", action="store_true", help="no summary line")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.fit_refine import fit_refinement
    from pipeline.rundir import load_run_config

    cfg = load_run_config(args.run)
    fit_refinement(args.run, args.data, cfg.refine, progress=not args.quiet)
    return 0
