"""eval.metrics on small hand-computed cases."""
import json

import numpy as np
import pytest

from eval import metrics
from eval.metrics import MetricInputError
from eval.results_io import read_results
from pipeline.camera import uvd_to_xyz
from pipeline.datasets import get_dataset
from pipeline.errors import SdnetError
from pipeline.skeleton import FINGERS, ICVL_SKELETON, NYU_SKELETON
from tests.helpers import SHARED

SK = ICVL_SKELETON
NUM_JOINTS = SK.num_joints
BOTH = pytest.mark.parametrize("sk", [ICVL_SKELETON, NYU_SKELETON], ids=["icvl", "nyu"])


def _pair(offsets):
    """gt at zero, pred = gt + offsets; offsets (N, J, 3) mm."""
    offsets = np.asarray(offsets, dtype=np.float64)
    gt = np.zeros_like(offsets) + np.array([10.0, -20.0, 400.0])
    return gt + offsets, gt


def test_joint_errors_and_means_hand_computed():
    # frame 0: joint errors 5 (3-4-5) and 0; frame 1: 1 and 2.
    pred, gt = _pair([[[3, 4, 0], [0, 0, 0]],
                      [[0, 0, 1], [0, 2, 0]]])
    np.testing.assert_allclose(metrics.joint_errors(pred, gt), [[5, 0], [1, 2]])
    np.testing.assert_allclose(metrics.per_joint_mean_error(pred, gt), [3, 1])
    assert metrics.mean_error(pred, gt) == pytest.approx(2.0)
    np.testing.assert_allclose(metrics.frame_mean_errors(pred, gt), [2.5, 1.5])


def test_mean_error_is_mean_of_per_joint_means():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(7, NUM_JOINTS, 3)) * 50
    pred = gt + rng.normal(size=gt.shape) * 5
    per_joint = metrics.per_joint_mean_error(pred, gt)
    assert per_joint.shape == (NUM_JOINTS,)
    manual = [np.mean([np.linalg.norm(pred[n, j] - gt[n, j]) for n in range(7)]) for j in range(NUM_JOINTS)]
    np.testing.assert_allclose(per_joint, manual)
    assert metrics.mean_error(pred, gt) == pytest.approx(np.mean(manual))


def test_success_curves_are_inclusive_at_exact_thresholds():
    # frame 0: joint errors 0 and 3; frame 1: 5 and 5 (exact in floating point).
    pred, gt = _pair([[[0, 0, 0], [3, 0, 0]],
                      [[3, 4, 0], [0, 4, 3]]])
    t = [0, 1.5, 3, 4, 5, 6]
    curves = metrics.success_curves(pred, gt, thresholds=t)
    # max per frame: 3, 5
    np.testing.assert_allclose(curves["max_frame"], [0, 0, 0.5, 0.5, 1, 1])
    # mean per frame: 1.5, 5
    np.testing.assert_allclose(curves["mean_frame"], [0, 0.5, 0.5, 0.5, 1, 1])
    # joints pooled: 0, 3, 5, 5
    np.testing.assert_allclose(curves["joint"], [0.25, 0.25, 0.5, 0.5, 1, 1])


def test_success_curves_monotone_with_right_end_points():
    rng = np.random.default_rng(1)
    gt = rng.normal(size=(50, NUM_JOINTS, 3)) * 40
    pred = gt + rng.normal(size=gt.shape) * 8
    pred[0, 3] += [0, 0, 200]  # one joint far off: that frame never succeeds in max-frame
    curves = metrics.success_curves(pred, gt)
    for name, c in curves.items():
        assert c.shape == (81,), name
        assert np.all(np.diff(c) >= 0), name
        assert c[0] == 0.0, name  # no error is exactly zero
        assert 0.0 <= c.min() and c.max() <= 1.0
    assert curves["max_frame"][-1] == pytest.approx(49 / 50)
    assert curves["joint"][-1] == pytest.approx(1 - 1 / (50 * NUM_JOINTS))
    perfect = metrics.success_curves(gt, gt)
    assert all(np.all(c == 1.0) for c in perfect.values())


