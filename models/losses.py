"""SDNet losses: the Euclidean joint loss (paper Eq. 1) and the skeleton-difference loss (Eq. 2-7).

All functions take joints of shape (B, J, 3) or (B, 3J) (joint-major x0, y0, z0, x1, ...) in any one
length unit (mm, or the normalized crop units of ``pipeline.input``: (xyz - centre) / (cube / 2)) and
return one value per example, shape (B,). Parts and bones come from a ``Skeleton``, a required
argument (the run's, ``pipeline.rundir.run_skeleton``); nothing here knows J or the dataset. Parts may
have any length: a part of k joints gives k - 2 bone pairs (ICVL's fingers palm, root, mid, tip: 2;
NYU's palm, mid, tip: 1), and joints in no part (NYU's wrist points) are not in psi_SDL. The Keras
classes carry their skeleton in their config (``Skeleton.to_dict()``), so a saved model reloads.

Our reading of the paper's equations (the extracted text is garbled; this is what we implement):

* Eq. 1, joint loss, two readings (``JOINT_READINGS``): ``"squared"``, ``psi_D = sum_j ||X_j -
  X_j^GT||^2``, the squared Euclidean distance summed over the J joints (Caffe's Euclidean loss without
  its 1/2); ``"distance"``, ``psi_D = sum_j ||X_j - X_j^GT||``, the plain Euclidean distance per joint.
  The squared reading's gradient shrinks with the error, the distance reading's does not, which
  decides how large w must be for psi_SDL to matter (docs/reproduce/README.md).
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

``threshold`` is one angle (radians) or one per bone pair, shape (N,) in ``bone_angles`` order; the
training code derives the per-angle thresholds from the training labels (``angle_thresholds``: a high
percentile of each angle), so no correct training pose is penalised by a guessed constant.
``DEFAULT_THRESHOLD_RAD`` (110 degrees, about the largest active flexion of a finger joint) is only
the fallback when none is given.
"""
from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from pipeline.skeleton import Skeleton

DEFAULT_THRESHOLD_RAD = math.radians(110.0)
TAN_HALF_ANGLE_CAP = 1.5
BONE_EPS = 1e-6
PENALTIES = ("step", "hinge")
JOINT_READINGS = ("squared", "distance")


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


def bone_angles(joints, skeleton: Skeleton, eps: float = BONE_EPS) -> tf.Tensor:
    """Angles theta_{p,l} between consecutive bones of every part, radians in [0, pi].

    joints (B, J, 3) or (B, 3J), any length unit -> (B, N) with N = sum over parts of (len(chain) - 2)
    (10 for ICVL: per finger, at the root then at the middle joint; 6 for NYU: the thumb's 2, one per
    other finger, at its mid joint). 0 = straight.
    """
    x = as_joints(joints)  # (B, J, 3)
    first, second = _bone_pair_indices(skeleton)
    a = _safe_unit(_bone_vectors(x, first), eps)  # (B, N, 3)
    b = _safe_unit(_bone_vectors(x, second), eps)  # (B, N, 3)
    cross_sq = tf.reduce_sum(tf.square(tf.linalg.cross(a, b)), axis=-1)  # (B, N)
    dot = tf.reduce_sum(a * b, axis=-1)  # (B, N)
    # sqrt(s + tiny) keeps the gradient finite (zero) for straight and folded-back fingers.
    return tf.atan2(tf.sqrt(cross_sq + 1e-14), dot)


def bone_length_ratios(joints, skeleton: Skeleton, eps: float = BONE_EPS) -> tf.Tensor:
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


def angle_thresholds(joints, percentile: float, skeleton: Skeleton) -> np.ndarray:
    """Per-angle thresholds from example poses: the ``percentile`` (0-100) of each bone-pair angle
    over ``joints`` (N, J, 3) or (N, 3J), any length unit -> (num pairs,) radians, ``bone_angles``
    order (per finger: root, then middle joint)."""
    theta = bone_angles(np.asarray(joints, np.float32), skeleton).numpy()  # (N, pairs)
    return np.percentile(theta, percentile, axis=0).astype(np.float64)


def _threshold_tensor(threshold) -> tf.Tensor:
    """A scalar or (N,) float32 threshold [radians] that broadcasts against (B, N) angles."""
    return tf.constant(np.asarray(threshold, np.float32))


def angle_penalty(theta: tf.Tensor, threshold, penalty: str) -> tf.Tensor:
    """F(theta) of Eq. 5 for angles in radians: "step" (1 at or above threshold, else 0; no gradient)
    or "hinge" (max(0, theta - threshold), radians). ``threshold``: radians, scalar or (N,)."""
    threshold = _threshold_tensor(threshold)
    if penalty == "step":
        return tf.cast(theta >= threshold, theta.dtype)
    if penalty == "hinge":
        return tf.nn.relu(theta - threshold)
    raise ValueError(f"penalty must be one of {PENALTIES}, got {penalty!r}")


