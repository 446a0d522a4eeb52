"""SDNet losses: the Euclidean joint loss (paper Eq. 1) and the skeleton-difference loss (Eq. 2-7).

All functions take joints of shape (B, J, 3) or (B, 3J) (joint-major x0, y0, z0, x1, ...) in any one
length unit (mm, or the normalized crop units of ``pipeline.input``: (xyz - centre) / (cube / 2)) and
return one value per example, shape (B,). Parts and bones come from a ``Skeleton`` (default
``ICVL_SKELETON``); nothing here knows that J is 16.

Our reading of the paper's equations (the extracted text is garbled; this is what we implement):

* Eq. 1, joint loss: ``psi_D = sum_j ||X_j - X_j^GT||^2``, the squared Euclidean distance summed over
  the J joints (Caffe's Euclidean loss without its 1/2).
* Eq. 2: ``psi_SDL = alpha Loss_a + beta Loss_b``.
* Eq. 4, bones and angles: a part p is a chain of joints from the palm (layer 0, in every part) to the
  fingertip, for ICVL (palm, root, mid, tip). Its bone vectors are ``B_{p,l} = X_{chain[l+1]} -
  X_{chain[l]}`` (3 per finger), and ``theta_{p,l}`` is the angle between consecutive bones
  ``B_{p,l}`` and ``B_{p,l+1}`` (2 per finger: at the finger root and at the middle joint), in
  radians in [0, pi]; 0 means a straight finger. The paper writes acos of the normalized dot
  product; we compute the same angle as ``atan2(|a x b|, a . b)`` on unit vectors, whose gradient is
  finite at 0 and pi.
* Eq. 3, angle term: ``Loss_a = sum_p sum_l omega1 |tan(theta/2 - theta^GT/2)| + omega2 F(theta)``,
  where F is applied to the *predicted* angle only.
* Eq. 5: ``F(theta) = 1 if theta >= threshold else 0`` ("step", faithful; its gradient is zero
  everywhere, so during training it only shifts the loss value). ``penalty="hinge"`` replaces it by
  ``max(0, theta - threshold)`` (radians), which pushes over-bent angles back.
* Eq. 6-7, bone term: ``Loss_b = sum_p sum_l |G_{p,l} - G^GT_{p,l}|`` with the adjacent-length ratio
  ``G_{p,l} = |B_{p,l+1}| / (|B_{p,l}| + |B_{p,l+1}|)`` in [0, 1] (2 per finger).

Angles and ratios are invariant to rotating, translating, reflecting and scaling a pose, so psi_SDL
gives the same value on mm and on normalized joints.

Numerical care: bones shorter than ``eps`` (input units) count as zero vectors with zero gradient
(their angles read pi/2 and their ratio 0.5 when both bones vanish); the half-angle difference lies in
[-pi/2, pi/2] where tan is unbounded, so it is clipped to +-``TAN_HALF_ANGLE_CAP`` (1.5 rad, tan = 14.1,
i.e. angle errors beyond about 172 degrees are not pushed harder).

The default ``threshold`` is 110 degrees: active flexion of a finger joint is at most about 90 (MCP
and DIP) to 110 (PIP) degrees, so a predicted bend beyond it is anatomically implausible.
"""
from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from pipeline.skeleton import ICVL_SKELETON, Skeleton

DEFAULT_THRESHOLD_RAD = math.radians(110.0)
TAN_HALF_ANGLE_CAP = 1.5
BONE_EPS = 1e-6
PENALTIES = ("step", "hinge")


def as_joints(y) -> tf.Tensor:
    """(B, 3J) or (B, J, 3) -> float32 (B, J, 3)."""
    y = tf.cast(tf.convert_to_tensor(y), tf.float32)
    if y.shape.rank == 2:
        return tf.reshape(y, (tf.shape(y)[0], -1, 3))
    if y.shape.rank != 3:
        raise ValueError(f"joints must have shape (B, 3J) or (B, J, 3), got {y.shape}")
    return y


