"""Tests of models/losses.py: values on hand-computed poses, gradients, invariances, degenerate poses."""
from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from models import losses as L
from models.sdnet import build_model, preset, with_input_size
from pipeline.skeleton import ICVL_SKELETON, MSRA_SKELETON, NYU_SKELETON, Skeleton

SK = ICVL_SKELETON
NUM_JOINTS = SK.num_joints
PARTS = SK.part_chains
SKELETONS = [ICVL_SKELETON, NYU_SKELETON, MSRA_SKELETON]
SK_IDS = ["icvl", "nyu", "msra"]
N_PAIRS = sum(len(c) - 2 for c in PARTS)


def straight_hand(bone_mm=(40.0, 30.0, 20.0, 15.0), sk: Skeleton = SK) -> np.ndarray:
    """A hand in mm whose fingers are straight rays from the palm, spread in the x-y plane; (J, 3).
    The bones of a part take ``bone_mm`` from the palm (or wrist) out, as many as the part has (ICVL 3,
    MSRA 4); joints in no part (NYU's wrist points) sit 70 mm below the palm."""
    x = np.zeros((sk.num_joints, 3))
    x[sk.root] = (0.0, 0.0, 300.0)
    for j, p in enumerate(sk.parents):
        if p == sk.root:
            x[j] = x[sk.root] + (0.0, 70.0, 0.0)  # overwritten below for the joints of a part
    for i, chain in enumerate(sk.part_chains):
        a = math.radians(-60 + 30 * i)
        d = np.array([math.sin(a), -math.cos(a), 0.0])
        pos = x[chain[0]].copy()
        for joint, length in zip(chain[1:], bone_mm):
            pos = pos + length * d
            x[joint] = pos
    return x


def bend_tip(x: np.ndarray, part: int, angle_deg: float, length: float | None = None,
             sk: Skeleton = SK) -> np.ndarray:
    """Turn the last bone of ``part`` by ``angle_deg`` about z (and optionally set its length)."""
    x = x.copy()
    chain = sk.part_chains[part]
    mid, tip = chain[-2], chain[-1]
    v = x[tip] - x[mid]
    n = np.linalg.norm(v) if length is None else length
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    x[tip] = x[mid] + n * rot @ (v / np.linalg.norm(v))
    return x


def sdl(gt, pred, sk: Skeleton = SK, **kw) -> np.ndarray:
    return L.skeleton_difference_loss(np.asarray(gt)[None], np.asarray(pred)[None], sk, **kw).numpy()


def random_rotation(rng) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def test_pair_count_comes_from_the_skeleton():
    assert N_PAIRS == 10  # 5 fingers x 2 angles (palm in every part)
    assert L.bone_angles(straight_hand()[None], SK).shape == (1, N_PAIRS)
    assert L.bone_length_ratios(straight_hand()[None], SK).shape == (1, N_PAIRS)


def test_straight_hand_angles_are_zero_and_ratios_match_lengths():
    x = straight_hand((40.0, 30.0, 20.0))[None]
    np.testing.assert_allclose(L.bone_angles(x, SK).numpy(), 0.0, atol=1e-3)
    ratios = L.bone_length_ratios(x, SK).numpy().reshape(5, 2)
    np.testing.assert_allclose(ratios[:, 0], 30 / 70, rtol=1e-5)
    np.testing.assert_allclose(ratios[:, 1], 20 / 50, rtol=1e-5)


def test_identical_poses_give_zero_loss():
    x = straight_hand()
    assert sdl(x, x)[0] == pytest.approx(0.0, abs=1e-5)
    assert L.joint_loss(x[None], x[None]).numpy()[0] == 0.0


def test_ninety_degree_tip_bend_costs_tan_45():
    gt = straight_hand()
    pred = bend_tip(gt, part=2, angle_deg=90.0)
    # Angle term: |tan(90/2 - 0)| = 1; below the 110 degree threshold; same lengths -> bone term 0.
    assert sdl(gt, pred)[0] == pytest.approx(1.0, abs=1e-4)
    assert sdl(gt, pred, alpha=0.25)[0] == pytest.approx(0.25, abs=1e-4)
    # Joint loss: the tip moves on a circle of radius 20 by 90 degrees: distance 20 sqrt(2).
    assert L.joint_loss(gt[None], pred[None]).numpy()[0] == pytest.approx(800.0, rel=1e-5)


