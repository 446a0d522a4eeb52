"""Subjects, the pose prior and sequences: anatomy, image framing, smoothness, seeds."""
import numpy as np

from eval.metrics import palm_normals
from pipeline.camera import ICVL_INTRINSICS, xyz_to_uvd
from pipeline.skeleton import ICVL_SKELETON
from pipeline.synth.frames import plan_sequences, rng_for, sequence_frames, split_test_frames, subject_for
from pipeline.synth.poses import (ARTICULATION, GESTURES, LIMITS, camera_joints, frame_motion_mm,
                                  sample_articulation, sample_sequence, sample_subject)

INTR = ICVL_INTRINSICS
MEAN = np.array([m for m, _ in ICVL_SKELETON.bone_length_mm])


def test_subject_bone_lengths_stay_in_anatomical_ranges():
    lengths = np.array([sample_subject(rng_for(0, 0, i, 0)).bone_lengths for i in range(300)])  # (S, 15)
    ratio = lengths / MEAN
    assert (ratio > 0.85 * 0.9).all() and (ratio < 1.15 * 1.1).all()
    # Hand size varies about +-15%: the spread of a subject's mean ratio covers most of it.
    size = ratio.mean(axis=1)
    assert size.min() < 0.88 and size.max() > 1.12
    # Per-bone noise is small: within a subject, bones agree on the hand's scale.
    assert np.median(np.abs(ratio - size[:, None])) < 0.05


def test_forward_kinematics_keeps_the_subject_bone_lengths():
    subject = sample_subject(rng_for(1, 0, 0, 0))
    joints = sample_sequence(rng_for(1, 0, 0, 1), subject, 50, INTR)  # (T, J, 3)
    np.testing.assert_allclose(ICVL_SKELETON.bone_lengths(joints),
                               np.broadcast_to(subject.bone_lengths, (50, 15)), atol=1e-9)


def test_articulations_respect_the_limits_for_every_gesture():
    rng = np.random.default_rng(0)
    for g in GESTURES:
        for _ in range(30):
            art = sample_articulation(rng, g)
            for name, value in zip(ARTICULATION, art):
                lo, hi = LIMITS.get(name, LIMITS.get(name.split("_")[-1]))
                assert lo <= value <= hi, (g, name, value)


def test_fingers_flex_toward_the_palm_side():
    subject = sample_subject(rng_for(2, 0, 0, 0))
    straight = sample_articulation(np.random.default_rng(1), "open")
    fist = sample_articulation(np.random.default_rng(1), "fist")
    ang, palm = np.zeros((2, 3)), np.array([[0.0, 0.0, 300.0]] * 2)
    open_j, fist_j = camera_joints(subject, np.stack([straight, fist]), ang, palm)
    # Zero orientation: the palm faces the camera, so a fist brings the fingertips nearer to it.
    tips = list(ICVL_SKELETON.fingertips[1:])
    assert (fist_j[tips, 2] < open_j[tips, 2] - 10).all()
    # ... and the fingertips move toward the palm joint in the image.
    assert (np.linalg.norm(fist_j[tips, :2] - fist_j[0, :2], axis=1)
            < np.linalg.norm(open_j[tips, :2] - open_j[0, :2], axis=1)).all()


def test_sequences_are_framed_and_smooth_like_icvl():
    motion, depths = [], []
    for i in range(12):
        subject = sample_subject(rng_for(3, 0, i, 0))
        joints = sample_sequence(rng_for(3, 0, i, 1), subject, 120, INTR)  # (T, J, 3)
        uvd = xyz_to_uvd(joints, INTR)
        assert (uvd[..., 0] >= 0).all() and (uvd[..., 0] <= INTR.width - 1).all()
        assert (uvd[..., 1] >= 0).all() and (uvd[..., 1] <= INTR.height - 1).all()
        depths.append(uvd[..., 2].ravel())
        motion.append(frame_motion_mm(joints).ravel())
    m = np.concatenate(motion)
    assert 3.5 < np.median(m) < 7.0  # ICVL: 5 mm
    assert 18.0 < np.percentile(m, 95) < 38.0  # ICVL: 28 mm
    assert m.max() < 120.0  # no teleporting between consecutive frames
    d = np.concatenate(depths)
    assert d.min() >= 189.0 and d.max() <= 461.0  # ICVL hands: 190-453 mm


def test_sequences_come_from_their_own_seed_key():
    spec = plan_sequences(30, 0, 15)[1]
    a = sequence_frames(spec, 5, INTR, 15)
    b = sequence_frames(spec, 5, INTR, 15)
    c = sequence_frames(spec, 6, INTR, 15)
    np.testing.assert_array_equal(np.stack([f.joints for f in a]), np.stack([f.joints for f in b]))
    assert not np.allclose(np.stack([f.joints for f in a]), np.stack([f.joints for f in c]))
    assert [f.order for f in a] == list(range(15, 30))
    assert a[3].rel_path == "synth_0001/image_0003.png"


def test_test_subjects_are_new_hands():
    train = np.array([subject_for(0, "train", i, 0.15, 0.04).bone_lengths for i in range(50)])
    for k in (1, 2):
        test = np.array(subject_for(0, "test", k, 0.15, 0.04).bone_lengths)
        assert np.abs(train - test).max(axis=1).min() > 0.5  # differs from every training hand


def test_plan_splits_test_frames_like_icvl():
    assert split_test_frames(1596) == [702, 894]
    assert sum(split_test_frames(101)) == 101
    specs = plan_sequences(45, 10, 20)
    assert [(s.split, s.name, s.frames) for s in specs] == [
        ("train", "synth_0000", 20), ("train", "synth_0001", 20), ("train", "synth_0002", 5),
        ("test", "test_seq_1", 4), ("test", "test_seq_2", 6)]


def test_scene_sequences_show_both_sides_and_plain_ones_icvls():
    """Plain sequences show the side ICVL's images show (every frame); scene sequences, standing for a
    user's camera, show the palm and the back about equally (``scene_back_fraction`` 0.5), and
    ``back_fraction`` turns plain sequences around."""

    def facing_share(scene: bool, **kw) -> float:
        n_z = []
        for k in range(24):
            spec = plan_sequences(60, 0, 60, scene_fraction=1.0 if scene else 0.0)[0]
            spec = type(spec)(**{**spec.__dict__, "index": k})
            frames = sequence_frames(spec, 3, ICVL_INTRINSICS, 0, **kw)
            joints = np.stack([f.joints for f in frames])
            n_z.append(palm_normals(joints, ICVL_SKELETON)[:, 2])
        return float((np.concatenate(n_z) > 0).mean())  # ICVL's side: n_z > 0 (its chirality)

    assert facing_share(False) == 1.0
    assert 0.25 < facing_share(True) < 0.75
    assert facing_share(False, back_fraction=1.0) < 0.02
    assert facing_share(True, scene_back_fraction=0.0) > 0.9
