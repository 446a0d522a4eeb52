"""``sdnet synth``: render a synthetic ICVL or NYU tree, render labelled poses, or preview frames."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from pipeline.camera import ICVL_INTRINSICS
from pipeline.commands.camera_args import add_camera_arguments, camera_from_args
from pipeline.config import RUNNING_MODES, SYNTH_DATASETS, SynthConfig
from pipeline.errors import SdnetError
from pipeline.synth.profiles import SENSOR_PROFILES

_EPILOG = """\
modes:
  sdnet synth --out DIR --train-frames N --test-frames M [--seed S] [--sequence-length L]
      a complete ICVL tree: Training/labels.txt, Training/Depth/<seq>/image_NNNN.png,
      Testing/test_seq_1|2.txt, Testing/Depth/test_seq_1|2/..., synth.json
  sdnet synth --poses LABELS [LABELS ...] --out DIR
      the poses of ICVL label files rendered as test sequences, labels equal to the input
  sdnet synth --preview PNG [--from-tree DIR]
      a montage of sample frames with their skeletons (with --out: of the tree just written)
  sdnet synth --dataset nyu --out DIR --train-frames N --test-frames M [--seed S]
      a complete NYU Hand tree: train/ and test/ with depth_1_NNNNNNN.png (640x480, 8-bit RGB,
      depth mm = (G << 8) | B, 0 = none) and joint_data.mat (joint_uvd, joint_xyz: NYU's 36 joints,
      y up), synth.json (with the subjects' frame ranges)

NYU trees (--dataset nyu): NYU's camera (f 588.04/587.08, 640x480); the palm 650-1100 mm away
  (median about 925 mm; NYU's 937), forearm, body and clutter in view in every frame; NYU's
  chirality (the ICVL model's mirror image) and label bone lengths (tip-mid of each finger, thumb,
  palm-wrist, palm-thumb root); the palm toward the camera in about 69% of the frames, as in NYU;
  subject 1 in train/ and in test/ first, then an unseen subject 2, from NYU's boundary (2440 of
  8252) scaled to --test-frames; the kinect sensor profile unless --sensor-profile names another.
  --poses, --preview, the camera options and the scene options do not apply.

sensor profiles (--sensor-profile, any mode that renders; recorded in synth.json):
  default   the ordinary short-range depth sensor: noise, a few dropouts, ragged edges
  occluded  heavy missing depth (15% dropouts, 60% of silhouette pixels lost, more at grazing
            angles) and occluders, Poisson with mean 2 per frame: discs of radius 10-25 mm, half
            holes, half objects 10-40 mm in front of the hand, e.g.
            sdnet synth --poses test_seq_1.txt test_seq_2.txt --out DIR --sensor-profile occluded
  structured  a structured-light / active-stereo camera (RealSense-class): noise 1.5 mm at 300 mm
            growing with depth^2, projector shadows (holes left of nearer objects, 25 mm
            baseline), holes on oblique surfaces and dark patches, flying pixels between surfaces
  kinect    a Kinect v1-class camera at arm's length (NYU's; the default of --dataset nyu): noise
            1.4 mm at 1 m, projector shadows of a 75 mm baseline, holes on oblique surfaces

scenes (--scene-fraction, --test-scene-fraction; whole sequences, recorded in synth.json):
  a scene's hand is at 250-900 mm (plain frames: about 220-420 mm) with its forearm continuing
  out of the image, a torso 150-400 mm behind the hand and clutter behind it (a desk, boxes,
  balls, cylinders); nothing but the arm is ever in front of the hand. Labels stay the hand's 16
  joints. By default 30% of the training sequences and none of the test ones are scenes, seen by
  the structured sensor (--scene-sensor-profile; with --sensor-profile alone, that one).

cameras (--camera NAME | --intrinsics FILE.json, then --fx ... --depth-scale override fields):
  frames are rendered at the camera's size and intrinsics and stored in its depth unit:
  value = round(mm / depth_scale); no depth is 32001 in a 1-mm (ICVL) tree and 0 otherwise.
  synth.json records the camera; read such a tree with the same camera, e.g. the RealSense-style
  test set of `make camera-test`:
    sdnet synth --out DIR --camera realsense --sensor-profile structured --train-frames 0 \\
        --test-frames 400 --test-scene-fraction 1 --seed 1
    sdnet data --icvl-root DIR --camera realsense --out DATA

