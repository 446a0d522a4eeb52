"""Driver of ``sdnet synth``: a synthetic ICVL or NYU tree, a tree of given poses, or a montage of frames.

Output layout of a tree (written to a temporary directory, renamed into place when complete)::

    OUT/Training/labels.txt, OUT/Training/Depth/<seq>/image_NNNN.png
    OUT/Testing/test_seq_1.txt, test_seq_2.txt, OUT/Testing/Depth/test_seq_1|2/image_NNNN.png
    OUT/synth.json          everything that determines the bytes (config, camera, sensor, motion)

or, with ``SynthConfig.dataset`` 'nyu' (``pipeline.synth.nyu_mode``, format ``pipeline.nyu_format``)::

    OUT/train/depth_1_NNNNNNN.png, OUT/train/joint_data.mat     subject 1
    OUT/test/depth_1_NNNNNNN.png, OUT/test/joint_data.mat       subject 1, then subject 2
    OUT/synth.json          as above, plus the subjects' frame ranges and the NYU mode's values

Label lines are ICVL's: image path then 16 joints as (u px, v px, d mm) in the camera's intrinsics.
PNGs store depth in the camera's unit (value = round(mm / depth_scale)); no depth is 32001 in a
1-mm (ICVL) tree and 0 otherwise. The same arguments and seed give the same bytes whatever the Beam
runner or its parallelism.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from beam_jobs import synth_job
from beam_jobs.synth_job import JobContext
from pipeline import nyu_format
from pipeline.camera import CAMERAS, Intrinsics, uvd_to_xyz
from pipeline.config import RUNNING_MODES, ConfigError, SynthConfig, to_dict
from pipeline.errors import SdnetError
from pipeline.fsutil import atomic_output_dir, atomic_write_bytes, check_output_dir, write_json
from pipeline.icvl import read_label_file
from pipeline.skeleton import ICVL_SKELETON
from pipeline.synth import MANIFEST, POSES_GENERATOR, SYNTH_GENERATOR, nyu_mode
from pipeline.synth.frames import SPLIT_CODES, FrameSpec, plan_sequences, shape_for_labels
from pipeline.synth.poses import MotionModel
from pipeline.synth.preview import montage_png, synthetic_preview_frames, tree_preview_frames
from pipeline.synth.scene import SCENE_MOTION, SceneModel
from pipeline.synth.sensor import sensor_for

# The `sdnet synth` option that sets each SynthConfig field (errors name the option, never by
# rewriting a message).
OPTION_FLAGS = {"dataset": "--dataset", "train_frames": "--train-frames", "test_frames": "--test-frames",
                "seed": "--seed", "sequence_length": "--sequence-length", "sensor_profile": "--sensor-profile",
                "scene_fraction": "--scene-fraction", "test_scene_fraction": "--test-scene-fraction",
                "scene_sensor_profile": "--scene-sensor-profile", "camera": "--camera", "intrinsics": "--intrinsics",
                "back_fraction": "--back-fraction", "scene_back_fraction": "--scene-back-fraction"}

_TEST_NAME = re.compile(r"^test_seq_(\d+)\.txt$")


@dataclasses.dataclass(frozen=True)
class BeamOptions:
    """How the Beam job runs (never changes the output bytes): extra pipeline options (``--key=value``),
    DirectRunner workers (None: one per core) and running mode, and whether to draw a progress bar."""

    beam_args: tuple = ()
    workers: int | None = None
    running_mode: str = "multi_processing"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise SdnetError(f"--workers must be >= 1, got {self.workers}")
        if self.running_mode not in RUNNING_MODES:
            raise SdnetError(f"running mode must be one of {', '.join(RUNNING_MODES)}, got {self.running_mode!r}")
        bad = [a for a in self.beam_args if not a.startswith("--")]
        if bad:
            raise SdnetError(f"unexpected argument {bad[0]!r} (Beam options go after `--` and start with --)")


class OptionError(SdnetError):
    """Values of ``sdnet synth`` options that SynthConfig refuses: ``fields`` are the SynthConfig fields
    at fault, ``flags`` the options that set them (``OPTION_FLAGS``), ``reason`` SynthConfig's words."""

    def __init__(self, fields: Sequence[str], reason: str):
        self.fields = tuple(fields)
        self.flags = tuple(OPTION_FLAGS.get(f, f) for f in self.fields)
        self.reason = reason
        super().__init__(f"{', '.join(self.flags)}: {reason}" if self.flags else reason)


def config_from_options(options: Mapping, derived: Mapping | None = None) -> SynthConfig:
    """SynthConfig(**derived, **options), ``options`` being the fields the user gave; OptionError naming
    the options of the fields SynthConfig's checks name (``ConfigError.fields``) when it refuses them."""
    try:
        return SynthConfig(**{**dict(derived or {}), **dict(options)})
    except ConfigError as e:
        raise OptionError(e.fields, str(e)) from None


