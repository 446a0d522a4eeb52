"""``sdnet tune``: keras-tuner search over alpha, beta and the SDL weight w (see ``pipeline.tune``)."""
from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.errors import SdnetError


def register(sub) -> None:
    p = sub.add_parser(
        "tune",
        help="search w, alpha, beta and the joint-loss reading (keras-tuner Bayesian optimization)",
        description="Bayesian optimization (keras-tuner) over the skeleton-difference loss: w in "
        "[1e-3, 1] (both sides of the point where its gradient equals the joint loss's), alpha and beta "
        "in [0.1, 10], all log-uniform, and the reading of Eq. 1 (--joint-loss). Each trial is a `sdnet train` "
        "run in DIR/trials/<id> with the same training options and seed; the objective is its final "
        "validation mean error in mm. Writes DIR/tuning.csv (one row per finished trial), "
        "DIR/best.json (for `sdnet train --from-tuning`) and DIR/tuning.png after every trial. "
        "Re-running the same command continues the search (finished trials are kept; an interrupted "
        "trial resumes from its checkpoint); a larger --trials extends it. The baseline w = 0 is not "
        "on a log scale: train it with `sdnet train --sdl-weight 0` to compare.",
    )
    p.add_argument("--data", type=Path, required=True, help="data dir written by `sdnet data`")
    p.add_argument("--out", type=Path, required=True, help="search directory (created, or continued)")
    p.add_argument("--trials", type=int, required=True, help="total number of trials of the search")
    p.add_argument("--preset", choices=["paper", "cpu", "smoke"], default="cpu",
                   help="model preset of every trial (default cpu)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=int, default=None, help="epochs per trial")
    length.add_argument("--max-steps", type=int, default=None, help="optimizer steps per trial")
    p.add_argument("--minutes-per-trial", type=float, default=None,
                   help="wall-clock budget of each trial (training + validation), minutes")
    p.add_argument("--steps-per-epoch", type=int, default=None,
                   help="steps between validations/checkpoints (default: one pass over the training split)")
    p.add_argument("--batch-size", type=int, default=None, help="batch size (default 32)")
    p.add_argument("--learning-rate", type=float, default=None, help="peak learning rate (default 1e-3)")
    p.add_argument("--penalty", choices=["step", "hinge"], default=None,
                   help="angle penalty of the SDL (default: the training default)")
    p.add_argument("--joint-loss", choices=["squared", "distance", "both"], default="both",
                   help="reading(s) of Eq. 1 to search: sum of squared joint distances, of joint "
                   "distances, or both as a choice (default both)")
    p.add_argument("--w-min", type=float, default=1e-3, help="lower end of the log-uniform w range (default 1e-3)")
    p.add_argument("--w-max", type=float, default=1.0, help="upper end of the log-uniform w range (default 1)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the search and of every trial's training (default 0)")
    p.add_argument("--initial-points", type=int, default=4,
                   help="random trials before the Gaussian process proposes (default 4)")
    p.add_argument("--overwrite", action="store_true", help="delete an existing search in --out and start over")
    p.add_argument("--verbose", action="store_true", help="show each trial's training log")
    p.set_defaults(func=run)


def options_from_args(args: argparse.Namespace):
    from pipeline.tune import JOINT_READINGS, SearchSpace, TuneOptions

    if args.epochs is None and args.max_steps is None and args.minutes_per_trial is None:
        raise SdnetError("give the length of a trial: --epochs, --max-steps or --minutes-per-trial")
    if args.initial_points < 1:
        raise SdnetError(f"--initial-points must be >= 1, got {args.initial_points}")
    train = {"preset": args.preset, "epochs": args.epochs, "steps": args.max_steps,
             "minutes": args.minutes_per_trial, "steps_per_epoch": args.steps_per_epoch,
             "batch_size": args.batch_size, "learning_rate": args.learning_rate, "penalty": args.penalty,
             "seed": args.seed}
    readings = JOINT_READINGS if args.joint_loss == "both" else (args.joint_loss,)
    try:
        space = SearchSpace(w_min=args.w_min, w_max=args.w_max, joint_losses=readings)
    except ValueError as e:
        raise SdnetError(str(e)) from None
    return TuneOptions(train={k: v for k, v in train.items() if v is not None}, space=space, seed=args.seed,
                       initial_points=args.initial_points)


def run(args: argparse.Namespace) -> int:
    import warnings

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
          f"train with: sdnet train --from-tuning {args.out / BEST_FILE} --data ... --out ...")
    return 0
