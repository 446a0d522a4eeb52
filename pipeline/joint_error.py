"""The joint error: the one definition of how far predicted joints are from the true ones.

Joints are camera xyz in mm, shape (..., J, 3) (image uvd goes through ``pipeline.camera.uvd_to_xyz``
first). The error of a joint is the Euclidean distance between its predicted and true positions, in
mm; the mean joint error is the mean over every frame and joint, which equals the mean of the
per-joint means used by the standard ICVL evaluation (``eval.metrics``) because every frame has all J
joints. Pure numpy; no input checks beyond matching shapes (``eval.metrics`` validates user files).
"""
from __future__ import annotations

import numpy as np


def joint_errors_mm(pred, gt) -> np.ndarray:
    """Euclidean error of every joint: (..., J, 3), (..., J, 3) mm -> (..., J) mm."""
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or pred.shape[-1:] != (3,):
        raise ValueError(f"joint arrays must have the same shape (..., J, 3), got {pred.shape} and {gt.shape}")
    return np.linalg.norm(pred - gt, axis=-1)


def mean_joint_error_mm(pred, gt) -> float:
    """Mean joint error over all frames and joints of (..., J, 3) arrays, mm."""
    return float(joint_errors_mm(pred, gt).mean())