@BOTH
def test_summarize_has_exactly_the_metrics_json_keys(sk):
    pred, gt = _pair(np.tile([[3.0, 4.0, 0.0]], (2, sk.num_joints, 1)))
    s = metrics.summarize(pred, gt, skeleton=sk)
    assert set(s) == {"mean_error_mm", "per_joint_mm", "frames", "thresholds_mm",
                      "max_frame", "mean_frame", "joint", "bone_length_error_mm", "bone_length_sd_mm",
                      "jitter_mm", "gt_bone_length_sd_mm", "gt_jitter_mm", "palm_side_agreement",
                      "gt_palm_facing_share"} == set(metrics.SUMMARY_KEYS)
    assert s["mean_error_mm"] == pytest.approx(5.0)
    assert s["per_joint_mm"] == pytest.approx([5.0] * sk.num_joints)
    assert s["frames"] == 2
    assert s["thresholds_mm"] == [float(t) for t in range(81)]
    assert s["max_frame"][4] == 0.0 and s["max_frame"][5] == 1.0
    json.dumps(s)  # plain JSON types
    assert metrics.success_at(s, "max_frame", 5.0) == 1.0
    with pytest.raises(MetricInputError, match="not among"):
        metrics.success_at(s, "max_frame", 5.5)


@BOTH
def test_fingertip_mean_error_uses_the_skeleton_fingertips(sk):
    offsets = np.zeros((3, sk.num_joints, 3))
    tips = list(sk.fingertips)  # ICVL: 3, 6, ...; NYU (the kit's order): 8, 6, 4, 2, 0
    assert [sk.joint_names[t] for t in tips] == [f"{f}_tip" for f in FINGERS]
    offsets[:, tips] = [6.0, 8.0, 0.0]  # 10 mm on every fingertip, 0 elsewhere
    pred, gt = _pair(offsets)
    assert metrics.fingertip_mean_error(pred, gt, sk) == pytest.approx(10.0)
    assert metrics.mean_error(pred, gt) == pytest.approx(10.0 * 5 / sk.num_joints)


@pytest.mark.parametrize("pred_shape,gt_shape,msg", [
    ((2, 16, 3), (3, 16, 3), "pred has shape"),
    ((2, 16), (2, 16), r"expected shape \(N, J, 3\)"),
    ((0, 16, 3), (0, 16, 3), "at least one frame"),
])
def test_bad_shapes_give_clear_errors(pred_shape, gt_shape, msg):
    with pytest.raises(MetricInputError, match=msg):
        metrics.joint_errors(np.zeros(pred_shape), np.zeros(gt_shape))


def test_non_finite_values_are_refused_naming_the_frame():
    gt = np.zeros((4, NUM_JOINTS, 3))
    pred = gt.copy()
    pred[2, 5, 1] = np.nan
    with pytest.raises(SdnetError, match="pred: NaN or infinite value .*frame 2"):
        metrics.summarize(pred, gt, skeleton=SK)
    with pytest.raises(MetricInputError, match="16 joints"):
        metrics.summarize(np.zeros((2, 15, 3)), np.zeros((2, 15, 3)), skeleton=SK)
    with pytest.raises(MetricInputError, match="14 joints"):
        metrics.summarize(gt, gt, skeleton=NYU_SKELETON)


def test_select_example_frames():
    picks = metrics.select_example_frames([4.0, 1.0, 9.0, 3.0, 5.0])
    assert picks == {"best": 1, "median": 0, "worst": 2}
    assert metrics.select_example_frames([2.0, 2.0])["worst"] == 0


# ----------------------------------------------------------------------------- pose plausibility

