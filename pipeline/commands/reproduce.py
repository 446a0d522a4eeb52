"""``sdnet reproduce``: the paper's Table 1 on our data (see ``pipeline.reproduce``)."""
from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.errors import SdnetError


def register(sub) -> None:
    p = sub.add_parser(
        "reproduce",
        help="the paper's Table 1 on our data: baseline and SDNet weights, several seeds, +- refinement",
        description="Trains the baseline (w = 0) and SDNet for each --weights value, once per --seeds "
        "value, all with the same budget; evaluates every run without and with the refinement on the "
        "data dir's test split and, with --icvl-poses, on the real ICVL test poses rendered by "
        "`sdnet synth --poses` (evaluation only: the bone prior and refinement weights come from the "
        "data dir's train/val splits). Writes DIR/table1.md (mean over seeds +- sample standard "
        "deviation, the paper's numbers beside ours, a paragraph generated from the numbers saying "
        "which of the paper's findings hold, the wall-clock duration), DIR/results.json and per-joint "
        "and success-curve figures per test set. Re-running continues: finished runs and evaluations "
        "are reused.",
    )
    p.add_argument("--data", type=Path, required=True, help="data dir written by `sdnet data`")
    p.add_argument("--out", type=Path, required=True, help="output directory (created, or continued)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="training seeds (default 0 1)")
    p.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.125, 0.25, 0.5],
                   help="SDL weights w; 0 = the baseline (default 0 0.125 0.25 0.5, as the paper)")
    p.add_argument("--preset", choices=["paper", "cpu", "smoke"], default="cpu",
                   help="model preset of every run (default cpu)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--minutes-per-run", type=float, default=None,
                        help="wall-clock training budget of each run, minutes")
    budget.add_argument("--steps", type=int, default=None, help="optimizer steps of each run")
    budget.add_argument("--epochs", type=int, default=None, help="epochs of each run")
    p.add_argument("--batch-size", type=int, default=None, help="batch size (default 32)")
    p.add_argument("--icvl-poses", type=Path, default=None, metavar="DIR",
                   help="directory with ICVL test label files test_seq_*.txt (e.g. ../shared/icvl): "
                   "also evaluate on those poses, rendered; evaluation only")
    p.add_argument("--smoke", action="store_true",
                   help="tiny settings for tests: smoke preset, 4 steps, batch 8, in-process Beam")
    p.set_defaults(func=run, accepts_unknown=True)


def options_from_args(args: argparse.Namespace):
    from pipeline.reproduce import SMOKE_TRAIN, ReproduceOptions

    if args.smoke:
        if args.minutes_per_run is not None or args.epochs is not None:
            raise SdnetError("--smoke sets its own budget; --steps and --batch-size may adjust it")
        train = dict(SMOKE_TRAIN)
        if args.steps is not None:
            train["steps"] = args.steps
        if args.batch_size is not None:
            train["batch_size"] = args.batch_size
    else:
        if args.minutes_per_run is None and args.steps is None and args.epochs is None:
            raise SdnetError("give the budget of each run: --minutes-per-run, --steps or --epochs")
        train = {"preset": args.preset, "minutes": args.minutes_per_run, "steps": args.steps,
                 "epochs": args.epochs, "batch_size": args.batch_size}
        train = {k: v for k, v in train.items() if v is not None}
    try:
        return ReproduceOptions(train=train, weights=tuple(args.weights), seeds=tuple(args.seeds),
                                smoke=args.smoke)
    except ValueError as e:
        raise SdnetError(str(e)) from None


def run(args: argparse.Namespace) -> int:
    from pipeline.reproduce import reproduce

    bad = [a for a in args.beam_args if not a.startswith("--")]
    if bad:
        raise SdnetError(f"unexpected argument {bad[0]!r} (Beam options for `sdnet data` start with --)")
    res = reproduce(args.data, args.out, options_from_args(args), icvl_poses=args.icvl_poses,
                    beam_args=args.beam_args)
    for name, ts in res["testsets"].items():
        print(f"{name}: {ts['paragraph']}\n")
    print(f"wrote {args.out / 'table1.md'} and {args.out / 'results.json'}")
    return 0