def camera_fields(camera: str | None = None, intrinsics: Intrinsics | None = None,
                  from_file: bool = False) -> dict:
    """SynthConfig's camera fields: a named camera unchanged is recorded by name; anything else by its
    intrinsics, named after the camera it started from ('custom' for a camera file, ``from_file``).
    ``intrinsics`` None: the named camera (``camera`` None: icvl)."""
    name = camera or ("custom" if from_file else "icvl")
    if intrinsics is None:
        if name not in CAMERAS:
            raise SdnetError(f"unknown camera {name!r} (known: {', '.join(CAMERAS)})")
        intrinsics = CAMERAS[name]
    if name in CAMERAS and CAMERAS[name] == intrinsics:
        return {"camera": name}
    return {"camera": name, "intrinsics": intrinsics.to_dict()}


def synth_config(*, train_frames: int | None = None, test_frames: int | None = None, seed: int = 0,
                 sequence_length: int | None = None, sensor_profile: str | None = None,
                 scene_fraction: float | None = None, test_scene_fraction: float | None = None,
                 scene_sensor_profile: str | None = None, camera: dict | None = None,
                 dataset: str | None = None, back_fraction: float | None = None,
                 scene_back_fraction: float | None = None) -> SynthConfig:
    """The SynthConfig of a tree; None = SynthConfig's default. The scene sensor is SynthConfig's default
    unless ``sensor_profile`` is given (then the scenes use that one). ``camera``: ``camera_fields``.
    ``dataset`` 'nyu': the fields an NYU tree fixes (``nyu_mode.config_fields``: NYU's camera, all
    scenes, the kinect sensor) under the given ones. OptionError naming the option(s) on a bad value."""
    given = {"dataset": dataset, "seed": seed, "train_frames": train_frames, "test_frames": test_frames,
             "sequence_length": sequence_length, "sensor_profile": sensor_profile,
             "scene_fraction": scene_fraction, "test_scene_fraction": test_scene_fraction,
             "scene_sensor_profile": scene_sensor_profile, "back_fraction": back_fraction,
             "scene_back_fraction": scene_back_fraction, **(camera or {})}
    derived = nyu_mode.config_fields() if dataset == nyu_mode.DATASET else {}
    if sensor_profile is not None:
        derived["scene_sensor_profile"] = None
    return config_from_options({k: v for k, v in given.items() if v is not None}, derived)


def job_context(cfg: SynthConfig, root: Path):
    """The synth job's context (camera, sensors, generator knobs) of ``cfg``, writing under ``root``."""
    sensor = sensor_for(cfg.sensor_profile, **cfg.sensor_overrides())
    scene_sensor = None if cfg.scene_sensor_profile is None else sensor_for(cfg.scene_sensor_profile)
    return JobContext(root=str(root), intr=cfg.camera_intrinsics(), sensor=sensor, seed=cfg.seed,
                      scale_range=cfg.scale_range, bone_noise=cfg.bone_noise, scene_sensor=scene_sensor,
                      dataset=cfg.dataset, back_fraction=cfg.back_fraction,
                      scene_back_fraction=cfg.scene_back_fraction)


def plan_tree(cfg: SynthConfig) -> list:
    """The sequences of the tree of ``cfg``, in label order (ICVL's or NYU's layout). OptionError for
    an NYU config whose camera is not NYU's."""
    if cfg.dataset == nyu_mode.DATASET:
        if cfg.camera_intrinsics() != nyu_format.INTRINSICS:
            raise OptionError(("camera",), "an NYU tree is rendered with NYU's camera (640x480, "
                              f"f {nyu_format.INTRINSICS.fx}, {nyu_format.INTRINSICS.fy})")
        return nyu_mode.plan_nyu_sequences(cfg.train_frames, cfg.test_frames, cfg.sequence_length)
    return plan_sequences(cfg.train_frames, cfg.test_frames, cfg.sequence_length, cfg.scene_fraction,
                          cfg.test_scene_fraction)


def build_synth_tree(out: Path, cfg: SynthConfig, beam: BeamOptions = BeamOptions(),
                     overwrite: bool = False) -> int:
    """Render the tree of ``cfg`` (``synth_config``) into ``out`` (atomically; a non-empty ``out``
    only with ``overwrite``); returns the number of frames written."""
    out = Path(out)
    check_output_dir(out, overwrite)
    specs = plan_tree(cfg)
    total = sum(s.frames for s in specs)
    with atomic_output_dir(out, overwrite) as tmp:
        ctx = job_context(cfg, tmp)
        synth_job.run(ctx, sequences=specs, beam_args=list(beam.beam_args), num_workers=beam.workers,
                      running_mode=beam.running_mode, progress_total=total if beam.progress else None)
        write_json(tmp / MANIFEST, synth_manifest(cfg, ctx, specs))
    return total