def _hand(frames: int, sk=SK) -> np.ndarray:
    """(frames, J, 3) camera mm: one hand pose, still; joint j at a distinct place along a fan."""
    pose = np.stack([[10.0 * j, 3.0 * j * j % 17, 400.0 + j] for j in range(sk.num_joints)])
    return np.repeat(pose[None], frames, axis=0)


def test_a_still_or_uniformly_moving_hand_has_no_sd_and_no_jitter():
    still = _hand(6)
    seqs = ["a"] * 6
    assert metrics.bone_length_sd_mm(still, seqs, SK) == pytest.approx(0.0, abs=1e-12)
    assert metrics.jitter_mm(still, seqs) == 0.0
    moving = still + np.arange(6)[:, None, None] * np.array([2.0, -1.0, 3.0])  # constant velocity
    assert metrics.jitter_mm(moving, seqs) == pytest.approx(0.0, abs=1e-12)
    assert metrics.bone_length_sd_mm(moving, seqs, SK) == pytest.approx(0.0, abs=1e-9)


def test_one_joint_kicked_out_in_one_frame_gives_the_hand_computed_jitter():
    t, d, frames = 3, 6.0, 8  # joint 5 moved by 6 mm in frame 3 of a still sequence
    x = _hand(frames)
    x[t, 5, 0] += d
    # the second differences at frames t-1, t, t+1 are d, 2d, d for that joint, 0 elsewhere
    expected = 4 * d / ((frames - 2) * NUM_JOINTS)
    assert metrics.jitter_mm(x, ["s"] * frames) == pytest.approx(expected)


def test_jitter_and_sd_stay_within_each_sequence():
    a, b = _hand(4), _hand(5) + np.array([300.0, 0.0, 100.0])  # two still sequences far apart
    x = np.concatenate([a, b])
    seqs = ["one"] * 4 + ["two"] * 5
    assert metrics.jitter_mm(x, seqs) == pytest.approx(0.0, abs=1e-12)
    assert metrics.jitter_mm(x, ["all"] * 9) > 10.0  # across the jump it would not be
    assert np.isnan(metrics.jitter_mm(x[:2], ["one", "one"]))  # no inner frame at all
    with pytest.raises(MetricInputError, match="one per frame"):
        metrics.jitter_mm(x, seqs[:-1])


@BOTH
def test_bone_length_error_and_sd_hand_computed(sk):
    gt = _hand(2, sk)
    pred = gt.copy()
    parent, child = sk.bones[4]  # one bone
    direction = (gt[1, child] - gt[1, parent]) / np.linalg.norm(gt[1, child] - gt[1, parent])
    pred[1, child] += 2.0 * direction  # that bone 2 mm longer in frame 1 (its child's own bones move along)
    lengths = metrics.bone_lengths(pred, sk) - metrics.bone_lengths(gt, sk)  # (2, B)
    n_bones = len(sk.bones)
    assert lengths[1, 4] == pytest.approx(2.0) and lengths[0].tolist() == [0.0] * n_bones
    assert metrics.bone_length_error_mm(pred, gt, sk) == pytest.approx(np.abs(lengths).sum() / (2 * n_bones))
    # sd over the two frames: |difference| / 2 per bone (ddof 0), averaged over bones
    assert metrics.bone_length_sd_mm(pred, ["s", "s"], sk) == pytest.approx(np.abs(lengths[1]).sum() / 2 / n_bones)
    assert metrics.bone_length_sd_mm(pred, ["s", "t"], sk) == 0.0  # one frame per sequence: nothing wavers


