"""``sdnet tune``: keras-tuner search over alpha, beta and the SDL weight w (see ``pipeline.tune``)."""
from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from pipeline.errors import SdnetError
from pipeline.experiment import add_experiment_arguments, load_experiment, sets_from_args

# The experiment keys `sdnet tune` offers as shorthand flags (the loss keys it searches are its own; the
# trial length has its own flags below).
TUNE_SHORTHANDS = ("model.preset", "steps_per_epoch", "batch_size", "learning_rate", "loss.penalty", "seed",
                   "precision")
# Tune's trial-length options -> the experiment keys they set.
LENGTH_OPTIONS = {"minutes_per_trial": "minutes", "max_steps": "steps", "epochs": "epochs"}


def register(sub) -> None:
    p = sub.add_parser(
        "tune",
        help="search w, alpha, beta and the joint-loss reading (keras-tuner Bayesian optimization)",
        description="Bayesian optimization (keras-tuner) over the skeleton-difference loss: w in "
        "[1e-3, 1] (both sides of the point where its gradient equals the joint loss's), alpha and beta "
        "in [0.1, 10], all log-uniform, and the reading of Eq. 1 (--joint-loss). Each trial is a `sdnet train` "
        "run in DIR/trials/<id> of the experiment of --config (default: the default experiment) with the "
        "--set overrides, the flags and the trial's loss.sdl_weight, loss.alpha, loss.beta and "
        "loss.joint_loss set; every trial trains with the experiment's seed, which also seeds the search. "
        "The data must have been cut as the experiment's data section says (`sdnet data --config` with the "
        "same file). The objective is a trial's final validation mean error in mm. Writes DIR/tuning.csv "
        "(one row per finished trial), DIR/best.json (for `sdnet train --from-tuning`) and DIR/tuning.png "
        "after every trial. Re-running the same command continues the search (finished trials are kept; "
        "an interrupted trial resumes from its checkpoint); a larger --trials extends it. The baseline "
        "w = 0 is not on a log scale: train it with `sdnet train --config FILE --sdl-weight 0` to compare.",
    )
    p.add_argument("--data", type=Path, required=True, help="data dir written by `sdnet data`")
    p.add_argument("--out", type=Path, required=True, help="search directory (created, or continued)")
    p.add_argument("--trials", type=int, required=True, help="total number of trials of the search")
    length = p.add_argument_group("length of each trial (default: the experiment's)")
    steps = length.add_mutually_exclusive_group()
    steps.add_argument("--epochs", type=int, default=None, help="epochs per trial (sets epochs)")
    steps.add_argument("--max-steps", type=int, default=None, help="optimizer steps per trial (sets steps)")
    length.add_argument("--minutes-per-trial", type=float, default=None,
                        help="wall-clock budget of each trial (training + validation), minutes (sets minutes)")
    p.add_argument("--joint-loss", choices=["squared", "distance", "both"], default="both",
                   help="reading(s) of Eq. 1 to search: sum of squared joint distances, of joint "
                   "distances, or both as a choice (default both)")
    p.add_argument("--w-min", type=float, default=1e-3, help="lower end of the log-uniform w range (default 1e-3)")
    p.add_argument("--w-max", type=float, default=1.0, help="upper end of the log-uniform w range (default 1)")
    p.add_argument("--initial-points", type=int, default=4,
                   help="random trials before the Gaussian process proposes (default 4)")
    p.add_argument("--overwrite", action="store_true", help="delete an existing search in --out and start over")
    p.add_argument("--verbose", action="store_true", help="show each trial's training log")
    add_experiment_arguments(p, TUNE_SHORTHANDS)
    p.set_defaults(func=run)


def experiment_sets(args: argparse.Namespace) -> dict:
    """The overrides of the base experiment: --set, the shorthand flags, then the trial-length options."""
    sets = sets_from_args(args, TUNE_SHORTHANDS)
    for option, key in LENGTH_OPTIONS.items():
        value = getattr(args, option)
        if value is not None:
            sets[key] = value
    return sets


def options_from_args(args: argparse.Namespace):
    # pipeline.tune loads TensorFlow, and this module is imported at CLI start-up
    from pipeline.tune import JOINT_READINGS, SearchSpace, TuneOptions  # deferred: as run()'s

    if args.initial_points < 1:
        raise SdnetError(f"--initial-points must be >= 1, got {args.initial_points}")
    base = load_experiment(args.config, experiment_sets(args))
    readings = JOINT_READINGS if args.joint_loss == "both" else (args.joint_loss,)
    try:
        space = SearchSpace(w_min=args.w_min, w_max=args.w_max, joint_losses=readings)
    except ValueError as e:
        raise SdnetError(str(e)) from None
    return TuneOptions(train=base, space=space, seed=base.seed, initial_points=args.initial_points)


def run(args: argparse.Namespace) -> int:
    from pipeline.tune import BEST_FILE, CSV_FILE, OBJECTIVE, PLOT_FILE, tune

    if not args.verbose:  # Keras's per-fit data warnings would drown the one line per trial
        warnings.filterwarnings("ignore", category=UserWarning, module=r"keras\.")
    best = tune(args.data, args.out, args.trials, options_from_args(args), overwrite=args.overwrite,
                quiet_training=not args.verbose)
    print(f"best of {best['trials_completed']} completed trials: trial {best['trial_id']}, "
          f"w={best['sdl_weight']:.4g}, alpha={best['alpha']:.4g}, beta={best['beta']:.4g}, "
          f"joint loss {best['joint_loss']} -> "
          f"validation mean error {best[OBJECTIVE]:.3f} mm")
    print(f"wrote {args.out / CSV_FILE}, {args.out / BEST_FILE}, {args.out / PLOT_FILE}; "
          f"train with: sdnet train --config EXPERIMENT --from-tuning {args.out / BEST_FILE} --data ... --out ...")
    return 0