def _bone_pair_indices(skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    """Joint indices of consecutive bone pairs along every part chain.

    Returns ``first`` and ``second``, each (N, 2) int32 of (start, end) joints, where pair n is
    (bone B_{p,l}, bone B_{p,l+1}); parts in skeleton order, layers root to tip.
    """
    first, second = [], []
    for chain in skeleton.part_chains:
        for l in range(len(chain) - 2):
            first.append((chain[l], chain[l + 1]))
            second.append((chain[l + 1], chain[l + 2]))
    return np.asarray(first, np.int32), np.asarray(second, np.int32)


def _bone_vectors(joints: tf.Tensor, idx: np.ndarray) -> tf.Tensor:
    """joints (B, J, 3), idx (N, 2) -> bone vectors end - start, (B, N, 3)."""
    return tf.gather(joints, idx[:, 1], axis=1) - tf.gather(joints, idx[:, 0], axis=1)


def _safe_norm(v: tf.Tensor, eps: float) -> tf.Tensor:
    """|v| over the last axis, (..., 3) -> (...); 0 with zero gradient where |v| <= eps."""
    sq = tf.reduce_sum(tf.square(v), axis=-1)
    ok = sq > eps * eps
    return tf.where(ok, tf.sqrt(tf.where(ok, sq, 1.0)), 0.0)


def _safe_unit(v: tf.Tensor, eps: float) -> tf.Tensor:
    """v / |v|, (..., 3); the zero vector with zero gradient where |v| <= eps."""
    sq = tf.reduce_sum(tf.square(v), axis=-1, keepdims=True)
    ok = sq > eps * eps
    return tf.where(ok, v * tf.math.rsqrt(tf.where(ok, sq, 1.0)), 0.0)


def bone_angles(joints, skeleton: Skeleton = ICVL_SKELETON, eps: float = BONE_EPS) -> tf.Tensor:
    """Angles theta_{p,l} between consecutive bones of every part, radians in [0, pi].

    joints (B, J, 3) or (B, 3J), any length unit -> (B, N) with N = sum over parts of (len(chain) - 2)
    (10 for ICVL: per finger, at the root then at the middle joint). 0 = straight.
    """
    x = as_joints(joints)  # (B, J, 3)
    first, second = _bone_pair_indices(skeleton)
    a = _safe_unit(_bone_vectors(x, first), eps)  # (B, N, 3)
    b = _safe_unit(_bone_vectors(x, second), eps)  # (B, N, 3)
    cross_sq = tf.reduce_sum(tf.square(tf.linalg.cross(a, b)), axis=-1)  # (B, N)
    dot = tf.reduce_sum(a * b, axis=-1)  # (B, N)
    # sqrt(s + tiny) keeps the gradient finite (zero) for straight and folded-back fingers.
    return tf.atan2(tf.sqrt(cross_sq + 1e-14), dot)


def bone_length_ratios(joints, skeleton: Skeleton = ICVL_SKELETON, eps: float = BONE_EPS) -> tf.Tensor:
    """Adjacent bone-length ratios G_{p,l} = |B_{l+1}| / (|B_l| + |B_{l+1}|) in [0, 1] (Eq. 7).

    joints (B, J, 3) or (B, 3J) -> (B, N), same pair order as ``bone_angles``; 0.5 when both bones
    are shorter than ``eps``.
    """
    x = as_joints(joints)  # (B, J, 3)
    first, second = _bone_pair_indices(skeleton)
    na = _safe_norm(_bone_vectors(x, first), eps)  # (B, N)
    nb = _safe_norm(_bone_vectors(x, second), eps)  # (B, N)
    den = na + nb
    ok = den > eps
    return tf.where(ok, nb / tf.where(ok, den, 1.0), 0.5)


def angle_penalty(theta: tf.Tensor, threshold: float, penalty: str) -> tf.Tensor:
    """F(theta) of Eq. 5 for angles in radians: "step" (1 at or above threshold, else 0; no gradient)
    or "hinge" (max(0, theta - threshold), radians)."""
    if penalty == "step":
        return tf.cast(theta >= threshold, theta.dtype)
    if penalty == "hinge":
        return tf.nn.relu(theta - threshold)
    raise ValueError(f"penalty must be one of {PENALTIES}, got {penalty!r}")


def joint_loss(y_true, y_pred) -> tf.Tensor:
    """Eq. 1 summed over joints: sum_j ||X_j - X_j^GT||^2, in squared input units; (B,)."""
    d = as_joints(y_pred) - as_joints(y_true)  # (B, J, 3)
    return tf.reduce_sum(tf.square(d), axis=[1, 2])


def skeleton_difference_terms(y_true, y_pred, omega1: float = 1.0, omega2: float = 1.0,
                              threshold: float = DEFAULT_THRESHOLD_RAD, penalty: str = "step",
                              skeleton: Skeleton = ICVL_SKELETON) -> tuple[tf.Tensor, tf.Tensor]:
    """(Loss_a, Loss_b) of Eq. 3 and Eq. 6, each (B,), unitless. ``threshold`` in radians."""
    th = bone_angles(y_pred, skeleton)  # (B, N)
    th_gt = bone_angles(y_true, skeleton)  # (B, N)
    half = tf.clip_by_value(0.5 * (th - th_gt), -TAN_HALF_ANGLE_CAP, TAN_HALF_ANGLE_CAP)
    loss_a = tf.reduce_sum(omega1 * tf.abs(tf.tan(half)) + omega2 * angle_penalty(th, threshold, penalty),
                           axis=-1)
    g = bone_length_ratios(y_pred, skeleton)  # (B, N)
    g_gt = bone_length_ratios(y_true, skeleton)  # (B, N)
    loss_b = tf.reduce_sum(tf.abs(g - g_gt), axis=-1)
    return loss_a, loss_b


def skeleton_difference_loss(y_true, y_pred, alpha: float = 1.0, beta: float = 1.0, omega1: float = 1.0,
                             omega2: float = 1.0, threshold: float = DEFAULT_THRESHOLD_RAD,
                             penalty: str = "step", skeleton: Skeleton = ICVL_SKELETON) -> tf.Tensor:
    """psi_SDL = alpha Loss_a + beta Loss_b (Eq. 2), unitless, one value per example: (B,).

    y_true, y_pred: (B, J, 3) or (B, 3J), same length unit (mm or normalized). ``threshold``: radians.
    """
    if penalty not in PENALTIES:
        raise ValueError(f"penalty must be one of {PENALTIES}, got {penalty!r}")
    loss_a, loss_b = skeleton_difference_terms(y_true, y_pred, omega1, omega2, threshold, penalty, skeleton)
    return alpha * loss_a + beta * loss_b


def sdnet_loss(y_true, y_pred, sdl_weight: float = 0.0, **sdl_kwargs) -> tf.Tensor:
    """Total training loss: joint loss + sdl_weight * psi_SDL; (B,). sdl_weight = 0 is the baseline."""
    total = joint_loss(y_true, y_pred)
    if sdl_weight:
        total = total + sdl_weight * skeleton_difference_loss(y_true, y_pred, **sdl_kwargs)
    return total


def mean_joint_error(y_true, y_pred, scale: float = 1.0) -> tf.Tensor:
    """Mean over joints of the Euclidean joint error, times ``scale``; (B,).

    With normalized joints and ``scale = cube_mm / 2`` this is the error in mm.
    """
    d = as_joints(y_pred) - as_joints(y_true)  # (B, J, 3)
    return scale * tf.reduce_mean(tf.norm(d, axis=-1), axis=-1)


# ---- Keras wrappers -------------------------------------------------------------------------------

@keras.saving.register_keras_serializable(package="sdnet")
class JointLoss(keras.losses.Loss):
    """Keras form of ``joint_loss`` (Eq. 1); batch mean of the per-example sums."""

    def __init__(self, name: str = "joint_loss", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        return joint_loss(y_true, y_pred)


@keras.saving.register_keras_serializable(package="sdnet")
class SkeletonDifferenceLoss(keras.losses.Loss):
    """Keras form of ``skeleton_difference_loss`` (Eq. 2-7); ``threshold`` in radians."""

    def __init__(self, alpha: float = 1.0, beta: float = 1.0, omega1: float = 1.0, omega2: float = 1.0,
                 threshold: float = DEFAULT_THRESHOLD_RAD, penalty: str = "step",
                 name: str = "skeleton_difference_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if penalty not in PENALTIES:
            raise ValueError(f"penalty must be one of {PENALTIES}, got {penalty!r}")
        self.sdl = dict(alpha=float(alpha), beta=float(beta), omega1=float(omega1), omega2=float(omega2),
                        threshold=float(threshold), penalty=penalty)

    def call(self, y_true, y_pred):
        return skeleton_difference_loss(y_true, y_pred, **self.sdl)

    def get_config(self):
        return {**super().get_config(), **self.sdl}


@keras.saving.register_keras_serializable(package="sdnet")
class SDNetLoss(SkeletonDifferenceLoss):
    """Joint loss + ``sdl_weight`` * psi_SDL (the paper's training loss; 0 gives the baseline)."""

    def __init__(self, sdl_weight: float = 0.0, name: str = "sdnet_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.sdl_weight = float(sdl_weight)

    def call(self, y_true, y_pred):
        return sdnet_loss(y_true, y_pred, sdl_weight=self.sdl_weight, **self.sdl)

    def get_config(self):
        return {**super().get_config(), "sdl_weight": self.sdl_weight}


@keras.saving.register_keras_serializable(package="sdnet")
class MeanJointErrorMM(keras.metrics.Mean):
    """Running mean joint error in mm of normalized joints: ``mean_joint_error * cube_mm / 2``.

    Valid for records whose cube is ``cube_mm`` (validation and test records are never augmented).
    """

    def __init__(self, cube_mm: float, name: str = "mean_error_mm", **kwargs):
        super().__init__(name=name, **kwargs)
        self.cube_mm = float(cube_mm)

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(mean_joint_error(y_true, y_pred, self.cube_mm / 2.0), sample_weight)

    def get_config(self):
        return {**super().get_config(), "cube_mm": self.cube_mm}


@keras.saving.register_keras_serializable(package="sdnet")
class SkeletonDifferenceMetric(keras.metrics.Mean):
    """Running batch mean of psi_SDL (unitless), logged beside the loss whatever its weight."""

    def __init__(self, name: str = "sdl", **sdl_kwargs):
        base = {k: sdl_kwargs.pop(k) for k in ("dtype",) if k in sdl_kwargs}
        super().__init__(name=name, **base)
        self.sdl = dict(sdl_kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(skeleton_difference_loss(y_true, y_pred, **self.sdl), sample_weight)

    def get_config(self):
        return {**super().get_config(), **self.sdl}
