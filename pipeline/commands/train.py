"""``sdnet train``: train SDNet on ``sdnet data`` output (see ``pipeline.train`` and ``pipeline.training``)."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    from pipeline.config import DEFAULT_EPOCHS, AugmentConfig, LossConfig, TrainConfig

    t, loss, online = TrainConfig(), LossConfig(), AugmentConfig()  # the defaults the help shows
    p = sub.add_parser(
        "train",
        help="train SDNet (joint loss + skeleton-difference loss) on a data dir",
        description="Trains the SDNet CNN with Keras on the TFRecords of `sdnet data`. Writes RUN/config.json, "
        "RUN/batch_check.png, checkpoints every epoch (and on Ctrl-C / SIGTERM), TensorBoard logs, "
        "RUN/history.csv (one row per epoch, numbered from 0: step, seconds, learning rate, losses, "
        "errors in mm), then RUN/model.keras and RUN/summary.json (validation mean error in mm). "
        "With --resume, options not given are taken from the run's config.json.",
    )
    p.add_argument("--data", type=Path, required=True, help="data dir written by `sdnet data` (has manifest.json)")
    p.add_argument("--out", type=Path, required=True, help="run dir to create (or continue with --resume)")
    p.add_argument("--preset", choices=["paper", "cpu", "smoke"], default=None,
                   help="model preset (default cpu): paper = ZF-net layers + FC 2048; cpu = scaled to "
                   "train fast on 2 CPU cores; smoke = tiny, for tests")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=int, default=None, help=f"epochs to train (default {DEFAULT_EPOCHS})")
    length.add_argument("--steps", type=int, default=None, help="optimizer steps to train, instead of --epochs")
    p.add_argument("--minutes", type=float, default=None,
                   help="wall-clock budget for training + validation (over all resumes); plans the "
                   "learning-rate schedule to end within it")
    p.add_argument("--steps-per-epoch", type=int, default=None,
                   help="steps between validations/checkpoints (default: one pass over the training split)")
    p.add_argument("--batch-size", type=int, default=None, help=f"global batch size (default {t.batch_size})")
    p.add_argument("--learning-rate", type=float, default=None,
                   help=f"peak Adam learning rate (default {t.learning_rate:g}; warm-up then cosine decay)")
    p.add_argument("--sdl-weight", type=float, default=None,
                   help=f"weight w of the skeleton-difference loss (default {loss.sdl_weight:g}; 0 = baseline)")
    p.add_argument("--alpha", type=float, default=None, help=f"weight of the angle term (default {loss.alpha:g})")
    p.add_argument("--beta", type=float, default=None, help=f"weight of the bone-ratio term (default {loss.beta:g})")
    p.add_argument("--penalty", choices=["step", "hinge"], default=None,
                   help=f"angle feasibility penalty F: step (paper, no gradient) or hinge (default {loss.penalty})")
    p.add_argument("--threshold-deg", type=float, default=None,
                   help="one angle above which F penalizes a bend, degrees (default: none; one threshold per "
                   "angle derived from the training labels, see --threshold-percentile)")
    p.add_argument("--threshold-percentile", type=float, default=None,
                   help="without --threshold-deg: each angle's threshold is this percentile of that angle "
                   f"over the training labels, stored in RUN/config.json (default {loss.threshold_percentile:g})")
    p.add_argument("--joint-loss", choices=["squared", "distance"], default=None,
                   help="reading of Eq. 1: sum of squared joint distances (squared) or of joint distances "
                   f"(distance); default {loss.joint_loss}")
    p.add_argument("--sdl-start", type=float, default=None,
                   help=f"w schedule: w = 0 for this fraction of the planned steps (default {loss.sdl_start:g})")
    p.add_argument("--sdl-ramp", type=float, default=None,
                   help=f"w schedule: then ramp w linearly to --sdl-weight over this fraction (default {loss.sdl_ramp:g}; 0: at once)")
    p.add_argument("--seed", type=int, default=None, help=f"random seed (default {t.seed})")
    p.add_argument("--precision", choices=["auto", "float32", "bfloat16", "float16"], default=None,
                   help=f"compute precision (default {t.precision}; auto: bfloat16 mixed precision on CPUs with native "
                   "bfloat16 such as AVX512_BF16/AMX, else float32; float16 is for GPUs)")
    p.add_argument("--dropout", type=float, default=None,
                   help="dropout rate after the fully connected layer (default: the preset's; cpu 0, paper 0.5)")
    p.add_argument("--batch-norm", action=argparse.BooleanOptionalAction, default=None,
                   help="batch normalization after each layer (default: as the preset)")
    p.add_argument("--pca-dims", type=int, default=None,
                   help="predict this many pose coefficients mapped to the joints by a fixed PCA basis "
                   "of the (augmented) training poses (0 = direct joints, the default)")
    aug = p.add_argument_group("online augmentation (drawn anew for every batch; 0 turns one off)")
    aug.add_argument("--aug-rotation-deg", type=float, default=None,
                     help=f"in-plane rotation uniform in +-DEG degrees (default {online.rotation_deg:g})")
    aug.add_argument("--aug-scale", type=float, default=None, help=f"zoom uniform in 1 +- SCALE (default {online.scale:g})")
    aug.add_argument("--aug-shift-mm", type=float, default=None,
                     help=f"std of the hand-centre shift per axis, mm (default {online.shift_mm:g})")
    aug.add_argument("--aug-pixel-dropout", type=float, default=None,
                     help=f"share of hand pixels dropped to background (default {online.pixel_dropout:g})")
    p.add_argument("--strategy", choices=["auto", "default", "mirrored", "multiworker"], default=None,
                   help=f"tf.distribute strategy (default {t.strategy}; auto: multi-worker with TF_CONFIG, mirrored "
                   "with several GPUs, else one device). Multi-worker: start the same command on every "
                   "machine with its TF_CONFIG; --batch-size is global; only the chief writes --out "
                   "(README, Scaling out)")
    p.add_argument("--from-tuning", type=Path, default=None, metavar="BEST_JSON",
                   help="take the loss settings (w, alpha, beta, ...) from the best.json of `sdnet tune`; "
                   "flags given explicitly override them")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its latest checkpoint. Restored exactly: weights, "
                   "optimizer state, step count, learning-rate plan, epoch count, time spent (--minutes "
                   "counts every session); history.csv and the TensorBoard logs are appended to. Not "
                   "reproduced: the batch order; the resumed session draws a fresh shuffle and fresh "
                   "augmentation from --seed plus the epochs done, and an interrupted epoch counts as "
                   "one, so the numbers differ from an uninterrupted run's. With --force and a new "
                   "--steps, --epochs, --steps-per-epoch or --minutes, the run trains to the new length "
                   "and the learning-rate schedule is re-planned to it (the rate at each step is that of "
                   "a run planned for the new length from the start)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing run, or resume with options that differ from its config")
    p.set_defaults(func=run)


def overrides_from_args(args: argparse.Namespace) -> dict:
    """The training options given on the command line (None = not given)."""
    return {"preset": args.preset, "epochs": args.epochs, "steps": args.steps, "minutes": args.minutes,
            "steps_per_epoch": args.steps_per_epoch, "batch_size": args.batch_size,
            "learning_rate": args.learning_rate, "sdl_weight": args.sdl_weight, "alpha": args.alpha,
            "beta": args.beta, "penalty": args.penalty, "threshold_deg": args.threshold_deg,
            "threshold_percentile": args.threshold_percentile, "joint_loss": args.joint_loss,
            "sdl_start": args.sdl_start, "sdl_ramp": args.sdl_ramp,
            "seed": args.seed, "precision": args.precision, "strategy": args.strategy,
            "dropout": args.dropout, "batch_norm": args.batch_norm, "pca_dims": args.pca_dims,
            "aug_rotation_deg": args.aug_rotation_deg, "aug_scale": args.aug_scale,
            "aug_shift_mm": args.aug_shift_mm, "aug_pixel_dropout": args.aug_pixel_dropout}


def run(args: argparse.Namespace) -> int:
    from pipeline.train import train
    from pipeline.training.data import data_from_dir
    from pipeline.training.resolve import load_run_config, resolve_config

    data = data_from_dir(args.data)
    base = load_run_config(args.out) if args.resume else None
    overrides = overrides_from_args(args)
    if args.from_tuning is not None:
        from pipeline.tune import tuned_overrides

        overrides = tuned_overrides(args.from_tuning, overrides)
    cfg = resolve_config(data.manifest, overrides, base=base, data_dir=args.data)
    summary = train(cfg, data, args.out, resume=args.resume, force=args.force)
    if "interrupted" in summary:
        return 128 + summary["interrupted"]
    if summary.get("chief") is False:
        print(f"worker done ({summary['steps']} steps); the chief wrote the run")
        return 0
    print(f"validation mean error: {summary['val_mean_error_mm']:.2f} mm "
          f"({summary['steps']} steps, {summary['wall_seconds']:.0f} s, {summary['images_per_s']:.0f} images/s)")
    return 0
