"""``sdnet fit-centre``: train a run's learned hand-centre refinement (RUN/centre.keras)."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "fit-centre", help="train the learned hand-centre refinement of a run (for `sdnet predict`)",
        description="Trains a small CNN on DATA's training split that moves the rule-based hand centre "
        "to where the training crops held the hand on average (centres missed by Gaussian shifts of "
        "25 mm per axis during training). `sdnet predict` then cuts each crop twice: around the rule's "
        "centre, and around the refined one. Writes RUN/centre.keras and RUN/centre.json (with the "
        "validation centre error before/after).")
    p.add_argument("--data", type=Path, required=True, help="output of `sdnet data` the run was trained on")
    p.add_argument("--run", type=Path, required=True, help="run directory of `sdnet train`")
    p.add_argument("--steps", type=int, default=2000, help="training steps (default 2000)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.centre_refiner import train_centre_refiner
    from pipeline.errors import SdnetError

    if not Path(args.run).is_dir():
        raise SdnetError(f"{args.run}: run directory not found")
    train_centre_refiner(args.data, args.run, args.steps, args.batch_size, args.seed, progress=not args.quiet)
    return 0