def test_step_and_hinge_penalties_above_threshold():
    gt = straight_hand()
    pred = bend_tip(gt, part=0, angle_deg=130.0)
    tan_term = math.tan(math.radians(65.0))
    th = math.radians(110.0)
    assert sdl(gt, pred, threshold=th, penalty="step")[0] == pytest.approx(tan_term + 1.0, rel=1e-4)
    assert sdl(gt, pred, threshold=th, penalty="hinge", omega2=2.0)[0] == pytest.approx(
        tan_term + 2.0 * math.radians(20.0), rel=1e-4)
    # Below the threshold neither penalty adds anything.
    below = bend_tip(gt, part=0, angle_deg=100.0)
    for penalty in L.PENALTIES:
        assert sdl(gt, below, threshold=th, penalty=penalty)[0] == pytest.approx(
            math.tan(math.radians(50.0)), rel=1e-4)


def test_bone_ratio_term_on_a_longer_tip():
    gt = straight_hand((40.0, 30.0, 20.0))
    pred = bend_tip(gt, part=4, angle_deg=0.0, length=30.0)  # tip bone 20 -> 30 mm, still straight
    expected = abs(30 / 60 - 20 / 50)
    assert sdl(gt, pred, alpha=0.0)[0] == pytest.approx(expected, abs=1e-5)
    assert sdl(gt, pred, alpha=1.0, beta=3.0)[0] == pytest.approx(3 * expected, abs=1e-4)


def test_flat_and_joint_major_shapes_agree_and_give_one_value_per_example():
    rng = np.random.default_rng(0)
    gt = straight_hand()[None] + rng.normal(0, 3, size=(4, NUM_JOINTS, 3))
    pred = gt + rng.normal(0, 5, size=gt.shape)
    a = L.skeleton_difference_loss(gt, pred, SK).numpy()
    b = L.skeleton_difference_loss(gt.reshape(4, -1), pred.reshape(4, -1), SK).numpy()
    assert a.shape == (4,)
    np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_allclose(L.joint_loss(gt, pred).numpy(),
                               ((gt - pred) ** 2).sum(axis=(1, 2)), rtol=1e-5)


@pytest.mark.parametrize("sk", SKELETONS, ids=SK_IDS)
@pytest.mark.parametrize("penalty", L.PENALTIES)
def test_psi_sdl_is_invariant_to_rotation_translation_and_scale(penalty, sk):
    rng = np.random.default_rng(1)
    gt = straight_hand(sk=sk)[None] + rng.normal(0, 4, size=(3, sk.num_joints, 3))
    pred = gt + rng.normal(0, 8, size=gt.shape)
    kw = dict(penalty=penalty, threshold=math.radians(40.0))  # low threshold: the F term is active
    base = L.skeleton_difference_loss(gt, pred, sk, **kw).numpy()
    assert np.all(base > 0.1)
    for _ in range(3):
        r, t, s = random_rotation(rng), rng.normal(0, 100, size=3), rng.uniform(0.01, 5.0)
        moved = s * pred @ r.T + t
        np.testing.assert_allclose(L.skeleton_difference_loss(gt, moved, sk, **kw).numpy(), base, rtol=2e-4)
        both = L.skeleton_difference_loss(s * gt @ r.T + t, moved, sk, **kw).numpy()
        np.testing.assert_allclose(both, base, rtol=2e-4)


