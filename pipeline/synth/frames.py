"""Per-frame and per-sequence work of the synthetic generator, as pure functions (no Beam, no I/O).

Seeds: every random draw comes from ``numpy.random.SeedSequence(seed, spawn_key=(split, sequence,
...))``, so results do not depend on the order or the process in which frames are made.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from pipeline.camera import Intrinsics, xyz_to_uvd
from pipeline.icvl import format_label_line
from pipeline.skeleton import ICVL_SKELETON
from pipeline.synth.handmodel import HandShape, build_primitives, sample_hand_shape
from pipeline.synth.poses import SCENE_VIEW, MotionModel, Subject, ViewModel, sample_sequence, sample_subject
from pipeline.synth.render import render_depth
from pipeline.synth.scene import SCENE_MOTION, Scene, render_scene, sample_scene
from pipeline.synth.sensor import SensorModel, apply_sensor_mm, paint_speckles, to_depth_units

SPLIT_CODES = {"train": 0, "test": 1, "poses": 2, "preview": 3, "subjects": 4}
# The last seed key of each stream of a sequence (its subject, poses, a frame's sensor and scene).
STREAM_SUBJECT, STREAM_POSES, STREAM_SENSOR, STREAM_SCENE = 0, 1, 2, 3
_BONE_MEAN = np.array([m for m, _ in ICVL_SKELETON.bone_length_mm])  # (15,) mm


def rng_for(seed: int, *key: int) -> np.random.Generator:
    """A generator for the stream (seed, key...), independent of every other key."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=tuple(int(k) for k in key)))


@dataclass(frozen=True)
class SequenceSpec:
    """One sequence to make: split ('train'/'test'), its index within the split, its folder name
    (relative to the split's Depth folder), the number of frames and the label file it goes to.
    A scene sequence (``scene``) has its hand at 250-900 mm in a scene (``pipeline.synth.scene``).
    ``subject``: the named subject all its frames show (an NYU tree's, ``pipeline.synth.nyu_mode``);
    '' = a new subject of its own (an ICVL tree's)."""

    split: str
    index: int
    name: str
    frames: int
    label_file: str  # relative to the output root, e.g. 'Training/labels.txt'
    depth_dir: str  # relative to the output root, e.g. 'Training/Depth'
    scene: bool = False
    subject: str = ""


@dataclass(frozen=True)
class FrameSpec:
    """One frame to render: where it goes, its joints (16, 3) camera xyz mm, the hand shape and
    the key of its sensor-noise stream."""

    label_file: str
    depth_dir: str
    rel_path: str  # relative to depth_dir, e.g. 'synth_0003/image_0042.png'
    order: int  # position of the line in its label file
    joints: np.ndarray
    shape: HandShape
    noise_key: tuple[int, ...]
    uvd: np.ndarray | None = None  # given labels (16, 3) to write verbatim, e.g. from --poses
    scene_key: tuple[int, ...] | None = None  # key of its scene's stream; None = the hand alone


def subject_for(seed: int, split: str, index: int, scale_range: float, bone_noise: float) -> Subject:
    """The subject of sequence ``index`` of ``split``: train and test draw from disjoint streams,
    so test hands are new shapes."""
    return sample_subject(rng_for(seed, SPLIT_CODES[split], index, STREAM_SUBJECT), scale_range, bone_noise)


def sequence_view(scene: bool, back_fraction: float = 0.0, scene_back_fraction: float = 0.5) -> ViewModel:
    """The orientation prior of a sequence: a plain one ICVL's (``ViewModel()``: the side ICVL shows,
    yaw within +-75), a share ``back_fraction`` of them turned around; a scene one a user's camera's
    (``SCENE_VIEW``: yaw within +-90 of either side), a share ``scene_back_fraction`` turned around."""
    if scene:
        return dataclasses.replace(SCENE_VIEW, back_p=scene_back_fraction)
    return ViewModel(back_p=back_fraction)


def sequence_frames(spec: SequenceSpec, seed: int, intr: Intrinsics, order_offset: int,
                    scale_range: float = 0.15, bone_noise: float = 0.04,
                    motion: MotionModel = MotionModel(), back_fraction: float = 0.0,
                    scene_back_fraction: float = 0.5) -> list[FrameSpec]:
    """Pose generation for one sequence: its FrameSpecs in frame order. A scene sequence moves
    its hand with ``SCENE_MOTION`` (palm at 250-900 mm) instead of ``motion``; its views are
    ``sequence_view``'s."""
    subject = subject_for(seed, spec.split, spec.index, scale_range, bone_noise)
    view = sequence_view(spec.scene, back_fraction, scene_back_fraction)
    joints = sample_sequence(rng_for(seed, SPLIT_CODES[spec.split], spec.index, STREAM_POSES), subject,
                             spec.frames, intr, SCENE_MOTION if spec.scene else motion, view)  # (T, J, 3)
    code = SPLIT_CODES[spec.split]
    return [FrameSpec(spec.label_file, spec.depth_dir, f"{spec.name}/image_{i:04d}.png",
                      order_offset + i, joints[i], subject.shape, (code, spec.index, i, STREAM_SENSOR),
                      scene_key=(code, spec.index, i, STREAM_SCENE) if spec.scene else None)
            for i in range(spec.frames)]


