"""``sdnet synth``: render a synthetic ICVL tree, render labelled poses, or preview frames."""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from pipeline.commands.camera_args import add_camera_arguments, camera_from_args
from pipeline.errors import SdnetError
from pipeline.synth.profiles import SENSOR_PROFILES

# Share of training sequences that are real-camera scenes in a tree made without --scene-fraction,
# and their sensor without --scene-sensor-profile (scenes stand for users' cameras: RealSense-class).
DEFAULT_SCENE_FRACTION = 0.3
DEFAULT_SCENE_SENSOR = "structured"

_EPILOG = """\
modes:
  sdnet synth --out DIR --train-frames N --test-frames M [--seed S] [--sequence-length L]
      a complete ICVL tree: Training/labels.txt, Training/Depth/<seq>/image_NNNN.png,
      Testing/test_seq_1|2.txt, Testing/Depth/test_seq_1|2/..., synth.json
  sdnet synth --poses LABELS [LABELS ...] --out DIR
      the poses of ICVL label files rendered as test sequences, labels equal to the input
  sdnet synth --preview PNG [--from-tree DIR]
      a montage of sample frames with their skeletons (with --out: of the tree just written)

sensor profiles (--sensor-profile, any mode that renders; recorded in synth.json):
  default   the ordinary short-range depth sensor: noise, a few dropouts, ragged edges
  occluded  heavy missing depth (15% dropouts, 60% of silhouette pixels lost, more at grazing
            angles) and occluders, Poisson with mean 2 per frame: discs of radius 10-25 mm, half
            holes, half objects 10-40 mm in front of the hand, e.g.
            sdnet synth --poses test_seq_1.txt test_seq_2.txt --out DIR --sensor-profile occluded
  structured  a structured-light / active-stereo camera (RealSense-class): noise 1.5 mm at 300 mm
            growing with depth^2, projector shadows (holes left of nearer objects, 25 mm
            baseline), holes on oblique surfaces and dark patches, flying pixels between surfaces

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


def register(sub) -> None:
    p = sub.add_parser(
        "synth", help="render a synthetic depth-hand dataset in the ICVL format",
        description="Renders synthetic depth frames of a hand model (16 ICVL joints + shape) with a "
        "depth-sensor model, as a Beam job, and writes them in ICVL's on-disk format.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, help="output ICVL tree (written atomically)")
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
                   f"clutter; hand at 250-900 mm), see below (default {DEFAULT_SCENE_FRACTION})")
    p.add_argument("--test-scene-fraction", type=float, default=None, metavar="F",
                   help="share of test sequences that are scenes (default 0: the ICVL-like test split)")
    p.add_argument("--scene-sensor-profile", choices=tuple(SENSOR_PROFILES), default=None,
                   help=f"sensor profile of the scene frames (default {DEFAULT_SCENE_SENSOR}, or "
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
                   choices=("multi_processing", "multi_threading", "in_memory"),
                   help="DirectRunner running mode (default multi_processing)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_camera_arguments(p, "icvl: 320x240, f 241.42, mm; the frames are rendered and stored with it")
    p.add_argument("beam_args", nargs="*", help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.fsutil import check_output_dir

    if args.from_tree and not args.preview:
        raise SdnetError("--from-tree needs --preview PNG")
    if args.from_tree and args.sensor_profile is not None:
        raise SdnetError("--sensor-profile renders new frames; it does not apply to --from-tree")
    if args.from_tree and (args.scene_fraction is not None or args.test_scene_fraction is not None
                           or args.scene_sensor_profile is not None):
        raise SdnetError("--scene-fraction renders new frames; it does not apply to --from-tree")
    if args.preview_frames < 1:
        raise SdnetError(f"--preview-frames must be >= 1, got {args.preview_frames}")
    if args.workers is not None and args.workers < 1:
        raise SdnetError(f"--workers must be >= 1, got {args.workers}")
    bad = [a for a in args.beam_args if not a.startswith("--")]
    if bad:
        raise SdnetError(f"unexpected argument {bad[0]!r} (Beam options go after `--` and start with --)")
    if args.out is None:
        if args.poses or args.train_frames is not None or args.test_frames is not None:
            raise SdnetError("--out DIR is required")
        if not args.preview:
            raise SdnetError("nothing to do: give --out DIR (and frame counts), --poses or --preview")
        _preview(args, None)
        return 0
    if args.from_tree:
        raise SdnetError("--from-tree makes a preview of an existing tree; it cannot be combined with --out")
    check_output_dir(args.out, args.overwrite)
    if args.poses:
        if args.train_frames is not None or args.test_frames is not None or args.sequence_length is not None:
            raise SdnetError("--poses renders the given labels: --train-frames, --test-frames and "
                             "--sequence-length do not apply")
        if (args.scene_fraction is not None or args.test_scene_fraction is not None
                or args.scene_sensor_profile is not None):
            raise SdnetError("--poses renders the given labels alone: --scene-fraction, "
                             "--test-scene-fraction and --scene-sensor-profile do not apply")
        n = _run_poses(args)
    else:
        n = _run_synth(args)
    print(f"sdnet synth: wrote {n} frames to {args.out}", file=sys.stderr)
    if args.preview:
        _preview(args, args.out)
    return 0


def _config(args):
    from pipeline.config import SynthConfig

    kwargs = {"seed": args.seed, "sensor_profile": args.sensor_profile or "default",
              "scene_fraction": DEFAULT_SCENE_FRACTION if args.scene_fraction is None else args.scene_fraction,
              "scene_sensor_profile": args.scene_sensor_profile or (
                  None if args.sensor_profile is not None else DEFAULT_SCENE_SENSOR)}
    for key in ("train_frames", "test_frames", "sequence_length", "test_scene_fraction"):
        if getattr(args, key) is not None:
            kwargs[key] = getattr(args, key)
    kwargs.update(_camera_fields(args))
    try:
        return SynthConfig(**kwargs)
    except ValueError as e:
        msg = str(e).replace("_frames", "-frames").replace("sequence_length", "--sequence-length")
        raise SdnetError(msg.replace("test_scene_fraction", "--test-scene-fraction")
                         .replace("scene_fraction", "--scene-fraction")) from None


def _camera_from_args(args):
    from pipeline.camera import ICVL_INTRINSICS

    return camera_from_args(args, ICVL_INTRINSICS)


def _camera_fields(args) -> dict:
    """SynthConfig's camera fields from the camera options: a named camera unchanged is recorded by
    name; anything else by its intrinsics (camera 'custom' for --intrinsics FILE.json)."""
    from pipeline.camera import CAMERAS

    intr = _camera_from_args(args)
    name = args.camera or ("custom" if args.intrinsics is not None else "icvl")
    if name in CAMERAS and CAMERAS[name] == intr:
        return {"camera": name}
    return {"camera": name, "intrinsics": intr.to_dict()}


def _context(cfg, root: Path):
    from beam_jobs.synth_job import JobContext
    from pipeline.synth.sensor import sensor_for

    sensor = sensor_for(cfg.sensor_profile, **cfg.sensor_overrides())
    scene_sensor = None if cfg.scene_sensor_profile is None else sensor_for(cfg.scene_sensor_profile)
    return JobContext(root=str(root), intr=cfg.camera_intrinsics(), sensor=sensor, seed=cfg.seed,
                      scale_range=cfg.scale_range, bone_noise=cfg.bone_noise, scene_sensor=scene_sensor)


def _run_synth(args) -> int:
    from beam_jobs import synth_job
    from pipeline.fsutil import atomic_output_dir, write_json
    from pipeline.synth.frames import plan_sequences

    cfg = _config(args)
    specs = plan_sequences(cfg.train_frames, cfg.test_frames, cfg.sequence_length, cfg.scene_fraction,
                           cfg.test_scene_fraction)
    total = sum(s.frames for s in specs)
    with atomic_output_dir(args.out, args.overwrite) as tmp:
        ctx = _context(cfg, tmp)
        synth_job.run(ctx, sequences=specs, beam_args=args.beam_args, num_workers=args.workers,
                      running_mode=args.running_mode, progress_total=None if args.no_progress else total)
        write_json(tmp / "synth.json", synth_manifest(cfg, ctx, specs))
    return total


def synth_manifest(cfg, ctx, specs) -> dict:
    """``synth.json``: everything that determines the output bytes (no runner settings)."""
    import dataclasses

    from pipeline.config import to_dict
    from pipeline.skeleton import ICVL_SKELETON
    from pipeline.synth.poses import MotionModel
    from pipeline.synth.scene import SCENE_MOTION, SceneModel

    return {
        "generator": "sdnet synth",
        "config": to_dict(cfg),
        "intrinsics": ctx.intr.to_dict(),
        "sensor": dataclasses.asdict(ctx.sensor),
        "scene_sensor": dataclasses.asdict(ctx.scene_sensor or ctx.sensor),
        "motion": dataclasses.asdict(MotionModel()),
        "scene_motion": dataclasses.asdict(SCENE_MOTION),
        "scene": dataclasses.asdict(SceneModel()),
        "skeleton": ICVL_SKELETON.to_dict(),
        "depth_unit_mm": ctx.intr.depth_scale,
        "background": 32001 if ctx.intr.depth_scale == 1.0 else 0,
        "sequences": [{"split": s.split, "name": s.name, "frames": s.frames, "label_file": s.label_file,
                       "scene": s.scene} for s in specs],
    }


_TEST_NAME = re.compile(r"^test_seq_(\d+)\.txt$")


def load_pose_files(paths: list[Path], seed: int, intr) -> list:
    """Label files -> FrameSpecs for ``Testing/``; one clear SdnetError for any bad line or path."""
    import numpy as np

    from pipeline.camera import uvd_to_xyz
    from pipeline.icvl import read_label_file
    from pipeline.synth.frames import SPLIT_CODES, FrameSpec, shape_for_labels

    frames, names, seen_paths = [], set(), set()
    for k, path in enumerate(paths, start=1):
        m = _TEST_NAME.match(path.name)
        name = path.name if m else f"test_seq_{k}.txt"
        if name in names:
            raise SdnetError(f"{path}: two --poses files would both be written as Testing/{name}")
        names.add(name)
        records, _ = read_label_file(path, strict=True)
        for rec in records:
            where = f"{rec.source}:{rec.line}"
            rel = rec.path.replace("\\", "/")
            if rel.startswith("/") or ".." in rel.split("/") or not rel.endswith(".png"):
                raise SdnetError(f"{where}: image path {rec.path!r} must be a relative .png path inside Depth/")
            if rel in seen_paths:
                raise SdnetError(f"{where}: image path {rec.path!r} appears twice")
            seen_paths.add(rel)
            if (rec.uvd[:, 2] <= 0).any():
                raise SdnetError(f"{where}: joint depths must be positive (mm)")
        joints = uvd_to_xyz(np.stack([r.uvd for r in records]), intr)  # (T, J, 3)
        shape = shape_for_labels(seed, k, joints)
        code = SPLIT_CODES["poses"]
        frames += [FrameSpec(f"Testing/{name}", "Testing/Depth", r.path.replace("\\", "/"), i, joints[i],
                             shape, (code, k, i, 2), uvd=r.uvd) for i, r in enumerate(records)]
    return frames


def _run_poses(args) -> int:
    import dataclasses

    from beam_jobs import synth_job
    from pipeline.config import SynthConfig, to_dict
    from pipeline.fsutil import atomic_output_dir, write_json

    try:
        base = SynthConfig(seed=args.seed, sensor_profile=args.sensor_profile or "default", **_camera_fields(args))
    except ValueError as e:
        raise SdnetError(str(e)) from None
    ctx = _context(base, args.out)
    frames = load_pose_files(list(args.poses), args.seed, ctx.intr)
    with atomic_output_dir(args.out, args.overwrite) as tmp:
        ctx = _context(base, tmp)
        synth_job.run(ctx, frames=frames, beam_args=args.beam_args, num_workers=args.workers,
                      running_mode=args.running_mode, progress_total=None if args.no_progress else len(frames))
        write_json(tmp / "synth.json", {
            "generator": "sdnet synth --poses",
            "poses": [str(p) for p in args.poses],
            "seed": args.seed,
            "sensor_profile": base.sensor_profile,
            "intrinsics": ctx.intr.to_dict(),
            "sensor": dataclasses.asdict(ctx.sensor),
            "hand_shape_config": {k: v for k, v in to_dict(base).items()
                                  if k not in ("train_frames", "test_frames", "sequence_length")},
        })
    return len(frames)


def _preview(args, tree: Path | None) -> None:
    from pipeline.fsutil import atomic_write_bytes
    from pipeline.synth.preview import montage_png, synthetic_preview_frames, tree_preview_frames

    source = args.from_tree or tree
    if source is not None:
        camera_given = any(getattr(args, k) is not None for k in ("camera", "intrinsics", "depth_scale"))
        depth_scale = _camera_from_args(args).depth_scale if args.from_tree and camera_given else None
        frames = tree_preview_frames(source, args.preview_frames, depth_scale)  # None: the tree's synth.json
    else:
        cfg = _config(args)
        ctx = _context(cfg, Path("."))
        frames = synthetic_preview_frames(cfg.seed, args.preview_frames, ctx.intr, ctx.sensor, cfg.scene_fraction,
                                          ctx.scene_sensor)
    if not frames:
        raise SdnetError(f"{source}: no frames to preview")
    atomic_write_bytes(args.preview, montage_png(frames, whole=args.preview_whole))
    print(f"sdnet synth: preview of {len(frames)} frames in {args.preview}", file=sys.stderr)
