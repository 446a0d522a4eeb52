"""``sdnet reproduce``: the paper's Table 1 on our data (see ``pipeline.reproduce``)."""
from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.errors import SdnetError
from pipeline.experiment import add_experiment_arguments, load_experiment, override, sets_from_args

# The experiment keys `sdnet reproduce` offers as shorthand flags (the loss keys and the seed are the
# study's: --weights, --setting, --seeds).
REPRODUCE_SHORTHANDS = ("model.preset", "steps", "epochs", "minutes", "steps_per_epoch", "batch_size")


def register(sub) -> None:
    p = sub.add_parser(
        "reproduce",
        help="the paper's Table 1 on our data: baseline and SDNet settings, several seeds, +- refinement",
        description="Trains one run per loss setting and seed, each the experiment of --config (default: the "
        "default experiment; make reproduce: configs/table1.json) with the --set overrides and flags applied "
        "and the setting's loss keys and the seed set: the baseline "
        "(w = 0) and SDNet for each --weights value, plus every --setting and --from-tuning setting. "
        "The data must have been cut as the experiment's data section says (`sdnet data --config` with the "
        "same file); the refinement is fitted as its refine section says. "
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
                   help="one more setting: keys of the experiment's loss section, set as loss.KEY "
                   "(sdl_weight required; e.g. sdl_weight=0.03,joint_loss=distance,sdl_start=0.5); numbers "
                   "are read as numbers, the rest as words; repeatable")
    p.add_argument("--from-tuning", action="append", default=[], type=Path, metavar="PATH",
                   help="one more setting: the loss options of a `sdnet tune` best.json (or its "
                   "directory), labelled as chosen on validation by that file; repeatable")
    p.add_argument("--candidate", action="append", default=[], metavar="KEY=VALUE[,KEY=VALUE...]",
                   help="a calibration candidate (same form as --setting): every candidate is trained with "
                   "the first seed, and the one of lowest validation error joins the settings with every "
                   "seed; repeatable")
    p.add_argument("--icvl-poses", type=Path, default=None, metavar="DIR",
                   help="directory with ICVL test label files test_seq_*.txt (e.g. ../shared/icvl): "
                   "also evaluate on those poses, rendered; evaluation only")
    p.add_argument("--extra-test", action="append", default=[], metavar="NAME=DATA_DIR",
                   help="also evaluate every run on the test split of DATA_DIR (written by `sdnet data` "
                   "with the crop size and cube of --data), labelled NAME (letters, digits, _ or -); "
                   "repeatable")
    p.add_argument("--smoke", action="store_true",
                   help="tiny base experiment for tests instead of --config (smoke preset, 4 steps of batch 8, "
                   "32-px crops of 2 rotations, a 2-cell refinement grid: pipeline.reproduce.settings.SMOKE_TRAIN), "
                   "in-process Beam")
    add_experiment_arguments(p, REPRODUCE_SHORTHANDS)
    p.set_defaults(func=run, accepts_unknown=True)


def settings_from_args(args: argparse.Namespace, base_loss=None) -> tuple[tuple, tuple]:
    """(settings, tuning) from --weights, --setting and --from-tuning, in that order; the paper's
    weights when none is given. ``base_loss``: the base experiment's loss section (a tuned setting keeps
    the keys that differ from it)."""
    from pipeline.reproduce import DEFAULT_WEIGHTS, parse_setting, pure_w, setting_from_tuning  # deferred: as run()'s

    weights = args.weights
    if weights is None and not args.setting and not args.from_tuning:
        weights = DEFAULT_WEIGHTS
    try:
        settings = [pure_w(w) for w in weights or ()] + [parse_setting(t) for t in args.setting]
    except ValueError as e:
        raise SdnetError(str(e)) from None
    tuning = tuple((setting_from_tuning(path, base_loss), str(path)) for path in args.from_tuning)
    return tuple(settings) + tuple(s for s, _ in tuning), tuning


def extra_tests_from_args(args: argparse.Namespace) -> dict[str, Path]:
    """NAME -> DATA_DIR from the --extra-test values; SdnetError on a bad or repeated NAME."""
    from pipeline.reproduce import parse_extra_test  # deferred: as run()'s (pipeline.reproduce loads TensorFlow)

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
    # pipeline.reproduce loads TensorFlow, and this module is imported at CLI start-up
    from pipeline.reproduce import ReproduceOptions, parse_setting  # deferred: as run()'s
    from pipeline.reproduce.settings import sets_between, smoke_experiment  # deferred: as run()'s

    sets = sets_from_args(args, REPRODUCE_SHORTHANDS)
    if args.smoke:
        if args.config is not None:
            raise SdnetError("--smoke is its own base experiment: give --config or --smoke, not both")
        start = smoke_experiment()
        base = override(start, sets, "--smoke")
    else:
        start = load_experiment(args.config)
        base = load_experiment(args.config, sets)
    settings, tuning = settings_from_args(args, base.loss)
    try:
        candidates = tuple(parse_setting(t) for t in args.candidate)
        return ReproduceOptions(train=base, config=None if args.config is None else str(args.config),
                                sets=tuple(sets_between(start, base).items()), settings=settings,
                                seeds=tuple(args.seeds), smoke=args.smoke, tuning=tuning, candidates=candidates)
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

