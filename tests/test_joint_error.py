"""pipeline.joint_error: the one mean joint error, shared by the metrics, predict's scoring and the benches."""
import numpy as np
import pytest

from eval import metrics
from pipeline.camera import ICVL_INTRINSICS as INTR, xyz_to_uvd
from pipeline.joint_error import joint_errors_mm, mean_joint_error_mm
from pipeline.score import score_entries


def test_hand_computed_errors():
    gt = np.zeros((2, 2, 3))
    pred = np.array([[[3, 4, 0], [0, 0, 0]], [[0, 0, 1], [0, 2, 0]]], dtype=float)
    np.testing.assert_allclose(joint_errors_mm(pred, gt), [[5, 0], [1, 2]])
    assert mean_joint_error_mm(pred, gt) == pytest.approx(2.0)
    assert mean_joint_error_mm(pred[0], gt[0]) == pytest.approx(2.5)  # one frame (J, 3)
    with pytest.raises(ValueError, match="same shape"):
        joint_errors_mm(pred[:1], gt)
    with pytest.raises(ValueError, match=r"\(\.\.\., J, 3\)"):
        joint_errors_mm(pred[..., :2], gt[..., :2])


def test_metrics_and_predict_scoring_agree_with_it():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(6, 16, 3)) * 30 + [0, 0, 400]
    pred = gt + rng.normal(size=gt.shape) * 6
    expected = mean_joint_error_mm(pred, gt)
    manual = np.mean([np.linalg.norm(pred[n, j] - gt[n, j]) for n in range(6) for j in range(16)])
    assert expected == pytest.approx(manual, rel=1e-12)
    assert metrics.mean_error(pred, gt) == pytest.approx(expected, rel=1e-12)
    labels = {f"f{n}.png": xyz_to_uvd(gt[n], INTR) for n in range(6)}
    entries = [{"path": f"f{n}.png", "status": "ok", "xyz": pred[n].tolist()} for n in range(6)]
    assert score_entries(entries, labels, INTR)["mean_error_mm"] == pytest.approx(expected, abs=1e-3)
