"""Bone-length prior of the refinement: one 1-D Gaussian mixture per bone (paper Eq. 9).

The mixtures are fitted by EM (scikit-learn's ``GaussianMixture``) on the bone lengths of the
*training* split's ground truth, in mm, and evaluated in the TF graph as a TFP
``MixtureSameFamily(Categorical, Normal)`` with one batch member per bone. The run stores the fit as
JSON (``BonePrior.to_dict``); this module does no file I/O.

Energy scale (how gamma_D, gamma_M relate to the prior term of Eq. 8):

* ``mode="pdf"`` (the paper): ``phi_G = -pdf(|B|)``, in 1/mm. Its range is [-p_max, 0] with
  p_max ~ 1 / (sqrt(2 pi) sigma) ~ 0.1-0.2 /mm for ICVL's bone stds of 2-4 mm, and it is flat (no
  pull) more than ~3 sigma from every component.
* ``mode="neglogpdf"``: ``phi_G = -log pdf(|B|)`` (log of 1/mm), ~1.5-2 at the mode, growing like
  ``0.5 (dl / sigma)^2`` away from it, so it still pulls from far away.

Near a mode, ``-pdf ~ p_max * (-log pdf) + const``, so weights tuned for one mode carry over to the
other by a factor of about p_max: gamma_D, gamma_M (and the anchor weight) for ``neglogpdf`` are
roughly those for ``pdf`` divided by ~0.15. ``choose_refine_params`` picks them on validation data
for whichever mode is configured.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from sklearn.mixture import GaussianMixture

from pipeline.errors import SdnetError
from pipeline.skeleton import Skeleton

tfd = tfp.distributions

PRIOR_MODES = ("pdf", "neglogpdf")


@dataclass(frozen=True)
class BonePrior:
    """Per-bone 1-D Gaussian mixtures of bone length, in mm.

    Attributes:
      bones: (parent, child) joint pairs, in the order of ``Skeleton.bones``; row b of the arrays
        below describes bone b.
      weights: (B, K) mixture weights, each row sums to 1.
      means: (B, K) component means, mm; sorted ascending within a row.
      stds: (B, K) component standard deviations, mm, > 0.
    """

    bones: tuple[tuple[int, int], ...]
    weights: tuple[tuple[float, ...], ...]
    means: tuple[tuple[float, ...], ...]
    stds: tuple[tuple[float, ...], ...]

    def __post_init__(self) -> None:
        w, m, s = (np.asarray(x, dtype=np.float64) for x in (self.weights, self.means, self.stds))
        nb = len(self.bones)
        if w.ndim != 2 or w.shape[0] != nb or w.shape != m.shape or w.shape != s.shape:
            raise ValueError(
                f"bone prior: weights/means/stds must all be ({nb}, K), got {w.shape}, {m.shape}, {s.shape}")
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(m)) and np.all(np.isfinite(s))):
            raise ValueError("bone prior: non-finite parameter")
        if np.any(w < 0) or not np.allclose(w.sum(axis=1), 1.0, atol=1e-6):
            raise ValueError("bone prior: weights must be >= 0 and sum to 1 per bone")
        if np.any(s <= 0):
            raise ValueError("bone prior: stds must be > 0")

    @property
    def num_components(self) -> int:
        return len(self.weights[0])

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(weights, means, stds) as float64 arrays, each (B, K)."""
        return (np.asarray(self.weights, np.float64), np.asarray(self.means, np.float64),
                np.asarray(self.stds, np.float64))

    def check_skeleton(self, skeleton: Skeleton) -> None:
        """Raise SdnetError unless this prior was fitted for ``skeleton``'s bones."""
        if tuple(tuple(b) for b in self.bones) != tuple(skeleton.bones):
            raise SdnetError("bone prior was fitted for a different skeleton (bone list differs)")

    def to_dict(self) -> dict:
        """JSON-friendly form (lists of floats, mm)."""
        return {
            "bones": [list(b) for b in self.bones],
            "weights": [list(r) for r in self.weights],
            "means": [list(r) for r in self.means],
            "stds": [list(r) for r in self.stds],
        }

    @classmethod
    def from_dict(cls, d: dict) -> "BonePrior":
        """Inverse of ``to_dict``; unknown or missing keys raise ValueError."""
        keys = {"bones", "weights", "means", "stds"}
        if set(d) != keys:
            raise ValueError(f"bone prior: expected keys {sorted(keys)}, got {sorted(d)}")
        as_rows = lambda x: tuple(tuple(float(v) for v in r) for r in x)  # noqa: E731
        return cls(bones=tuple(tuple(int(v) for v in b) for b in d["bones"]),
                   weights=as_rows(d["weights"]), means=as_rows(d["means"]), stds=as_rows(d["stds"]))