def joint_loss(y_true, y_pred, reading: str = "squared") -> tf.Tensor:
    """Eq. 1 summed over joints, (B,): ``"squared"``, sum_j ||X_j - X_j^GT||^2 (squared input units),
    or ``"distance"``, sum_j ||X_j - X_j^GT|| (input units; its gradient is finite, zero, at 0)."""
    d = as_joints(y_pred) - as_joints(y_true)  # (B, J, 3)
    if reading == "squared":
        return tf.reduce_sum(tf.square(d), axis=[1, 2])
    if reading == "distance":
        return tf.reduce_sum(_safe_norm(d, BONE_EPS), axis=1)
    raise ValueError(f"joint loss reading must be one of {JOINT_READINGS}, got {reading!r}")


def skeleton_difference_terms(y_true, y_pred, skeleton: Skeleton, omega1: float = 1.0, omega2: float = 1.0,
                              threshold=DEFAULT_THRESHOLD_RAD,
                              penalty: str = "step") -> tuple[tf.Tensor, tf.Tensor]:
    """(Loss_a, Loss_b) of Eq. 3 and Eq. 6, each (B,), unitless. ``threshold``: radians, scalar or
    one per bone pair (N,)."""
    th = bone_angles(y_pred, skeleton)  # (B, N)
    th_gt = bone_angles(y_true, skeleton)  # (B, N)
    half = tf.clip_by_value(0.5 * (th - th_gt), -TAN_HALF_ANGLE_CAP, TAN_HALF_ANGLE_CAP)
    loss_a = tf.reduce_sum(omega1 * tf.abs(tf.tan(half)) + omega2 * angle_penalty(th, threshold, penalty),
                           axis=-1)
    g = bone_length_ratios(y_pred, skeleton)  # (B, N)
    g_gt = bone_length_ratios(y_true, skeleton)  # (B, N)
    loss_b = tf.reduce_sum(tf.abs(g - g_gt), axis=-1)
    return loss_a, loss_b


def skeleton_difference_loss(y_true, y_pred, skeleton: Skeleton, alpha: float = 1.0, beta: float = 1.0,
                             omega1: float = 1.0, omega2: float = 1.0, threshold=DEFAULT_THRESHOLD_RAD,
                             penalty: str = "step") -> tf.Tensor:
    """psi_SDL = alpha Loss_a + beta Loss_b (Eq. 2), unitless, one value per example: (B,).

    y_true, y_pred: (B, J, 3) or (B, 3J), same length unit (mm or normalized). ``threshold``: radians,
    scalar or (N,).
    """
    if penalty not in PENALTIES:
        raise ValueError(f"penalty must be one of {PENALTIES}, got {penalty!r}")
    loss_a, loss_b = skeleton_difference_terms(y_true, y_pred, skeleton, omega1, omega2, threshold, penalty)
    return alpha * loss_a + beta * loss_b


def sdnet_loss(y_true, y_pred, skeleton: Skeleton, sdl_weight=0.0, joint: str = "squared",
               **sdl_kwargs) -> tf.Tensor:
    """Total training loss: joint loss (reading ``joint``) + sdl_weight * psi_SDL; (B,).

    ``sdl_weight``: a float (0 is the baseline: psi_SDL is not computed) or a scalar tensor/variable
    (a schedule sets it during training)."""
    total = joint_loss(y_true, y_pred, joint)
    if isinstance(sdl_weight, (int, float)) and not sdl_weight:
        return total
    return total + tf.cast(sdl_weight, tf.float32) * skeleton_difference_loss(y_true, y_pred, skeleton, **sdl_kwargs)