def test_summaries_carry_the_plausibility_with_the_ground_truths_own_values():
    gt = _hand(5) + np.random.default_rng(0).normal(0.0, 1.0, (5, NUM_JOINTS, 3))
    pred = gt + 3.0
    seqs = ["a"] * 5
    s = metrics.summarize(pred, gt, skeleton=SK, sequences=seqs)
    assert s["bone_length_error_mm"] == pytest.approx(0.0, abs=1e-9)  # a shift keeps every bone
    assert s["bone_length_sd_mm"] == pytest.approx(s["gt_bone_length_sd_mm"]) and s["bone_length_sd_mm"] > 0
    assert s["jitter_mm"] == pytest.approx(s["gt_jitter_mm"]) and s["jitter_mm"] > 0
    assert set(metrics.SUMMARY_KEYS) <= set(s)
    unordered = metrics.summarize(pred, gt, skeleton=SK)
    assert unordered["bone_length_error_mm"] == pytest.approx(0.0, abs=1e-9)
    assert unordered["jitter_mm"] is None and unordered["bone_length_sd_mm"] is None
    json.dumps(unordered)


@BOTH
def test_palm_side_agreement_catches_a_mirrored_hand(sk):
    # a right hand seen from its back (ICVL's side): index root to the left of the pinky root in the
    # image... built from the skeleton's own indices (NYU: the fingers' mid joints), palm at z = 400 mm
    hand = np.zeros((1, sk.num_joints, 3)) + np.array([0.0, 0.0, 400.0])
    index_root = sk.part_chains[FINGERS.index("index")][1]
    pinky_root = sk.part_chains[FINGERS.index("pinky")][1]
    hand[0, index_root] += [-20.0, -60.0, 0.0]
    hand[0, pinky_root] += [25.0, -45.0, 0.0]
    # n = (index - palm) x (pinky - palm): z = (-20)(-45) - (-60)(25) = 2400 > 0, away from the camera
    assert not metrics.palm_faces_camera(hand, sk)[0]
    mirrored = hand.copy()
    mirrored[..., 0] *= -1.0  # thumb on the other side: the palm seems to face the camera
    assert metrics.palm_faces_camera(mirrored, sk)[0]
    both = np.concatenate([hand, mirrored])
    assert metrics.palm_side_agreement(both, both, sk) == 1.0
    assert metrics.palm_side_agreement(both[::-1], both, sk) == 0.0
    s = metrics.summarize(both[::-1], both, skeleton=sk)
    assert s["palm_side_agreement"] == 0.0 and s["gt_palm_facing_share"] == 0.5


def test_sequence_errors_split_the_mean_by_sequence():
    gt = np.zeros((3, 2, 3))
    pred = gt.copy()
    pred[0, :, 0] = 3.0  # frame 0: 3 mm per joint
    pred[2, 1, 2] = 4.0  # frame 2: joint 1 off by 4 mm
    out = metrics.sequence_errors(pred, gt, ["b", "a", "a"])
    assert list(out) == ["b", "a"]  # first-appearance order
    assert out["b"] == {"frames": 1, "mean_error_mm": 3.0, "per_joint_mm": [3.0, 3.0]}
    assert out["a"] == {"frames": 2, "mean_error_mm": 1.0, "per_joint_mm": [0.0, 2.0]}


@pytest.mark.parametrize("name", ["icvl", "nyu"])
def test_registry_image_hand_is_the_chirality_of_the_test_labels(name):
    """Dataset.image_hand (which decides whether predict mirrors a user's right hand) is what the
    dataset's own test labels show: NYU's fingers flex toward +n (a right hand), ICVL's toward -n."""

    ds = get_dataset(name)
    path = SHARED / name / ds.test_label_file
    if not path.is_file():
        pytest.skip(f"{path} not found (the shared test labels)")
    xyz = uvd_to_xyz(read_results(path, num_joints=ds.num_joints), ds.scoring_camera)
    share = metrics.flex_side_share(xyz, ds.skeleton)
    assert metrics.image_hand(xyz, ds.skeleton) == ds.image_hand
    assert abs(share - 0.5) > 0.2  # a clear answer, not a coin toss
    mirrored = xyz * np.array([-1.0, 1.0, 1.0])
    assert metrics.image_hand(mirrored, ds.skeleton) != ds.image_hand