def test_nyu_pairs_follow_its_three_joint_fingers_and_ignore_the_wrist():
    sk = NYU_SKELETON
    x = straight_hand((40.0, 30.0, 20.0), sk=sk)
    # the thumb (palm, root, mid, tip) has 2 angles, the other fingers (palm, mid, tip) 1 each
    assert L.bone_angles(x[None], sk).shape == (1, 2 + 4)
    np.testing.assert_allclose(L.bone_angles(x[None], sk).numpy(), 0.0, atol=1e-3)
    ratios = L.bone_length_ratios(x[None], sk).numpy()[0]  # thumb 30/70, 20/50; others 30/70
    np.testing.assert_allclose(ratios, [30 / 70, 20 / 50] + [30 / 70] * 4, rtol=1e-5)
    moved = x.copy()
    wrists = [j for j, p in enumerate(sk.parents) if p == sk.root and not any(j in c for c in sk.part_chains)]
    assert len(wrists) == 2
    moved[wrists] += 25.0  # the wrist points are in no part: psi_SDL does not see them
    assert sdl(x, moved, sk)[0] == pytest.approx(0.0, abs=1e-5)
    bent = bend_tip(x, part=2, angle_deg=90.0, sk=sk)  # the middle finger's only angle
    assert sdl(x, bent, sk)[0] == pytest.approx(1.0, abs=1e-4)


def test_msra_pairs_follow_its_four_bone_fingers_from_the_wrist():
    sk = MSRA_SKELETON
    assert sk.num_joints == 21 and all(len(c) == 5 and c[0] == sk.root for c in sk.part_chains)
    x = straight_hand((40.0, 30.0, 20.0, 15.0), sk=sk)
    # wrist-MCP-PIP-DIP-TIP: 3 angles per finger, 15 in all
    assert L.bone_angles(x[None], sk).shape == L.bone_length_ratios(x[None], sk).shape == (1, 15)
    np.testing.assert_allclose(L.bone_angles(x[None], sk).numpy(), 0.0, atol=1e-3)
    ratios = L.bone_length_ratios(x[None], sk).numpy().reshape(5, 3)
    np.testing.assert_allclose(ratios, np.tile([30 / 70, 20 / 50, 15 / 35], (5, 1)), rtol=1e-5)
    bent = bend_tip(x, part=2, angle_deg=90.0, sk=sk)  # one finger's DIP-TIP bone: one angle of 90 degrees
    assert sdl(x, bent, sk)[0] == pytest.approx(1.0, abs=1e-4)
    longer = bend_tip(x, part=4, angle_deg=0.0, length=35.0, sk=sk)  # only that finger's last ratio moves
    moved = L.bone_length_ratios(longer[None], sk).numpy().reshape(5, 3)
    np.testing.assert_allclose(np.delete(moved.ravel(), 14), np.delete(ratios.ravel(), 14), rtol=1e-5)
    assert moved[4, 2] == pytest.approx(35 / 55, rel=1e-5)


