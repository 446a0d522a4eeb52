"""``sdnet fit-locator``: train the learned full-frame hand localizer (DIR/locator.keras)."""
from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.commands.camera_args import add_camera_arguments, camera_from_args
from pipeline.datasets import DATASETS, get_dataset
from pipeline.errors import SdnetError

DEFAULT_WIDTH_MULT = 0.5
DEFAULT_LEARNING_RATE = 2e-3


def register(sub) -> None:
    p = sub.add_parser(
        "fit-locator", help="train the full-frame hand localizer (where is the right hand in a whole frame)",
        description="Trains a small CNN that looks at a whole depth frame (letterboxed to 160x120, depth "
        "relative to the frame's median) and outputs where the RIGHT hand's palm joint is, its depth and "
        "a confidence: unlike the nearest-blob rule it is not fooled by a nearer arm, body or chair. "
        "Trained on the TRAINING split of an ICVL- or NYU-format tree (never its test split), whole "
        "training sequences held out for validation, with random zoom (0.6-1.6), translation, depth "
        "noise and pixel dropout for other cameras, and frames without the hand (zoomed away from it or "
        "with it blanked). A dataset whose images show a left hand (ICVL) is mirrored for training. "
        "Writes DIR/locator.keras and DIR/locator.json (validation palm error, confidences with and "
        "without the hand, the confidence threshold keeping 99% of validation hands). DIR may be a run "
        "directory: `sdnet predict --run DIR` then finds the hand with it.")
    p.add_argument("--tree", type=Path, required=True, metavar="ROOT", help="the dataset tree (e.g. `sdnet synth`'s output)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="where to write locator.keras and locator.json")
    p.add_argument("--dataset", choices=sorted(DATASETS), default="icvl", help="the tree's layout (default: icvl)")
    p.add_argument("--steps", type=int, default=2000, help="training steps (default: 2000)")
    p.add_argument("--batch-size", type=int, default=32, help="batch size (default: 32)")
    p.add_argument("--frames", type=int, default=4000,
                   help="at most this many training frames, evenly spaced over the tree's list, are read into "
                   "memory (default: 4000; 0 = all)")
    p.add_argument("--width-mult", type=float, default=DEFAULT_WIDTH_MULT,
                   help=f"scales every layer's channels (default: {DEFAULT_WIDTH_MULT:g}; 0.5 is about 21 k "
                   "parameters, 1 about 82 k)")
    p.add_argument("--learning-rate", type=float, default=DEFAULT_LEARNING_RATE,
                   help=f"Adam's initial learning rate, cosine-decayed over --steps (default: {DEFAULT_LEARNING_RATE:g})")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    add_camera_arguments(p, "the dataset's")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.locator import train_locator

    if not args.tree.is_dir():
        raise SdnetError(f"{args.tree}: no such tree directory")
    if args.out.exists() and not args.out.is_dir():
        raise SdnetError(f"{args.out}: exists and is not a directory")
    intr = camera_from_args(args, get_dataset(args.dataset).camera)
    train_locator(args.tree, args.dataset, intr, args.out, args.steps, args.batch_size, args.seed,
                  frames=args.frames, progress=not args.quiet, width_mult=args.width_mult,
                  learning_rate=args.learning_rate)
    return 0
