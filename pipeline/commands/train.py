"""``sdnet train``: train an experiment on ``sdnet data`` output, then fit what the run needs to predict
(see ``pipeline.train``, ``pipeline.training`` and ``pipeline.finish_run``)."""
from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.errors import SdnetError
from pipeline.experiment import TRAIN_SHORTHANDS, add_experiment_arguments, bind_data, load_experiment, sets_from_args
from pipeline.runfiles import RunDir


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train an experiment (SDNet, joint + skeleton-difference loss) on a data dir",
        description="Trains the experiment of --config (default: the default experiment, configs/default.json) "
        "with the --set overrides and shorthand flags applied, on the TFRecords of `sdnet data` (which must "
        "have been cut as the experiment's data section says: `sdnet data --config` with the same file). "
        "Writes RUN/config.json (the resolved experiment: `sdnet train --config RUN/config.json` repeats the "
        "run), RUN/batch_check.png, checkpoints every epoch (and on Ctrl-C / SIGTERM), TensorBoard logs, "
        "RUN/history.csv (one row per epoch, numbered from 0: step, seconds, learning rate, losses, errors "
        "in mm), RUN/model.keras and RUN/summary.json; then fits the refinement (RUN/prior.json, "
        "RUN/refine.json) and the learned hand-centre refinement (RUN/centre.keras) on the same data, so "
        "the run can be evaluated and predict at once (--no-fit-refine / --no-fit-centre skip them). "
        "With --resume the run's config.json is the experiment and the options given change it.",
    )
    p.add_argument("--data", type=Path, required=True, help="data dir written by `sdnet data` (has manifest.json)")
    p.add_argument("--out", type=Path, required=True, help="run dir to create (or continue with --resume)")
    add_experiment_arguments(p, TRAIN_SHORTHANDS)
    p.add_argument("--from-tuning", type=Path, default=None, metavar="BEST_JSON",
                   help="take the loss settings (w, alpha, beta, ...) from the best.json of `sdnet tune`; "
                   "--set and the flags given override them")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its latest checkpoint. Restored exactly: weights, "
                   "optimizer state, step count, learning-rate plan, epoch count, time spent (--minutes "
                   "counts every session); history.csv and the TensorBoard logs are appended to. Not "
                   "reproduced: the batch order; the resumed session draws a fresh shuffle and fresh "
                   "augmentation from the seed plus the epochs done, and an interrupted epoch counts as "
                   "one, so the numbers differ from an uninterrupted run's. With --force and a new "
                   "--steps, --epochs, --steps-per-epoch or --minutes, the run trains to the new length "
                   "and the learning-rate schedule is re-planned to it (the rate at each step is that of "
                   "a run planned for the new length from the start)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing run, or resume with options that differ from its config")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.finish_run import finish_run
    from pipeline.train import train
    from pipeline.training.data import data_from_dir
    from pipeline.tune import tuned_sets

    if args.resume and args.config is not None:
        raise SdnetError("--resume continues the run's own config.json: give --set or flags to change it, "
                         "not --config")
    data = data_from_dir(args.data)
    sets = tuned_sets(args.from_tuning) if args.from_tuning is not None else {}
    sets.update(sets_from_args(args, TRAIN_SHORTHANDS))
    base = RunDir(args.out).config if args.resume else args.config
    cfg = bind_data(load_experiment(base, sets), data.manifest, args.data)
    summary = train(cfg, data, args.out, resume=args.resume, force=args.force)
    if "interrupted" in summary:
        return 128 + summary["interrupted"]
    if summary.get("chief") is False:
        print(f"worker done ({summary['steps']} steps); the chief wrote the run")
        return 0
    print(f"validation mean error: {summary['val_mean_error_mm']:.2f} mm "
          f"({summary['steps']} steps, {summary['wall_seconds']:.0f} s, {summary['images_per_s']:.0f} images/s)")
    finish_run(cfg, args.out, args.data)
    return 0