@pytest.mark.parametrize("sk", [MSRA_SKELETON], ids=["msra"])
def test_gradients_match_finite_differences_on_the_21_joint_skeleton(sk):
    rng = np.random.default_rng(3)
    gt = straight_hand(sk=sk) + rng.normal(0, 4, size=(sk.num_joints, 3))
    pred = gt + rng.normal(0, 6, size=gt.shape)
    kw = dict(alpha=0.7, beta=1.3, omega1=1.0, omega2=0.5, penalty="hinge", threshold=math.radians(20.0))

    def f(p):
        return float(L.sdnet_loss(gt[None], p[None], sk, sdl_weight=50.0, **kw).numpy()[0])

    x = tf.constant(pred[None], tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = L.sdnet_loss(gt[None], x, sk, sdl_weight=50.0, **kw)
    grad = tape.gradient(y, x).numpy()[0]
    assert np.all(np.isfinite(grad))
    h = 5e-2  # float32 loss of 21 joints: a wider step keeps rounding out of the difference
    for j, k in [(0, 0), (1, 1), (4, 2), (8, 0), (13, 1), (17, 2), (20, 0)]:
        e = np.zeros_like(pred)
        e[j, k] = h
        fd = (f(pred + e) - f(pred - e)) / (2 * h)
        assert grad[j, k] == pytest.approx(fd, rel=2e-2, abs=1e-3), (j, k)


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(2)
    gt = straight_hand() + rng.normal(0, 4, size=(NUM_JOINTS, 3))
    pred = gt + rng.normal(0, 6, size=gt.shape)
    kw = dict(alpha=0.7, beta=1.3, omega1=1.0, omega2=0.5, penalty="hinge", threshold=math.radians(20.0))

    def f(p):
        return float(L.sdnet_loss(gt[None], p[None], SK, sdl_weight=50.0, **kw).numpy()[0])

    x = tf.constant(pred[None], tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = L.sdnet_loss(gt[None], x, SK, sdl_weight=50.0, **kw)
    grad = tape.gradient(y, x).numpy()[0]
    h = 1e-2
    for j, k in [(0, 0), (1, 1), (3, 2), (5, 0), (9, 1), (12, 2), (15, 0)]:
        e = np.zeros_like(pred)
        e[j, k] = h
        fd = (f(pred + e) - f(pred - e)) / (2 * h)
        assert grad[j, k] == pytest.approx(fd, rel=2e-2, abs=1e-3), (j, k)


def test_hinge_has_a_gradient_and_step_has_none_from_the_penalty():
    gt = straight_hand()
    pred = bend_tip(gt, part=1, angle_deg=150.0)
    x = tf.constant(pred[None], tf.float32)

    def grad(penalty):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = L.skeleton_difference_loss(gt[None], x, SK, alpha=1.0, beta=0.0, omega1=0.0, penalty=penalty)
        return tape.gradient(y, x)

    g_step = grad("step")
    assert g_step is None or np.allclose(g_step.numpy(), 0.0)
    g_hinge = grad("hinge").numpy()
    assert np.abs(g_hinge).max() > 1e-3 and np.all(np.isfinite(g_hinge))


def degenerate_poses(sk: Skeleton = SK) -> dict[str, np.ndarray]:
    x = straight_hand(sk=sk)
    folded = bend_tip(x, part=3, angle_deg=180.0, sk=sk)  # collinear bones pointing back
    coincident = x.copy()
    index = sk.part_chains[1]
    coincident[index[2]] = coincident[index[1]]  # the index's second joint on its first: a zero-length bone
    return {"straight": x, "folded": folded, "coincident": coincident, "all_zero": np.zeros_like(x)}


@pytest.mark.parametrize("sk", SKELETONS, ids=SK_IDS)
@pytest.mark.parametrize("name", list(degenerate_poses()))
@pytest.mark.parametrize("penalty", L.PENALTIES)
def test_degenerate_poses_give_finite_loss_and_gradients(name, penalty, sk):
    pose = degenerate_poses(sk)[name]
    gt = straight_hand(sk=sk)
    for a, b in [(gt, pose), (pose, gt), (pose, pose)]:
        x = tf.constant(b[None], tf.float32)
        y_true = tf.constant(a[None], tf.float32)
        with tf.GradientTape() as tape:
            tape.watch([x, y_true])
            y = L.sdnet_loss(y_true, x, sk, sdl_weight=1.0, penalty=penalty)
        gx, gt_grad = tape.gradient(y, [x, y_true])
        assert np.all(np.isfinite(y.numpy()))
        assert np.all(np.isfinite(gx.numpy())) and np.all(np.isfinite(gt_grad.numpy()))


def test_folded_back_finger_is_capped_not_infinite():
    gt = straight_hand()
    pred = bend_tip(gt, part=3, angle_deg=180.0)
    value = sdl(gt, pred, penalty="hinge")[0]
    assert math.isfinite(value)
    assert value == pytest.approx(math.tan(L.TAN_HALF_ANGLE_CAP) + math.pi - L.DEFAULT_THRESHOLD_RAD, rel=1e-3)


def test_total_loss_differs_from_baseline_only_by_weighted_sdl():
    rng = np.random.default_rng(3)
    gt = rng.normal(0, 0.3, size=(5, 3 * NUM_JOINTS)).astype("float32")
    pred = gt + rng.normal(0, 0.05, size=gt.shape).astype("float32")
    kw = dict(alpha=0.5, beta=2.0, penalty="hinge")
    base = L.SDNetLoss(SK, sdl_weight=0.0, **kw)(gt, pred).numpy()
    full = L.SDNetLoss(SK, sdl_weight=0.25, **kw)(gt, pred).numpy()
    sdl_mean = L.SkeletonDifferenceLoss(SK, **kw)(gt, pred).numpy()
    assert base == pytest.approx(L.JointLoss()(gt, pred).numpy(), rel=1e-6)
    assert full - base == pytest.approx(0.25 * sdl_mean, rel=1e-5)


def test_keras_wrappers_round_trip_their_config():
    loss = L.SDNetLoss(SK, sdl_weight=0.5, alpha=2.0, beta=0.5, penalty="hinge", threshold=1.2)
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(again, L.SDNetLoss)
    assert again.sdl_weight == 0.5 and again.sdl == loss.sdl
    metric = L.MeanJointErrorMM(cube_mm=250.0)
    m2 = keras.metrics.deserialize(keras.metrics.serialize(metric))
    assert m2.cube_mm == 250.0
    with pytest.raises(ValueError):
        L.SkeletonDifferenceLoss(SK, penalty="cubic")


def test_mean_error_mm_metric_uses_half_the_cube():
    gt = np.zeros((2, NUM_JOINTS, 3), "float32")
    pred = gt.copy()
    pred[0, :, 0] = 0.08  # 0.08 x 125 mm = 10 mm on every joint
    m = L.MeanJointErrorMM(cube_mm=250.0)
    m.update_state(gt.reshape(2, -1), pred.reshape(2, -1))
    assert float(m.result()) == pytest.approx(5.0, rel=1e-5)  # mean of 10 mm and 0 mm


def test_loss_runs_inside_a_compiled_function():
    @tf.function(jit_compile=False)
    def f(a, b):
        return L.skeleton_difference_loss(a, b, SK, penalty="hinge")

    x = straight_hand()[None].astype("float32")
    y = bend_tip(straight_hand(), 0, 90.0)[None].astype("float32")
    assert f(x, y).numpy()[0] == pytest.approx(1.0, abs=1e-4)


# ---- the joint-loss readings, the gradient balance, the derived angle thresholds ----------

def test_distance_reading_sums_joint_distances_and_has_a_finite_gradient_at_zero():
    gt = straight_hand()
    pred = gt.copy()
    pred[3] += (3.0, 4.0, 0.0)  # 5 mm off
    pred[6] += (0.0, 0.0, 2.0)  # 2 mm off
    assert L.joint_loss(gt[None], pred[None], "distance").numpy()[0] == pytest.approx(7.0, rel=1e-5)
    assert L.joint_loss(gt[None], pred[None], "squared").numpy()[0] == pytest.approx(29.0, rel=1e-5)
    y = tf.constant(gt[None], tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(y)
        value = L.joint_loss(gt[None], y, "distance")
    g = tape.gradient(value, y).numpy()
    assert np.all(np.isfinite(g)) and np.abs(g).max() == 0.0
    with pytest.raises(ValueError, match="reading"):
        L.joint_loss(gt[None], pred[None], "cubed")


def test_gradient_norms_by_hand_and_the_share_of_the_skeleton_terms():
    gt = np.stack([straight_hand(), straight_hand()])  # (2, J, 3)
    shifted = gt + np.array([1.0, -2.0, 2.0])  # every joint 3 mm off: a pure translation
    g_d, g_s = L.gradient_norms(gt, shifted, SK)
    # d/dy of mean_b sum_j |y - gt|^2 is 2 (y - gt) / B: norm 2 * 3 * sqrt(2 * 16) / 2
    assert float(g_d) == pytest.approx(3.0 * math.sqrt(32.0), rel=1e-4)
    assert float(g_s) == pytest.approx(0.0, abs=1e-6)  # psi_SDL is blind to translation
    g_d1, _ = L.gradient_norms(gt, shifted, SK, joint="distance")
    assert float(g_d1) == pytest.approx(math.sqrt(32.0) / 2.0, rel=1e-4)  # unit vectors / B
    bent = np.stack([bend_tip(gt[0], 1, 60.0), gt[1]])
    g_d, g_s = L.gradient_norms(gt, bent, SK)
    assert float(g_s) > 0
    share = L.gradient_share(g_d, g_s, 0.25).numpy()
    assert share == pytest.approx(0.25 * float(g_s) / (float(g_d) + 0.25 * float(g_s)), rel=1e-5)
    assert L.gradient_share(g_d, g_s, 0.0).numpy() == 0.0


def test_angle_thresholds_are_the_percentile_of_each_training_angle():
    # Index tip bent by 0, 1, ..., 99 degrees; every other angle straight (0).
    poses = np.stack([bend_tip(straight_hand(), 1, float(a)) for a in range(100)])
    th = np.degrees(L.angle_thresholds(poses, 99.0, SK))
    # bone_angles order: per finger (root, middle); the index middle-joint angle is pair 3.
    assert th.shape == (N_PAIRS,)
    assert th[3] == pytest.approx(98.01, abs=0.02)  # numpy's linear percentile of 0..99 at 99 %
    assert np.delete(th, 3) == pytest.approx(0.0, abs=0.01)
    assert np.degrees(L.angle_thresholds(poses, 50.0, SK))[3] == pytest.approx(49.5, abs=0.02)


def test_per_angle_thresholds_penalise_each_angle_against_its_own():
    gt = straight_hand()
    pred = bend_tip(gt, 1, 60.0)  # index middle-joint angle 60 degrees
    tan_term = math.tan(math.radians(30.0))
    low = np.full(N_PAIRS, math.radians(90.0))
    low[3] = math.radians(50.0)  # this angle's own threshold is exceeded
    assert sdl(gt, pred, threshold=low)[0] == pytest.approx(tan_term + 1.0, rel=1e-4)
    high = np.full(N_PAIRS, math.radians(50.0))
    high[3] = math.radians(70.0)  # only other angles have low thresholds, and they are straight
    assert sdl(gt, pred, threshold=high)[0] == pytest.approx(tan_term, rel=1e-4)
    loss = L.SDNetLoss(SK, 0.5, joint="distance", threshold=low)
    again = L.SDNetLoss.from_config(loss.get_config())
    assert again.get_config()["threshold"] == pytest.approx(list(low)) and again.joint == "distance"


def test_scheduled_weight_variable_drives_the_keras_loss():
    gt = straight_hand()[None]
    pred = bend_tip(gt[0], 2, 40.0)[None]
    w = tf.Variable(0.0, trainable=False)
    loss = L.SDNetLoss(SK, 0.5)
    loss.use_weight_variable(w)
    base = float(L.joint_loss(gt, pred)[0])
    assert float(loss(gt, pred)) == pytest.approx(base, rel=1e-6)
    w.assign(0.5)
    assert float(loss(gt, pred)) == pytest.approx(base + 0.5 * float(sdl(gt[0], pred[0])[0]), rel=1e-5)


@pytest.mark.parametrize("sk", SKELETONS, ids=SK_IDS)
def test_losses_and_metrics_carry_their_skeleton_through_a_saved_model(tmp_path, sk):
    """A model compiled with the skeleton loss and metrics of ``sk`` saves and reloads (with its compile
    config, as a resumed or inspected run does, and without, as ``rundir.load_model`` does), the
    reloaded loss on the same skeleton giving the same value."""
    keras.utils.set_random_seed(0)
    model = build_model(with_input_size(preset("smoke"), 16), sk.num_joints)
    loss = L.SDNetLoss(sk, 0.5, penalty="hinge", threshold=0.5)
    model.compile(optimizer="adam", loss=loss, metrics=[L.SkeletonDifferenceMetric(sk, penalty="hinge"),
                                                        L.LossTermMetric("loss_a", sk),
                                                        L.GradientBalanceMetric(sk, "share", weight=0.5)])
    x = np.random.default_rng(0).uniform(-1, 1, (4, 16, 16, 1)).astype("float32")
    y = straight_hand(sk=sk)[None].repeat(4, 0).reshape(4, -1).astype("float32") / 300.0
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    assert again.loss.skeleton.matches(sk.to_dict()) and again.loss.sdl == loss.sdl
    pred = model.predict(x, verbose=0)
    assert float(again.loss(y, pred)) == pytest.approx(float(loss(y, pred)), rel=1e-6)
    assert again.evaluate(x, y, verbose=0, return_dict=True)["loss"] == pytest.approx(
        model.evaluate(x, y, verbose=0, return_dict=True)["loss"], rel=1e-5)
    plain = keras.models.load_model(tmp_path / "m.keras", compile=False)
    np.testing.assert_allclose(plain.predict(x, verbose=0), pred, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError):
        L.SDNetLoss({"joint_names": ["a"], "parents": [0], "parts": {}})  # not a tree: no root
