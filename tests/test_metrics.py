"""eval.metrics on small hand-computed cases."""
import json

import numpy as np
import pytest

from eval import metrics
from eval.metrics import MetricInputError
from pipeline.errors import SdnetError
from pipeline.skeleton import FINGERS, ICVL_SKELETON, NUM_JOINTS


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


def test_summarize_has_exactly_the_metrics_json_keys():
    pred, gt = _pair(np.tile([[3.0, 4.0, 0.0]], (2, NUM_JOINTS, 1)))
    s = metrics.summarize(pred, gt)
    assert set(s) == {"mean_error_mm", "per_joint_mm", "frames", "thresholds_mm",
                      "max_frame", "mean_frame", "joint"}
    assert s["mean_error_mm"] == pytest.approx(5.0)
    assert s["per_joint_mm"] == pytest.approx([5.0] * NUM_JOINTS)
    assert s["frames"] == 2
    assert s["thresholds_mm"] == [float(t) for t in range(81)]
    assert s["max_frame"][4] == 0.0 and s["max_frame"][5] == 1.0
    json.dumps(s)  # plain JSON types
    assert metrics.success_at(s, "max_frame", 5.0) == 1.0
    with pytest.raises(MetricInputError, match="not among"):
        metrics.success_at(s, "max_frame", 5.5)


def test_fingertip_mean_error_uses_the_skeleton_fingertips():
    offsets = np.zeros((3, NUM_JOINTS, 3))
    tips = list(ICVL_SKELETON.fingertips)
    assert [ICVL_SKELETON.joint_names[t] for t in tips] == [f"{f}_tip" for f in FINGERS]
    offsets[:, tips] = [6.0, 8.0, 0.0]  # 10 mm on every fingertip, 0 elsewhere
    pred, gt = _pair(offsets)
    assert metrics.fingertip_mean_error(pred, gt) == pytest.approx(10.0)
    assert metrics.mean_error(pred, gt) == pytest.approx(10.0 * 5 / NUM_JOINTS)


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
        metrics.summarize(pred, gt)
    with pytest.raises(MetricInputError, match="16 joints"):
        metrics.summarize(np.zeros((2, 15, 3)), np.zeros((2, 15, 3)))


def test_select_example_frames():
    picks = metrics.select_example_frames([4.0, 1.0, 9.0, 3.0, 5.0])
    assert picks == {"best": 1, "median": 0, "worst": 2}
    assert metrics.select_example_frames([2.0, 2.0])["worst"] == 0