Beam pipeline options go after `--`, e.g. `sdnet synth --out DIR -- --direct_num_workers=1`.
"""


_CAMERA_OPTIONS = ("camera", "intrinsics", "fx", "fy", "cx", "cy", "width", "height", "depth_scale")


def _field_help(name: str) -> str:
    return next(f.metadata["help"] for f in dataclasses.fields(SynthConfig) if f.name == name)


def register(sub) -> None:
    p = sub.add_parser(
        "synth", help="render a synthetic depth-hand dataset in the ICVL or NYU format",
        description="Renders synthetic depth frames of a hand model (16 ICVL joints + shape) with a "
        "depth-sensor model, as a Beam job, and writes them in ICVL's on-disk format (or NYU Hand's, "
        "--dataset nyu).",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=SYNTH_DATASETS, default=None,
                   help=f"{_field_help('dataset')}; default {SynthConfig().dataset}, see below")
    p.add_argument("--out", type=Path, help="output tree (written atomically)")
    p.add_argument("--train-frames", type=int, default=None, help="training frames (default 20000)")
    p.add_argument("--test-frames", type=int, default=None,
                   help="test frames, split over test_seq_1/2 as 702:894 (default 1596)")
    p.add_argument("--seed", type=int, default=0, help="random seed; same seed, same bytes (default 0)")
    p.add_argument("--sequence-length", type=int, default=None,
                   help="frames per training sequence (default 200)")
    p.add_argument("--sensor-profile", choices=tuple(SENSOR_PROFILES), default=None,
                   help="named depth-sensor model: default, occluded (heavy missing depth plus "
                   "occluding discs) or structured (structured-light camera), see below; default: default")
    p.add_argument("--scene-fraction", type=float, default=None, metavar="F",
                   help=f"share of training sequences that are real-camera scenes (forearm, torso, "
                   f"clutter; hand at 250-900 mm), see below (default {SynthConfig().scene_fraction:g})")
    p.add_argument("--test-scene-fraction", type=float, default=None, metavar="F",
                   help="share of test sequences that are scenes (default 0: the ICVL-like test split)")
    p.add_argument("--back-fraction", type=float, default=None, metavar="F",
                   help="share of plain sequences turned around, the other side of the hand toward the camera "
                   f"(default {SynthConfig().back_fraction:g}: the side ICVL's images show, as its test set)")
    p.add_argument("--scene-back-fraction", type=float, default=None, metavar="F",
                   help="share of scene sequences turned around; scenes have every yaw within 90 degrees of "
                   f"either side (default {SynthConfig().scene_back_fraction:g}: palm and back alike, as users show)")
    p.add_argument("--scene-sensor-profile", choices=tuple(SENSOR_PROFILES), default=None,
                   help=f"sensor profile of the scene frames (default {SynthConfig().scene_sensor_profile}, or "
                   "--sensor-profile when that is given)")
    p.add_argument("--poses", type=Path, nargs="+", metavar="LABELS",
                   help="render the poses of these ICVL label files (uvd in the camera's intrinsics, ICVL's by default) as test sequences")
    p.add_argument("--preview", type=Path, metavar="PNG", help="write a montage of sample frames")
    p.add_argument("--from-tree", type=Path, metavar="DIR",
                   help="with --preview: take the frames from this ICVL tree (real or synthetic)")
    p.add_argument("--preview-frames", type=int, default=18, help="frames in the montage (default 18)")
    p.add_argument("--preview-whole", action="store_true",
                   help="show whole frames in the montage (scenes), not crops around the hand")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    p.add_argument("--workers", type=int, default=None, help="Beam workers (default: CPU cores)")
    p.add_argument("--running-mode", default="multi_processing",
                   choices=RUNNING_MODES,
                   help="DirectRunner running mode (default multi_processing)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_camera_arguments(p, "icvl: 320x240, f 241.42, mm; the frames are rendered and stored with it")
    p.add_argument("beam_args", nargs="*", help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.build_synth import (BeamOptions, build_pose_tree, build_synth_tree, camera_fields, synth_config,
                                      write_preview)

    def camera() -> dict:
        """SynthConfig's camera fields from the camera options."""
        return camera_fields(args.camera, camera_from_args(args, ICVL_INTRINSICS),
                             from_file=args.intrinsics is not None)

    def config():
        return synth_config(train_frames=args.train_frames, test_frames=args.test_frames, seed=args.seed,
                            sequence_length=args.sequence_length, sensor_profile=args.sensor_profile,
                            scene_fraction=args.scene_fraction, test_scene_fraction=args.test_scene_fraction,
                            scene_sensor_profile=args.scene_sensor_profile, back_fraction=args.back_fraction,
                            scene_back_fraction=args.scene_back_fraction,
                            camera=None if args.dataset == "nyu" else camera(), dataset=args.dataset)

    def preview(tree: Path | None) -> None:
        source = args.from_tree or tree
        depth_scale = None  # None: the tree's synth.json
        if args.from_tree and any(getattr(args, k) is not None for k in ("camera", "intrinsics", "depth_scale")):
            depth_scale = camera_from_args(args, ICVL_INTRINSICS).depth_scale
        n = write_preview(args.preview, tree=source, cfg=None if source is not None else config(),
                          frames=args.preview_frames, whole=args.preview_whole, depth_scale=depth_scale)
        print(f"sdnet synth: preview of {n} frames in {args.preview}", file=sys.stderr)

    if args.dataset == "nyu":
        _check_nyu_options(args)
    if args.from_tree and not args.preview:
        raise SdnetError("--from-tree needs --preview PNG")
    if args.from_tree and args.sensor_profile is not None:
        raise SdnetError("--sensor-profile renders new frames; it does not apply to --from-tree")
    if args.from_tree and (args.scene_fraction is not None or args.test_scene_fraction is not None
                           or args.scene_sensor_profile is not None):
        raise SdnetError("--scene-fraction renders new frames; it does not apply to --from-tree")
    if args.preview_frames < 1:
        raise SdnetError(f"--preview-frames must be >= 1, got {args.preview_frames}")
    beam = BeamOptions(beam_args=tuple(args.beam_args), workers=args.workers, running_mode=args.running_mode,
                       progress=not args.no_progress)
    if args.out is None:
        if args.poses or args.train_frames is not None or args.test_frames is not None:
            raise SdnetError("--out DIR is required")
        if not args.preview:
            raise SdnetError("nothing to do: give --out DIR (and frame counts), --poses or --preview")
        preview(None)
        return 0
    if args.from_tree:
        raise SdnetError("--from-tree makes a preview of an existing tree; it cannot be combined with --out")
    if args.poses:
        if args.train_frames is not None or args.test_frames is not None or args.sequence_length is not None:
            raise SdnetError("--poses renders the given labels: --train-frames, --test-frames and "
                             "--sequence-length do not apply")
        if (args.scene_fraction is not None or args.test_scene_fraction is not None
                or args.scene_sensor_profile is not None):
            raise SdnetError("--poses renders the given labels alone: --scene-fraction, "
                             "--test-scene-fraction and --scene-sensor-profile do not apply")
        n = build_pose_tree(args.out, list(args.poses), seed=args.seed, sensor_profile=args.sensor_profile,
                            camera=camera(), beam=beam, overwrite=args.overwrite)
    else:
        n = build_synth_tree(args.out, config(), beam, overwrite=args.overwrite)
    print(f"sdnet synth: wrote {n} frames to {args.out}", file=sys.stderr)
    if args.preview:
        preview(args.out)
    return 0


