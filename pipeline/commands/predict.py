"""``sdnet predict``: 3-D hand joints for depth PNGs (one file, a folder, or an ICVL tree)."""
from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.commands.camera_args import add_camera_arguments, camera_from_args
from pipeline.datasets import DATASETS
from pipeline.errors import SdnetError


def register(sub) -> None:
    p = sub.add_parser(
        "predict", help="predict hand joints for a depth PNG, a folder of PNGs, or an ICVL or NYU tree",
        description="Crops each depth PNG (decoded as the run's dataset stores depth: ICVL 16-bit gray, NYU "
        "RGB with mm = (G << 8) | B) around its hand exactly as `sdnet data` does (crop size "
        "and cube from RUN/config.json), runs the run's CNN, maps the joints to image uvd (px, px, mm) "
        "and camera xyz (mm), and refines them (bone prior, background and temporal terms; needs "
        "RUN/prior.json and RUN/refine.json, written by `sdnet fit-refine`; the run directory is all it "
        "reads, so a copied run works without its dataset). A folder is one sequence in "
        "name order. Writes OUT/predictions.json and OUT/overlays/<name>.png. Frames without a hand "
        "or that cannot be read get a per-frame status. With a learned localizer in the run (`sdnet "
        "fit-locator --out RUN`), it finds the hand anywhere in the frame first, and frames where it is not "
        "confident get status 'no hand' with its confidence. The camera defaults to the run's dataset; "
        "for another sensor (RealSense, Kinect, ...) give its intrinsics, image size and depth unit "
        "(--intrinsics FILE.json, or --camera and the single flags); see the README's 'Your own camera'.")
    p.add_argument("path", type=Path, help="a depth PNG, a folder of PNGs, or the root of an ICVL tree or an NYU "
                   "tree (train/, test/ with joint_data.mat and depth_1_*.png: camera 1's frames)")
    p.add_argument("--dataset", choices=sorted(DATASETS), default=None,
                   help="the dataset of the frames; must be the run's (its skeleton, joints and depth encoding); "
                   "default: the run's")
    p.add_argument("--run", type=Path, required=True, help="run directory of `sdnet train`")
    p.add_argument("--out", type=Path, default=None, help="output directory (default: ./predictions)")
    p.add_argument("--no-refine", action="store_true", help="CNN only (no prior needed)")
    p.add_argument("--no-centre-refine", action="store_true",
                   help="crop around the rule's hand centre only, without the run's learned centre "
                   "refinement (RUN/centre.keras, written by `sdnet fit-centre`)")
    p.add_argument("--no-locator", action="store_true",
                   help="find the hand with the run's rule (the nearest depth blob) instead of its learned "
                   "full-frame localizer (RUN/locator.keras, written by `sdnet fit-locator`); without a "
                   "localizer in the run the rule is used anyway")
    p.add_argument("--hand", choices=["right", "left"], default=None,
                   help="the hand in the frames, as your camera shows it (default: right for a PNG or a "
                   "folder, the dataset's own for a tree). A hand of the other chirality than the run's "
                   "dataset shows is mirrored in and its joints mirrored back out: ICVL's images show a "
                   "right hand's mirror image, so an ICVL run mirrors a user's right hand")
    add_camera_arguments(p, "the camera of the run's dataset")
    p.add_argument("--split", choices=["all", "train", "test"], default="all",
                   help="for an ICVL or NYU tree: which label files / split folders to predict (default all)")
    p.add_argument("--batch-size", type=int, default=64, help="CNN batch size (default 64)")
    p.add_argument("--no-overlays", action="store_true", help="skip the overlay PNGs")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.frame_sources import collect_frames
    from pipeline.predict import run_predict, summary_line
    from pipeline.predictor import load_predictor
    from pipeline.rundir import load_run_config, run_dataset, run_intrinsics

    out = args.out or Path("predictions")
    if args.batch_size < 1:
        raise SdnetError(f"--batch-size must be >= 1, got {args.batch_size}")
    if not Path(args.run).is_dir():
        raise SdnetError(f"{args.run}: run directory not found")
    run_cfg = load_run_config(args.run)
    trained_on = run_dataset(run_cfg).name
    if args.dataset is not None and args.dataset != trained_on:
        raise SdnetError(f"--dataset {args.dataset}: the run {args.run} was trained on {trained_on} "
                         f"(it predicts {trained_on}'s joints)")
    intr = camera_from_args(args, run_intrinsics(run_cfg))
    kind, _ = collect_frames(args.path, args.split)  # bad input fails before the model loads
    hand = args.hand or (None if kind.endswith("-tree") else "right")  # None: the dataset's own
    pred = load_predictor(args.run, intr, refine=not args.no_refine, hand=hand,
                          centre_refine=not args.no_centre_refine, locate=not args.no_locator)
    doc = run_predict(pred, args.path, out, split=args.split, batch_size=args.batch_size,
                      overlays=not args.no_overlays, overwrite=args.overwrite)
    print(summary_line(doc, out))
    return 0
