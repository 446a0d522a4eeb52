"""The generator's NYU mode (``sdnet synth --dataset nyu``): NYU Hand's hands, views, distances and
subjects, and the per-frame work of an NYU tree (pure functions: no Beam, no I/O).

Frames and units: camera xyz in mm (x right, y DOWN, z forward, ``pipeline/camera.py``) unless said
otherwise; labels are NYU's 36 joints (``pipeline.synth.nyu_joints``) as uvd [px, px, mm] in
``nyu_format.INTRINSICS`` (``nyu_format.xyz_to_uvd`` of their NYU xyz, y up).

What it makes, against NYU's facts (DESIGN.md, "Facts about NYU"; measured on NYU's test labels):

* **Proportions** (``NYU_PROPORTIONS``). The model's finger joints are root (the MCP), mid (the PIP,
  where the distal bone bends) and tip, and its distal bone is straight (no DIP). NYU's labelled
  "mid" is the PIP too, so NYU's tip-mid spans the middle and distal phalanges and is the model's
  mid -> tip bone itself (``nyu_label_joints`` puts NYU's tips and mids on the model's): those bones
  are NYU's tip-mid means (pinky 36.6, ring 44.7, middle 49.7, index 45.5 mm; ICVL's are 18-20).
  The thumb's tip, mid and root labels are the model's thumb joints: mid -> tip 21.0, root -> mid
  40.7, palm -> root 62.7 mm. NYU's two wrist points lie ``nyu_joints.WRIST_SPREAD`` wrist radii
  either side of the wrist centre, ``wrist_back_mm`` behind the palm joint: a wrist 70 mm back with
  a radius of 26 mm gives palm-wrist sqrt(70^2 + 15.6^2) = 71.7 mm (NYU's mean) and the two points
  31.2 mm apart (NYU's too). The heel line moves back with the wrist (44 mm: ICVL's 30 x 70 / 48),
  the forearm is 30 mm in radius. The bones NYU does not label (palm -> finger roots, root -> mid
  of the four fingers) are ICVL's means scaled per finger (``_PALM_TO_PIP_SCALE``: index 0.84,
  middle 0.88, ring 0.98, pinky 1.07) so that the palm-mid distances between NYU's evaluated joints
  come out near NYU's means (``NYU_PALM_MID_MM``; ICVL's bones made them 20% too long for the index
  finger); the straight fingers' palm-mid then also matches the 95th percentiles of NYU's (83, 82,
  77, 75 mm). The thumb root points 104 degrees from F (ICVL's model: 118) so that, with its longer
  bone, its distances to the wrist points come out near NYU's (73.5 mm radial, 91.1 mm ulnar).
* **Chirality**: the model's mirror image (``HandShape.mirrored``). NYU's fingers flex toward +n,
  n = (index - palm) x (pinky - palm) (every flexed finger of NYU's test labels; ICVL's flex toward
  -n, as the unmirrored model does), so n_z < 0 is the palm toward the camera.
* **Views** (``NYU_VIEW``): the ICVL generator's orientation prior, with a share ``back_p`` 0.33 of
  sequences turned around (the back toward the camera; the palm then faces the camera in 69% of the
  frames, mean of seeds 0-5, a few sequences' wide tilts aside): NYU shows the palm (n_z < 0) in 69%
  of its test frames. Being per sequence, the share varies by about 0.46 / sqrt(sequences).
* **Distances**: a sequence's palm joint stays within +-``NYU_DEPTH_BAND_MM`` of its centre, which is
  triangular over ``NYU_PALM_DEPTH_MM`` (650-1100 mm, NYU's range) with its mode at
  ``NYU_DEPTH_MODE_MM``, so the palm depth's median is about 925 mm (NYU's 937). NYU's two test
  subjects differ in distance (medians 744 and 979 mm); here both share one distribution.
* **Subjects**: two people, ``nyu_format.TEST_SUBJECTS``'s. Subject 1 makes every training frame and
  the test frames first, subject 2 (another hand shape: its own draw of every shape parameter) the
  rest of the test split, from the boundary at NYU's share (2440 of 8252) of the test frames
  (``subject_ranges``). Their sizes are NYU's: ``NYU_SUBJECT_SCALES`` times the proportions (on
  NYU's test labels subject 1's bones are 1.14 times the all-frame means, subject 2's 0.94, median
  over the bones above); every bone, palm -> wrist included, then varies by the config's
  ``bone_noise``.
* **Scenes**: every frame is a scene (``pipeline.synth.scene``: the forearm out of the image, the body
  behind, clutter), seen by the ``kinect`` sensor profile unless another is asked for.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from pipeline import nyu_format
from pipeline.camera import Intrinsics
from pipeline.skeleton import ICVL_SKELETON
from pipeline.synth.frames import (SPLIT_CODES, STREAM_POSES, STREAM_SCENE, STREAM_SENSOR, STREAM_SUBJECT,
                                   FrameSpec, SequenceSpec, frame_scene, render_frame_mm, rng_for)
from pipeline.synth.handmodel import HandShape
from pipeline.synth.nyu_joints import WRIST_SPREAD, nyu_label_joints
from pipeline.synth.poses import MotionModel, Proportions, Subject, ViewModel, sample_sequence, sample_subject
from pipeline.synth.sensor import SensorModel, to_zero_background_units

DATASET = "nyu"
SENSOR_PROFILE = "kinect"  # NYU Hand's camera, a Kinect v1 (``pipeline.synth.profiles``)
STREAM_BAND = 4  # seed key of a sequence's depth band (after frames.STREAM_*)

# NYU's label bones (DESIGN.md): (name, label joint a, label joint b, mean mm on NYU's test labels).
NYU_LABEL_BONES_MM = (
    ("pinky tip-mid", 0, 3, 36.6), ("ring tip-mid", 6, 9, 44.7), ("middle tip-mid", 12, 15, 49.7),
    ("index tip-mid", 18, 21, 45.5), ("thumb tip-mid", 24, 25, 21.0), ("thumb mid-root", 25, 27, 40.7),
    ("palm-wrist (ulnar)", 32, 30, 71.7), ("palm-wrist (radial)", 32, 31, 71.7),
    ("palm-thumb root", 32, 27, 62.7),
)
# NYU's mean palm-mid distances (mm, test labels; between evaluated joints, not bones of its model).
NYU_PALM_MID_MM = {"index": 70.6, "middle": 70.3, "ring": 64.8, "pinky": 63.2}
# The model's bone (by its child joint) that each NYU label bone is; palm-wrist is the shape's wrist.
_MODEL_BONE = {"pinky tip-mid": "pinky_tip", "ring tip-mid": "ring_tip", "middle tip-mid": "middle_tip",
               "index tip-mid": "index_tip", "thumb tip-mid": "thumb_tip", "thumb mid-root": "thumb_mid",
               "palm-thumb root": "thumb_root"}
_PALM_WRIST_MM = dict((name, mm) for name, _, _, mm in NYU_LABEL_BONES_MM)["palm-wrist (ulnar)"]
WRIST_RADIUS_MM = 26.0  # NYU's wrist points 31.2 mm apart: 2 x WRIST_SPREAD x 26
# ICVL's palm -> root and root -> mid of each finger scaled by these, so that the generated palm-mid
# distances (under the generator's pose prior) come out near NYU_PALM_MID_MM.
_PALM_TO_PIP_SCALE = {"index": 0.84, "middle": 0.88, "ring": 0.98, "pinky": 1.07}
THUMB_ROOT_ANGLE_DEG = 104.0


def nyu_bone_mm() -> tuple[float, ...]:
    """The model's mean bone lengths (15,) mm, ``ICVL_SKELETON.bones`` order, for NYU's labels:
    NYU's mean (``NYU_LABEL_BONES_MM``) where a label bone is a model bone (``_MODEL_BONE``), ICVL's
    palm -> root and root -> mid of the fingers scaled by ``_PALM_TO_PIP_SCALE``."""
    out = list(Proportions().bone_mm)
    bone = {name: ICVL_SKELETON.bone_index(j) for j, name in enumerate(ICVL_SKELETON.joint_names) if j}
    for finger, scale in _PALM_TO_PIP_SCALE.items():
        for joint in ("root", "mid"):
            out[bone[f"{finger}_{joint}"]] *= scale
    for name, _, _, mm in NYU_LABEL_BONES_MM:
        if name in _MODEL_BONE:
            out[bone[_MODEL_BONE[name]]] = mm
    return tuple(out)


def nyu_hand_shape() -> HandShape:
    """The average NYU hand shape: mirrored; the wrist ``WRIST_RADIUS_MM`` in radius and as far
    behind the palm joint as puts NYU's wrist points (``WRIST_SPREAD`` radii to either side) at
    NYU's mean palm-wrist distance (70.0 mm for 71.7); the palm heel moved back in proportion, a
    forearm of 30 mm radius."""
    base = HandShape()
    wrist_back = float(np.sqrt(_PALM_WRIST_MM ** 2 - (WRIST_SPREAD * WRIST_RADIUS_MM) ** 2))
    return dataclasses.replace(base, wrist_back_mm=wrist_back, wrist_radius_mm=WRIST_RADIUS_MM,
                               palm_heel_back_mm=base.palm_heel_back_mm * wrist_back / base.wrist_back_mm,
                               forearm_radius_mm=30.0, mirrored=True)


NYU_PROPORTIONS = Proportions(
    bone_mm=nyu_bone_mm(),
    root_angle_deg=(THUMB_ROOT_ANGLE_DEG,) + Proportions().root_angle_deg[1:],
    shape=nyu_hand_shape())
NYU_SUBJECT_SCALES = {"subject_1": 1.14, "subject_2": 0.94}
NYU_VIEW = ViewModel(back_p=0.33)
NYU_PALM_DEPTH_MM = (650.0, 1100.0)
NYU_DEPTH_MODE_MM = 1020.0
NYU_DEPTH_BAND_MM = 80.0
# The ICVL generator's dynamics, at NYU's distances: keyframe moves of 28 px at 588 px focal length and
# about 940 mm are about ICVL's 35 px at 241 px and 300 mm (45 mm). The model's joints keep 60 px from
# the image border, so that NYU's wrist points (70 mm behind the palm, up to 55 px beyond the model's
# joints at 650 mm) and every other label joint project inside the image.
NYU_MOTION = MotionModel(depth_range_mm=NYU_PALM_DEPTH_MM, joint_depth_mm=(500.0, 1200.0), move_px=28.0,
                         margin_px=60.0)


def config_fields() -> dict:
    """The SynthConfig fields an NYU tree fixes (``pipeline.build_synth.synth_config``): NYU's camera,
    every frame a scene, the ``kinect`` sensor for all of them (unless the user names a profile)."""
    return {"camera": DATASET, "intrinsics": nyu_format.INTRINSICS.to_dict(), "scene_fraction": 1.0,
            "test_scene_fraction": 1.0, "sensor_profile": SENSOR_PROFILE, "scene_sensor_profile": None}


def tree_record(train_frames: int, test_frames: int) -> dict:
    """What synth.json records of an NYU tree beyond the config: the generator's NYU values and the
    subjects of each split as (name, start, stop, cube mm) rows (``test_subjects`` is what
    ``nyu_format.list_split(root, 'test', subjects=...)`` takes)."""
    return {
        "proportions": dataclasses.asdict(NYU_PROPORTIONS),
        "subject_scales": dict(NYU_SUBJECT_SCALES),
        "view": dataclasses.asdict(NYU_VIEW),
        "palm_depth_mm": {"range": list(NYU_PALM_DEPTH_MM), "mode": NYU_DEPTH_MODE_MM, "band": NYU_DEPTH_BAND_MM},
        "label_joint_names": list(nyu_format.LABEL_JOINT_NAMES),
        "eval_joint_ids": list(nyu_format.EVAL_JOINT_IDS),
        "train_subjects": [[nyu_format.TRAIN_SUBJECT, 0, train_frames, nyu_format.TEST_SUBJECTS[0][3]]],
        "test_subjects": [list(row) for row in subject_ranges(test_frames)],
    }


def subject_ranges(test_frames: int) -> tuple[tuple[str, int, int, float], ...]:
    """The test split's subjects as (name, start, stop, cube mm) rows (``nyu_format.TEST_SUBJECTS``'s
    form, so ``nyu_format.list_split(..., subjects=...)`` takes them): NYU's boundaries scaled from
    its 8252 test frames to ``test_frames`` and rounded, e.g. subject 1 = frames [0, 2) of 8."""
    total = nyu_format.TEST_SUBJECTS[-1][2]
    return tuple((name, round(start * test_frames / total), round(stop * test_frames / total), cube)
                 for name, start, stop, cube in nyu_format.TEST_SUBJECTS)


def plan_nyu_sequences(train_frames: int, test_frames: int, sequence_length: int) -> list[SequenceSpec]:
    """The sequences of a synthetic NYU tree, in label order: ``train/`` all of subject 1, ``test/``
    subject 1's then subject 2's (``subject_ranges``); sequences of ``sequence_length`` frames (a
    subject's last one shorter), never across subjects; every one a scene."""
    splits = (("train", ((nyu_format.TRAIN_SUBJECT, 0, train_frames),)),
              ("test", tuple(row[:3] for row in subject_ranges(test_frames))))
    specs = []
    for split, ranges in splits:
        index = 0
        for subject, start, stop in ranges:
            for first in range(start, stop, sequence_length):
                specs.append(SequenceSpec(split, index, f"{split}_{index:04d}", min(sequence_length, stop - first),
                                          f"{split}/{nyu_format.LABEL_FILE}", split, scene=True, subject=subject))
                index += 1
    return specs


def nyu_subject(seed: int, name: str, bone_noise: float = 0.04) -> Subject:
    """NYU subject ``name`` ('subject_1', 'subject_2') of the tree of ``seed``: ``NYU_PROPORTIONS`` at
    the subject's ``NYU_SUBJECT_SCALES``, its own draw of bone noise, root directions and shape. NYU
    labels the wrist, so the palm -> wrist distance varies like a bone (``bone_noise`` x a clipped
    standard normal) rather than by the shape's 8%."""
    k = tuple(NYU_SUBJECT_SCALES).index(name)
    rng = rng_for(seed, SPLIT_CODES["subjects"], k, STREAM_SUBJECT)
    scale = NYU_SUBJECT_SCALES[name]
    subject = sample_subject(rng, 0.0, bone_noise, NYU_PROPORTIONS, scale)
    noise = bone_noise * float(np.clip(rng.standard_normal(), -2.5, 2.5))
    wrist = NYU_PROPORTIONS.shape.wrist_back_mm * scale * (1.0 + noise)
    return dataclasses.replace(subject, shape=dataclasses.replace(subject.shape, wrist_back_mm=wrist))


def sequence_motion(rng: np.random.Generator) -> MotionModel:
    """``NYU_MOTION`` with the sequence's palm depth band (mm): +-``NYU_DEPTH_BAND_MM`` around a
    centre triangular in ``NYU_PALM_DEPTH_MM`` shrunk by the band, mode ``NYU_DEPTH_MODE_MM``."""
    lo, hi = NYU_PALM_DEPTH_MM
    band = NYU_DEPTH_BAND_MM
    centre = float(rng.triangular(lo + band, NYU_DEPTH_MODE_MM, hi - band))
    return dataclasses.replace(NYU_MOTION, depth_range_mm=(centre - band, centre + band))


def nyu_sequence_frames(spec: SequenceSpec, seed: int, intr: Intrinsics, order_offset: int,
                        bone_noise: float = 0.04) -> list[FrameSpec]:
    """Pose generation for one sequence of an NYU tree: its FrameSpecs in frame order, named
    depth_1_<%07d>.png by their label row (``order_offset`` + i, from 0) + 1, all scenes."""
    code = SPLIT_CODES[spec.split]
    subject = nyu_subject(seed, spec.subject, bone_noise)
    motion = sequence_motion(rng_for(seed, code, spec.index, STREAM_BAND))
    joints = sample_sequence(rng_for(seed, code, spec.index, STREAM_POSES), subject, spec.frames, intr, motion,
                             NYU_VIEW)  # (T, 16, 3)
    return [FrameSpec(spec.label_file, spec.depth_dir, nyu_format.depth_file_name(order_offset + i + 1),
                      order_offset + i, joints[i], subject.shape, (code, spec.index, i, STREAM_SENSOR),
                      scene_key=(code, spec.index, i, STREAM_SCENE))
            for i in range(spec.frames)]


def nyu_label_uvd(frame: FrameSpec, intr: Intrinsics = nyu_format.INTRINSICS) -> np.ndarray:
    """The frame's label row: NYU's 36 joints (36, 3) uvd [px, px, mm] of the modelled hand
    (``nyu_label_joints``), projected as NYU does (``nyu_format.xyz_to_uvd`` of NYU xyz, y up)."""
    return nyu_format.xyz_to_uvd(nyu_format.flip_y(nyu_label_joints(frame.joints, frame.shape)), intr)


def render_nyu_depth(frame: FrameSpec, seed: int, intr: Intrinsics, sensor: SensorModel) -> np.ndarray:
    """The frame's depth map (H, W) uint16 whole mm, 0 = no depth (NYU's convention), in its scene."""
    mm = render_frame_mm(frame.joints, frame.shape, intr, sensor, rng_for(seed, *frame.noise_key),
                         frame_scene(frame, seed, intr))
    return to_zero_background_units(mm, intr.depth_scale)


def palm_normal_z(uvd36: np.ndarray, intr: Intrinsics = nyu_format.INTRINSICS) -> np.ndarray:
    """z of the unit palm normal n = (index root - palm) x (pinky root - palm) in camera xyz (y down)
    of label rows uvd36 (..., 36, 3): n_z < 0 is the palm toward the camera (NYU's chirality)."""
    xyz = nyu_format.flip_y(nyu_format.uvd_to_xyz(uvd36, intr))  # (..., 36, 3) camera xyz
    palm, index_root, pinky_root = (xyz[..., nyu_format.LABEL_JOINT_NAMES.index(n), :]
                                    for n in ("PALM_3", "F4_KNU1_B", "F1_KNU1_B"))
    n = np.cross(index_root - palm, pinky_root - palm)
    return n[..., 2] / np.maximum(np.linalg.norm(n, axis=-1), 1e-9)