def frame_scene(frame: FrameSpec, seed: int, intr: Intrinsics) -> Scene | None:
    """The scene of a frame, drawn from its own seed key (None for a hand alone)."""
    if frame.scene_key is None:
        return None
    return sample_scene(rng_for(seed, *frame.scene_key), frame.joints, frame.shape, intr)


def render_frame_mm(joints: np.ndarray, shape: HandShape, intr: Intrinsics, sensor: SensorModel,
                    rng: np.random.Generator, scene: Scene | None = None) -> np.ndarray:
    """Measured depth (H, W) float mm, inf = no depth, of a hand with joints (16, 3) camera xyz mm,
    alone or in ``scene`` (its speckles, ``Scene.speckles``, painted over the measured depth after
    every sensor effect: ``paint_speckles``)."""
    prims = build_primitives(joints, shape)
    focal = 0.5 * (intr.fx + intr.fy)
    if scene is None:
        return apply_sensor_mm(render_depth(prims, intr)[0], rng, sensor, focal)
    depth, _, surface = render_scene(prims, scene, intr)
    measured = apply_sensor_mm(depth, rng, sensor, focal, surface)
    if scene.speckles is not None:
        measured = paint_speckles(measured, *scene.speckles)
    return measured


def render_frame(joints: np.ndarray, shape: HandShape, intr: Intrinsics, sensor: SensorModel,
                 rng: np.random.Generator, scene: Scene | None = None) -> np.ndarray:
    """Depth frame (H, W) uint16 as the camera ``intr`` stores it (``to_depth_units``: whole mm with
    background 32001 for a 1-mm camera such as ICVL's; else units of intr.depth_scale mm, 0 = no
    depth) of a hand with joints (16, 3) camera xyz mm, alone or in ``scene``."""
    return to_depth_units(render_frame_mm(joints, shape, intr, sensor, rng, scene), intr.depth_scale)


def label_line(frame: FrameSpec, intr: Intrinsics) -> str:
    """The ICVL label line of a frame: its given uvd, else its joints (16, 3) xyz mm projected."""
    uvd = frame.uvd if frame.uvd is not None else xyz_to_uvd(frame.joints, intr)
    return format_label_line(frame.rel_path, uvd)


def shape_for_labels(seed: int, file_index: int, joints: np.ndarray) -> HandShape:
    """A hand shape for labelled poses joints (T, 16, 3) mm: a random subject's shape, scaled
    by the labelled hand's size (median bone length ratio to the ICVL means)."""
    ratio = ICVL_SKELETON.bone_lengths(joints) / _BONE_MEAN  # (T, 15)
    scale = float(np.clip(np.median(ratio), 0.6, 1.6))
    return sample_hand_shape(rng_for(seed, SPLIT_CODES["poses"], file_index, STREAM_SUBJECT), scale)


def split_test_frames(total: int, proportions: tuple[int, ...] = (702, 894)) -> list[int]:
    """Frames per test sequence, in ICVL's proportions, summing to ``total``."""
    weights = np.asarray(proportions, dtype=np.float64)
    sizes = np.floor(total * weights / weights.sum()).astype(int)
    sizes[-1] += total - sizes.sum()
    return [int(s) for s in sizes]


def is_scene(position: int, fraction: float) -> bool:
    """Whether the sequence at ``position`` (0, 1, ...) within its split is a scene, for a share
    ``fraction`` of scenes spread evenly: floor((i+1) f) > floor(i f), so any prefix of n sequences
    holds floor(n f) scenes."""
    return int(np.floor((position + 1) * fraction + 1e-9)) > int(np.floor(position * fraction + 1e-9))


def plan_sequences(train_frames: int, test_frames: int, sequence_length: int,
                   scene_fraction: float = 0.0, test_scene_fraction: float = 0.0) -> list[SequenceSpec]:
    """The sequences of a synthetic ICVL tree: training sequences of ``sequence_length`` frames
    (the last one shorter), then test_seq_1 and test_seq_2 (empty ones are left out). Whole
    sequences are scenes, a share ``scene_fraction`` of the training ones and ``test_scene_fraction``
    of the test ones (``is_scene``)."""
    specs = []
    for i, start in enumerate(range(0, train_frames, sequence_length)):
        n = min(sequence_length, train_frames - start)
        specs.append(SequenceSpec("train", i, f"synth_{i:04d}", n, "Training/labels.txt",
                                  "Training/Depth", scene=is_scene(i, scene_fraction)))
    for k, n in enumerate(split_test_frames(test_frames), start=1):
        if n > 0:
            specs.append(SequenceSpec("test", k, f"test_seq_{k}", n, f"Testing/test_seq_{k}.txt",
                                      "Testing/Depth", scene=is_scene(k - 1, test_scene_fraction)))
    return specs
