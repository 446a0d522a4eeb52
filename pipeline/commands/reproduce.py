"""``sdnet reproduce``: the paper's Table 1 on our data (see ``pipeline.reproduce``)."""
from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.errors import SdnetError


def register(sub) -> None:
    p = sub.add_parser(
        "reproduce",
        help="the paper's Table 1 on our data: baseline and SDNet settings, several seeds, +- refinement",
        description="Trains one run per loss setting and seed, all with the same budget: the baseline "
        "(w = 0) and SDNet for each --weights value, plus every --setting and --from-tuning setting. "
        "Evaluates every run without and with the refinement on the data dir's test split, with "
        "--icvl-poses on the real ICVL test poses rendered by `sdnet synth --poses`, and on the test split "
        "of every --extra-test data dir (evaluation only: the bone prior and refinement weights come from "
        "--data's train/val splits). Each SDL setting is compared with its baseline (w = 0 and the same "
        "non-SDL options such as joint_loss; else the plain baseline) seed by seed: mean difference with "
        "a 95% t interval. Writes DIR/table1.md (mean over seeds +- sample standard deviation, the "
        "paper's numbers beside ours, Δ vs baseline with 95% intervals, a paragraph generated from the "
        "numbers saying which of the paper's findings hold, the convergence of the validation error, "
        "the wall-clock duration), DIR/results.json, DIR/learning_curves.png and per-joint and "
        "success-curve figures per test set. Re-running continues: finished runs and evaluations are "
        "reused, and settings may be added.",
    )
    p.add_argument("--data", type=Path, required=True, help="data dir written by `sdnet data`")
    p.add_argument("--out", type=Path, required=True, help="output directory (created, or continued)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="training seeds (default 0 1)")
    p.add_argument("--weights", type=float, nargs="+", default=None,
                   help="SDL weights w, one setting each; 0 = the baseline (default, when no --setting or "
                   "--from-tuning is given: 0 0.125 0.25 0.5, as the paper)")
    p.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE[,KEY=VALUE...]",
                   help="one more setting: loss options of `sdnet train` (sdl_weight required; e.g. "
                   "sdl_weight=0.03,joint_loss=distance,sdl_start=0.5); numbers are read as numbers, "
                   "the rest as words; repeatable")
    p.add_argument("--from-tuning", action="append", default=[], type=Path, metavar="PATH",
                   help="one more setting: the loss options of a `sdnet tune` best.json (or its "
                   "directory), labelled as chosen on validation by that file; repeatable")
    p.add_argument("--candidate", action="append", default=[], metavar="KEY=VALUE[,KEY=VALUE...]",
                   help="a calibration candidate (same form as --setting): every candidate is trained with "
                   "the first seed, and the one of lowest validation error joins the settings with every "
                   "seed; repeatable")
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
    p.add_argument("--extra-test", action="append", default=[], metavar="NAME=DATA_DIR",
                   help="also evaluate every run on the test split of DATA_DIR (written by `sdnet data` "
                   "with the crop size and cube of --data), labelled NAME (letters, digits, _ or -); "
                   "repeatable")
    p.add_argument("--smoke", action="store_true",
                   help="tiny settings for tests: smoke preset, 4 steps, batch 8, in-process Beam")
    p.set_defaults(func=run, accepts_unknown=True)


def settings_from_args(args: argparse.Namespace) -> tuple[tuple, tuple]:
    """(settings, tuning) from --weights, --setting and --from-tuning, in that order; the paper's
    weights when none is given."""
    from pipeline.reproduce import DEFAULT_WEIGHTS, parse_setting, pure_w, setting_from_tuning

    weights = args.weights
    if weights is None and not args.setting and not args.from_tuning:
        weights = DEFAULT_WEIGHTS
    try:
        settings = [pure_w(w) for w in weights or ()] + [parse_setting(t) for t in args.setting]
    except ValueError as e:
        raise SdnetError(str(e)) from None
    tuning = tuple((setting_from_tuning(path), str(path)) for path in args.from_tuning)
    return tuple(settings) + tuple(s for s, _ in tuning), tuning


def extra_tests_from_args(args: argparse.Namespace) -> dict[str, Path]:
    """NAME -> DATA_DIR from the --extra-test values; SdnetError on a bad or repeated NAME."""
    from pipeline.reproduce import parse_extra_test

    out = {}
    for text in args.extra_test:
        try:
            name, path = parse_extra_test(text)
        except ValueError as e:
            raise SdnetError(str(e)) from None
        if name in out:
            raise SdnetError(f"--extra-test: the name {name!r} is given twice")
        out[name] = path
    return out


def options_from_args(args: argparse.Namespace):
    from pipeline.reproduce import SMOKE_TRAIN, ReproduceOptions, parse_setting

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
    settings, tuning = settings_from_args(args)
    try:
        candidates = tuple(parse_setting(t) for t in args.candidate)
        return ReproduceOptions(train=train, settings=settings, seeds=tuple(args.seeds), smoke=args.smoke,
                                tuning=tuning, candidates=candidates)
    except ValueError as e:
        raise SdnetError(str(e)) from None


def run(args: argparse.Namespace) -> int:
    from pipeline.reproduce import reproduce

    bad = [a for a in args.beam_args if not a.startswith("--")]
    if bad:
        raise SdnetError(f"unexpected argument {bad[0]!r} (Beam options for `sdnet data` start with --)")
    opts = options_from_args(args)
    res = reproduce(args.data, args.out, opts, icvl_poses=args.icvl_poses, beam_args=args.beam_args,
                    extra_tests=extra_tests_from_args(args))
    for name, ts in res["testsets"].items():
        print(f"{name}: {ts['paragraph']}\n")
    print(f"wrote {args.out / 'table1.md'} and {args.out / 'results.json'}")
    return 0