def gradient_norms(y_true, y_pred, skeleton: Skeleton, joint: str = "squared",
                   **sdl_kwargs) -> tuple[tf.Tensor, tf.Tensor]:
    """(|d mean psi_D / d y_pred|, |d mean psi_SDL / d y_pred|): Frobenius norms over the batch of the
    gradients of the batch-mean joint loss and of the *unweighted* batch-mean psi_SDL with respect to
    the network's outputs (the 3J coordinates), i.e. what each term sends back into the network.

    Their ratio is the balance weight: with w = |g_D| / |g_SDL| the two terms pull equally hard."""
    y = tf.cast(tf.convert_to_tensor(y_pred), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(y)
        d = tf.reduce_mean(joint_loss(y_true, y, joint))
        s = tf.reduce_mean(skeleton_difference_loss(y_true, y, skeleton, **sdl_kwargs))
    g_d, g_s = tape.gradient(d, y), tape.gradient(s, y)
    del tape
    return tf.norm(g_d), tf.norm(g_s)


def gradient_share(norm_joint, norm_sdl, weight) -> tf.Tensor:
    """Share of the output-gradient norm carried by the weighted skeleton terms, in [0, 1]:
    w |g_SDL| / (|g_D| + w |g_SDL|); 0 when both are zero."""
    ws = tf.cast(weight, tf.float32) * norm_sdl
    den = norm_joint + ws
    return tf.where(den > 0, ws / tf.where(den > 0, den, 1.0), 0.0)


def mean_joint_error(y_true, y_pred, scale: float = 1.0) -> tf.Tensor:
    """Mean over joints of the Euclidean joint error, times ``scale``; (B,).

    With normalized joints and ``scale = cube_mm / 2`` this is the error in mm.
    """
    d = as_joints(y_pred) - as_joints(y_true)  # (B, J, 3)
    return scale * tf.reduce_mean(tf.norm(d, axis=-1), axis=-1)


# ---- Keras wrappers -------------------------------------------------------------------------------

def _threshold_config(threshold):
    """A threshold [radians] as JSON-able config: a float, or a list of floats (one per bone pair)."""
    a = np.asarray(threshold, np.float64)
    return float(a) if a.ndim == 0 else [float(v) for v in a]


def _sdl_config(alpha=1.0, beta=1.0, omega1=1.0, omega2=1.0, threshold=DEFAULT_THRESHOLD_RAD,
                penalty="step") -> dict:
    if penalty not in PENALTIES:
        raise ValueError(f"penalty must be one of {PENALTIES}, got {penalty!r}")
    return dict(alpha=float(alpha), beta=float(beta), omega1=float(omega1), omega2=float(omega2),
                threshold=_threshold_config(threshold), penalty=penalty)


def as_skeleton(skeleton) -> Skeleton:
    """A ``Skeleton``, or the ``Skeleton.to_dict()`` a saved loss or metric config holds, as a Skeleton."""
    return skeleton if isinstance(skeleton, Skeleton) else Skeleton.from_dict(skeleton)


def _check_reading(joint: str) -> str:
    if joint not in JOINT_READINGS:
        raise ValueError(f"joint loss reading must be one of {JOINT_READINGS}, got {joint!r}")
    return joint


@keras.saving.register_keras_serializable(package="sdnet")
class JointLoss(keras.losses.Loss):
    """Keras form of ``joint_loss`` (Eq. 1, reading ``joint``); batch mean of the per-example sums."""

    def __init__(self, joint: str = "squared", name: str = "joint_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.joint = _check_reading(joint)

    def call(self, y_true, y_pred):
        return joint_loss(y_true, y_pred, self.joint)

    def get_config(self):
        return {**super().get_config(), "joint": self.joint}


@keras.saving.register_keras_serializable(package="sdnet")
class SkeletonDifferenceLoss(keras.losses.Loss):
    """Keras form of ``skeleton_difference_loss`` (Eq. 2-7); ``threshold`` in radians (scalar or (N,)).
    ``skeleton``: a Skeleton or its ``to_dict()`` (the config keeps the dict)."""

    def __init__(self, skeleton, alpha: float = 1.0, beta: float = 1.0, omega1: float = 1.0,
                 omega2: float = 1.0, threshold=DEFAULT_THRESHOLD_RAD, penalty: str = "step",
                 name: str = "skeleton_difference_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.skeleton = as_skeleton(skeleton)
        self.sdl = _sdl_config(alpha, beta, omega1, omega2, threshold, penalty)

    def call(self, y_true, y_pred):
        return skeleton_difference_loss(y_true, y_pred, self.skeleton, **self.sdl)

    def get_config(self):
        return {**super().get_config(), "skeleton": self.skeleton.to_dict(), **self.sdl}


@keras.saving.register_keras_serializable(package="sdnet")
class SDNetLoss(SkeletonDifferenceLoss):
    """Joint loss (reading ``joint``) + w * psi_SDL, the paper's training loss; w = 0 is the baseline.

    w is ``sdl_weight`` unless ``use_weight_variable`` attached a scalar variable that a schedule
    updates during training (``pipeline.train``); the saved config keeps ``sdl_weight``, the target.
    """

    def __init__(self, skeleton, sdl_weight: float = 0.0, joint: str = "squared", name: str = "sdnet_loss",
                 **kwargs):
        super().__init__(skeleton, name=name, **kwargs)
        self.sdl_weight = float(sdl_weight)
        self.joint = _check_reading(joint)
        self.weight = None

    def use_weight_variable(self, variable) -> None:
        """Read w from ``variable`` (a scalar tf.Variable) at every step from now on."""
        self.weight = variable

    def call(self, y_true, y_pred):
        w = self.weight if (self.weight is not None and self.sdl_weight) else self.sdl_weight
        return sdnet_loss(y_true, y_pred, self.skeleton, sdl_weight=w, joint=self.joint, **self.sdl)

    def get_config(self):
        return {**super().get_config(), "sdl_weight": self.sdl_weight, "joint": self.joint}


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


def _sdl_metric_kwargs(kwargs: dict) -> tuple[dict, dict]:
    """Split a metric's kwargs into (keras Mean kwargs, psi_SDL kwargs); the skeleton is apart."""
    base = {k: kwargs.pop(k) for k in ("dtype",) if k in kwargs}
    return base, _sdl_config(**kwargs)


@keras.saving.register_keras_serializable(package="sdnet")
class SkeletonDifferenceMetric(keras.metrics.Mean):
    """Running batch mean of psi_SDL (unitless), logged beside the loss whatever its weight."""

    def __init__(self, skeleton, name: str = "sdl", **sdl_kwargs):
        base, self.sdl = _sdl_metric_kwargs(dict(sdl_kwargs))
        super().__init__(name=name, **base)
        self.skeleton = as_skeleton(skeleton)

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(skeleton_difference_loss(y_true, y_pred, self.skeleton, **self.sdl),
                                    sample_weight)

    def get_config(self):
        return {**super().get_config(), "skeleton": self.skeleton.to_dict(), **self.sdl}


@keras.saving.register_keras_serializable(package="sdnet")
class LossTermMetric(keras.metrics.Mean):
    """Running batch mean of one unweighted term of the loss: ``term`` = "joint" (psi_D, reading
    ``joint``), "loss_a" (angle term, Eq. 3) or "loss_b" (bone-ratio term, Eq. 6)."""

    TERMS = ("joint", "loss_a", "loss_b")

    def __init__(self, term: str, skeleton, joint: str = "squared", name: str | None = None, **sdl_kwargs):
        if term not in self.TERMS:
            raise ValueError(f"term must be one of {self.TERMS}, got {term!r}")
        base, self.sdl = _sdl_metric_kwargs(dict(sdl_kwargs))
        super().__init__(name=name or term, **base)
        self.term, self.joint, self.skeleton = term, _check_reading(joint), as_skeleton(skeleton)

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.term == "joint":
            value = joint_loss(y_true, y_pred, self.joint)
        else:
            terms = skeleton_difference_terms(y_true, y_pred, self.skeleton, self.sdl["omega1"], self.sdl["omega2"],
                                              self.sdl["threshold"], self.sdl["penalty"])
            value = terms[0] if self.term == "loss_a" else terms[1]
        return super().update_state(value, sample_weight)

    def get_config(self):
        return {**super().get_config(), "term": self.term, "joint": self.joint,
                "skeleton": self.skeleton.to_dict(), **self.sdl}


@keras.saving.register_keras_serializable(package="sdnet")
class GradientBalanceMetric(keras.metrics.Mean):
    """Running mean over batches of how hard psi_SDL pulls against psi_D (``gradient_norms``):

    ``quantity="share"``: w |g_SDL| / (|g_D| + w |g_SDL|), the share of the output-gradient norm the
    weighted skeleton terms carry (w: ``weight``, a float or the scheduled variable of ``SDNetLoss``);
    ``quantity="balance_w"``: |g_D| / |g_SDL|, the w at which both terms would pull equally hard.
    """

    QUANTITIES = ("share", "balance_w")

    def __init__(self, skeleton, quantity: str = "share", joint: str = "squared", weight=0.0,
                 name: str | None = None, **sdl_kwargs):
        if quantity not in self.QUANTITIES:
            raise ValueError(f"quantity must be one of {self.QUANTITIES}, got {quantity!r}")
        base, self.sdl = _sdl_metric_kwargs(dict(sdl_kwargs))
        super().__init__(name=name or f"sdl_grad_{quantity}", **base)
        self.quantity, self.joint, self.weight = quantity, _check_reading(joint), weight
        self.skeleton = as_skeleton(skeleton)

    def update_state(self, y_true, y_pred, sample_weight=None):
        g_d, g_s = gradient_norms(y_true, y_pred, self.skeleton, self.joint, **self.sdl)
        if self.quantity == "share":
            value = gradient_share(g_d, g_s, self.weight)
        else:
            value = tf.where(g_s > 0, g_d / tf.where(g_s > 0, g_s, 1.0), 0.0)
        return super().update_state(value)

    def get_config(self):
        w = self.weight if isinstance(self.weight, (int, float)) else float(self.weight.numpy())
        return {**super().get_config(), "quantity": self.quantity, "joint": self.joint, "weight": w,
                "skeleton": self.skeleton.to_dict(), **self.sdl}
