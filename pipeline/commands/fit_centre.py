"""``sdnet fit-centre``: retrain a run's learned hand-centre refinement (RUN/centre.keras)."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "fit-centre", help="retrain the learned hand-centre refinement of a run (for `sdnet predict`)",
        description="Trains a small CNN on DATA's training split that moves the rule-based hand centre "
        "to where the training crops held the hand on average (centres missed by Gaussian shifts of "
        "25 mm per axis during training). `sdnet predict` then cuts each crop twice: around the rule's "
        "centre, and around the refined one. Writes RUN/centre.keras and RUN/centre.json (with the "
        "validation centre error before/after). `sdnet train` already does this when it ends, with the "
        "run's `centre_refiner` section; the options here default to it.")
    p.add_argument("--data", type=Path, required=True, help="output of `sdnet data` the run was trained on")
    p.add_argument("--run", type=Path, required=True, help="run directory of `sdnet train`")
    p.add_argument("--steps", type=int, default=None, help="training steps (default: the run's centre_refiner.steps)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="batch size (default: the run's centre_refiner.batch_size)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the run's seed)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.centre_refiner import train_centre_refiner
    from pipeline.rundir import load_run_config

    cfg = load_run_config(args.run)
    steps = cfg.centre_refiner.steps if args.steps is None else args.steps
    batch = cfg.centre_refiner.batch_size if args.batch_size is None else args.batch_size
    seed = cfg.seed if args.seed is None else args.seed
    train_centre_refiner(args.data, args.run, steps, batch, seed, progress=not args.quiet)
    return 0