def synth_manifest(cfg: SynthConfig, ctx, specs) -> dict:
    """``synth.json``: everything that determines the output bytes (no runner settings); for an NYU
    tree its motion and the NYU mode's record (``nyu_mode.tree_record``: subjects and their ranges)."""
    common = {"generator": SYNTH_GENERATOR, "config": to_dict(cfg), "intrinsics": ctx.intr.to_dict(),
              "scene": dataclasses.asdict(SceneModel()), "depth_unit_mm": ctx.intr.depth_scale}
    sequences = [{"split": s.split, "name": s.name, "frames": s.frames, "label_file": s.label_file,
                  "scene": s.scene, **({"subject": s.subject} if s.subject else {})} for s in specs]
    if cfg.dataset == nyu_mode.DATASET:
        return {**common, "dataset": cfg.dataset, "sensor": dataclasses.asdict(ctx.scene_sensor or ctx.sensor),
                "motion": dataclasses.asdict(nyu_mode.NYU_MOTION), "background": 0,
                **nyu_mode.tree_record(cfg.train_frames, cfg.test_frames), "sequences": sequences}
    return {
        **common,
        "sensor": dataclasses.asdict(ctx.sensor),
        "scene_sensor": dataclasses.asdict(ctx.scene_sensor or ctx.sensor),
        "motion": dataclasses.asdict(MotionModel()),
        "scene_motion": dataclasses.asdict(SCENE_MOTION),
        "skeleton": ICVL_SKELETON.to_dict(),
        "background": 32001 if ctx.intr.depth_scale == 1.0 else 0,
        "sequences": sequences,
    }


def load_pose_files(paths: Sequence[Path], seed: int, intr: Intrinsics) -> list:
    """ICVL label files (uvd in ``intr``) -> FrameSpecs for ``Testing/`` (a file named test_seq_K.txt
    keeps its name, the k-th other one becomes test_seq_k.txt); one SdnetError for any bad line or path."""
    frames, names, seen_paths = [], set(), set()
    for k, path in enumerate(paths, start=1):
        path = Path(path)
        m = _TEST_NAME.match(path.name)
        name = path.name if m else f"test_seq_{k}.txt"
        if name in names:
            raise SdnetError(f"{path}: two --poses files would both be written as Testing/{name}")
        names.add(name)
        records, _ = read_label_file(path, ICVL_SKELETON.num_joints, strict=True)
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
        joints = uvd_to_xyz(np.stack([r.uvd for r in records]), intr)  # (T, J, 3) camera frame, mm
        shape = shape_for_labels(seed, k, joints)
        code = SPLIT_CODES["poses"]
        frames += [FrameSpec(f"Testing/{name}", "Testing/Depth", r.path.replace("\\", "/"), i, joints[i],
                             shape, (code, k, i, 2), uvd=r.uvd) for i, r in enumerate(records)]
    return frames


def build_pose_tree(out: Path, poses: Sequence[Path], *, seed: int = 0, sensor_profile: str | None = None,
                    camera: dict | None = None, beam: BeamOptions = BeamOptions(),
                    overwrite: bool = False) -> int:
    """Render the poses of ICVL label files ``poses`` as test sequences of a tree in ``out`` (labels
    equal to the input); ``camera``: ``camera_fields``. Returns the number of frames written."""
    out = Path(out)
    check_output_dir(out, overwrite)
    given = {"seed": seed, "sensor_profile": sensor_profile, **(camera or {})}
    base = config_from_options({k: v for k, v in given.items() if v is not None})
    ctx = job_context(base, out)
    frames = load_pose_files(list(poses), seed, ctx.intr)
    with atomic_output_dir(out, overwrite) as tmp:
        ctx = job_context(base, tmp)
        synth_job.run(ctx, frames=frames, beam_args=list(beam.beam_args), num_workers=beam.workers,
                      running_mode=beam.running_mode, progress_total=len(frames) if beam.progress else None)
        write_json(tmp / MANIFEST, {
            "generator": POSES_GENERATOR,
            "poses": [str(p) for p in poses],
            "seed": seed,
            "sensor_profile": base.sensor_profile,
            "intrinsics": ctx.intr.to_dict(),
            "sensor": dataclasses.asdict(ctx.sensor),
            "hand_shape_config": {k: v for k, v in to_dict(base).items()
                                  if k not in ("train_frames", "test_frames", "sequence_length")},
        })
    return len(frames)


def write_preview(png: Path, *, tree: Path | None = None, cfg: SynthConfig | None = None, frames: int = 18,
                  whole: bool = False, depth_scale: float | None = None) -> int:
    """A montage PNG of ``frames`` sample frames with their skeletons: from the ICVL ``tree`` (real or
    synthetic; ``depth_scale`` mm per unit, None: the tree's synth.json, else 1) or newly rendered
    from ``cfg``; crops around the hand, or whole frames with ``whole``. Returns the frames shown."""
    if frames < 1:
        raise SdnetError(f"--preview-frames must be >= 1, got {frames}")
    if tree is not None:
        shown = tree_preview_frames(tree, frames, depth_scale)
    else:
        cfg = cfg or synth_config()
        ctx = job_context(cfg, Path("."))
        shown = synthetic_preview_frames(cfg.seed, frames, ctx.intr, ctx.sensor, cfg.scene_fraction,
                                         ctx.scene_sensor)
    if not shown:
        raise SdnetError(f"{tree}: no frames to preview")
    atomic_write_bytes(png, montage_png(shown, whole=whole))
    return len(shown)