def _first_given(args: argparse.Namespace, names) -> str | None:
    """The flag (--name) of the first of the options ``names`` given a value, else None."""
    return next((f"--{n.replace('_', '-')}" for n in names if getattr(args, n) not in (None, False)), None)


def _check_nyu_options(args: argparse.Namespace) -> None:
    """SdnetError naming the first option given that an NYU tree (``--dataset nyu``) does not take."""
    reasons = [
        (_first_given(args, ("poses",)), "it renders ICVL label files into an ICVL tree"),
        (_first_given(args, ("preview", "from_tree")), "the preview shows ICVL frames"),
        (_first_given(args, _CAMERA_OPTIONS), "an NYU tree is rendered with NYU's camera (640x480, f 588.04/587.08)"),
        (_first_given(args, ("scene_fraction", "test_scene_fraction")), "every frame of an NYU tree is a scene"),
        (_first_given(args, ("back_fraction", "scene_back_fraction")), "an NYU tree has NYU's views (a third "
         "of the sequences turned around)"),
        (_first_given(args, ("scene_sensor_profile",)), "every frame of an NYU tree is a scene: use --sensor-profile"),
    ]
    for flag, why in reasons:
        if flag:
            raise SdnetError(f"--dataset nyu: {flag} does not apply ({why})")