def fit_bone_prior(joints_xyz: np.ndarray, skeleton: Skeleton, n_components: int = 5,
                   seed: int = 0) -> BonePrior:
    """Fit one 1-D Gaussian mixture (EM) per bone of ``skeleton`` (every parent -> child link, those of
    joints in no part included, e.g. NYU's palm -> wrist) to the bone lengths of ``joints_xyz``.

    Args:
      joints_xyz: (N, J, 3) ground-truth joints of the training split, camera xyz in mm (any rigid
        frame works: only lengths are used), J = ``skeleton.num_joints``. Never pass test labels.
      skeleton: the joints' skeleton (the run's); the prior has one mixture per ``skeleton.bones``.
      n_components: mixture components per bone (the paper uses 5).
      seed: random state of the EM initialisation.
    Returns:
      A ``BonePrior`` with (B, n_components) parameters, components sorted by mean.
    """
    joints_xyz = np.asarray(joints_xyz, dtype=np.float64)
    if joints_xyz.ndim != 3 or joints_xyz.shape[1:] != (skeleton.num_joints, 3):
        raise SdnetError(f"bone prior: joints must be (N, {skeleton.num_joints}, 3), got {joints_xyz.shape}")
    if not np.all(np.isfinite(joints_xyz)):
        raise SdnetError("bone prior: joints contain NaN or infinite values")
    if joints_xyz.shape[0] < n_components:
        raise SdnetError(
            f"bone prior: {joints_xyz.shape[0]} poses are too few for {n_components} components")
    lengths = skeleton.bone_lengths(joints_xyz)  # (N, B) mm
    models = []
    for b in range(lengths.shape[1]):
        gm = GaussianMixture(n_components=n_components, covariance_type="full", random_state=seed,
                             reg_covar=1e-3)  # reg_covar in mm^2: floors stds at ~0.03 mm
        models.append(gm.fit(lengths[:, b:b + 1]))
    return prior_from_sklearn(models, skeleton.bones)


def prior_from_sklearn(models, bones) -> BonePrior:
    """A ``BonePrior`` from fitted 1-D scikit-learn ``GaussianMixture`` models, one per bone.

    ``models[b]`` was fitted on the lengths (mm) of ``bones[b]``; any covariance type works.
    Components are sorted by mean.
    """
    if len(models) != len(bones):
        raise ValueError(f"bone prior: {len(models)} mixtures for {len(bones)} bones")
    weights, means, stds = [], [], []
    for gm in models:
        mu = np.asarray(gm.means_, dtype=np.float64)
        if mu.ndim != 2 or mu.shape[1] != 1:
            raise ValueError("bone prior: mixtures must be 1-D (fitted on (N, 1) lengths)")
        cov = np.asarray(gm.covariances_, dtype=np.float64)  # mm^2; shape depends on the type
        if gm.covariance_type == "tied":
            var = np.full(mu.shape[0], cov.reshape(-1)[0])  # (K,)
        else:
            var = cov.reshape(mu.shape[0], -1)[:, 0]  # (K,)
        order = np.argsort(mu[:, 0])
        w = np.asarray(gm.weights_, dtype=np.float64)[order]
        weights.append(tuple(float(v) for v in w / w.sum()))
        means.append(tuple(float(v) for v in mu[order, 0]))
        stds.append(tuple(float(v) for v in np.sqrt(var[order])))
    return BonePrior(bones=tuple(tuple(int(v) for v in b) for b in bones), weights=tuple(weights),
                     means=tuple(means), stds=tuple(stds))


def mixture_from_params(weights, means, stds) -> tfd.MixtureSameFamily:
    """A TFP mixture from (..., K) tensors of weights, means (mm) and stds (mm); batch shape (...)."""
    return tfd.MixtureSameFamily(
        mixture_distribution=tfd.Categorical(probs=weights),
        components_distribution=tfd.Normal(loc=means, scale=stds))


def bone_mixture(prior: BonePrior, bone_ids=None, dtype=tf.float32) -> tfd.MixtureSameFamily:
    """The prior as a TFP ``MixtureSameFamily(Categorical, Normal)``.

    Batch shape (B,) (one member per bone, in ``prior.bones`` order), or ``bone_ids.shape`` when
    ``bone_ids`` selects bones; event shape (). ``log_prob(lengths)`` takes lengths in mm whose
    trailing dims broadcast against the batch shape, e.g. (N, B).
    """
    w, m, s = prior.arrays()
    if bone_ids is not None:
        ids = np.asarray(bone_ids)
        w, m, s = w[ids], m[ids], s[ids]
    return mixture_from_params(tf.constant(w, dtype), tf.constant(m, dtype), tf.constant(s, dtype))


def energy_from_log_prob(log_prob, mode: str):
    """phi_G from a mixture log density: ``-exp(log_prob)`` (mode 'pdf', Eq. 9) or ``-log_prob``."""
    if mode == "pdf":
        return -tf.exp(log_prob)
    if mode == "neglogpdf":
        return -log_prob
    raise ValueError(f"prior mode must be one of {PRIOR_MODES}, got {mode!r}")


def phi_G(lengths, prior: BonePrior, mode: str = "pdf") -> tf.Tensor:
    """Bone-length energy of Eq. 9 for lengths (..., B) in mm, bone b in column b; returns (..., B).

    ``mode="pdf"``: -pdf in 1/mm (the paper). ``mode="neglogpdf"``: -log pdf. See the module
    docstring for how the two scales relate.
    """
    if mode not in PRIOR_MODES:
        raise ValueError(f"prior mode must be one of {PRIOR_MODES}, got {mode!r}")
    lengths = tf.convert_to_tensor(lengths, tf.float32)  # (..., B)
    return energy_from_log_prob(bone_mixture(prior).log_prob(lengths), mode)
