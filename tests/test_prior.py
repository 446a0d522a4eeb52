"""Bone-length prior: EM fit per bone, TFP mixture evaluation, JSON round trip (models/prior.py)."""
import json

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

from models.prior import BonePrior, bone_mixture, fit_bone_prior, phi_G, prior_from_sklearn
from pipeline.errors import SdnetError
from pipeline.skeleton import ICVL_SKELETON, NYU_SKELETON, Skeleton

SK = ICVL_SKELETON


UNKNOWN_BONE_MM = (60.0, 4.0)  # (mean, std) for the bones whose length the skeleton does not give


def random_hands(n: int, seed: int = 0, sk: Skeleton = SK, bimodal_child: int = 5) -> np.ndarray:
    """(n, J, 3) mm: random bone directions, lengths ~ N(mean, std) of the skeleton's prior
    knowledge (``UNKNOWN_BONE_MM`` where it has none), a second length mode (+6 mm, 30 %) on the bone
    ending at ``bimodal_child`` (ICVL: the index finger's middle bone). Joints in any index order
    (NYU's root is its last joint): parents are placed before their children."""
    rng = np.random.default_rng(seed)
    known = [b if b is not None else UNKNOWN_BONE_MM for b in sk.bone_length_mm]
    mean = np.array([m for m, _ in known])
    std = np.array([s for _, s in known])
    lengths = rng.normal(mean, std, (n, len(mean)))  # (n, B)
    lengths[:, sk.bone_index(bimodal_child)] += 6.0 * (rng.random(n) < 0.3)
    joints = np.zeros((n, sk.num_joints, 3))
    joints[:, sk.root] = [0.0, 0.0, 350.0]
    for child in sorted(range(sk.num_joints), key=lambda j: sk.layers[j]):
        parent = sk.parents[child]
        if parent < 0:
            continue
        d = rng.normal(size=(n, 3))
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        joints[:, child] = joints[:, parent] + d * lengths[:, sk.bone_index(child), None]
    return joints


@pytest.fixture(scope="module")
def hands():
    return random_hands(400)


@pytest.fixture(scope="module")
def prior(hands):
    return fit_bone_prior(hands, SK, n_components=5, seed=0)


def test_fit_has_one_mixture_per_bone_and_matches_sample_moments(hands, prior):
    w, m, s = prior.arrays()
    assert w.shape == m.shape == s.shape == (15, 5)
    assert prior.bones == SK.bones
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-9)
    assert np.all(np.diff(m, axis=1) >= 0)  # components sorted by mean
    lengths = SK.bone_lengths(hands)  # (N, B)
    # EM keeps the mixture mean at the sample mean, and its variance at the sample variance.
    mix_mean = (w * m).sum(axis=1)
    mix_var = (w * (s ** 2 + m ** 2)).sum(axis=1) - mix_mean ** 2
    np.testing.assert_allclose(mix_mean, lengths.mean(axis=0), atol=0.05)
    np.testing.assert_allclose(mix_var, lengths.var(axis=0), rtol=0.05)


def test_tfp_mixture_density_matches_sklearn(hands):
    lengths = SK.bone_lengths(hands)  # (N, B)
    models = [GaussianMixture(5, random_state=1).fit(lengths[:, b:b + 1]) for b in range(15)]
    prior = prior_from_sklearn(models, SK.bones)
    mixture = bone_mixture(prior)
    assert tuple(mixture.batch_shape) == (15,)
    assert tuple(mixture.event_shape) == ()
    query = np.linspace(5.0, 75.0, 141)[:, None] * np.ones((1, 15))  # (Q, B) mm
    ours = mixture.log_prob(query.astype(np.float32)).numpy()  # (Q, B)
    ref = np.stack([models[b].score_samples(query[:, b:b + 1]) for b in range(15)], axis=1)
    near = ref > -30  # compare where float32 densities are meaningful
    np.testing.assert_allclose(ours[near], ref[near], atol=2e-3, rtol=1e-4)
    np.testing.assert_allclose(np.exp(ours), np.exp(ref), atol=1e-6)


def test_phi_G_is_negative_pdf_or_negative_log_pdf(hands, prior):
    lengths = SK.bone_lengths(hands[:20]).astype(np.float32)  # (20, B)
    log_p = bone_mixture(prior).log_prob(lengths).numpy()
    np.testing.assert_allclose(phi_G(lengths, prior, "pdf").numpy(), -np.exp(log_p), rtol=1e-5)
    np.testing.assert_allclose(phi_G(lengths, prior, "neglogpdf").numpy(), -log_p, rtol=1e-5)
    # the typical length of a bone scores better than a length 5 std away
    mean = np.array([m for m, _ in SK.bone_length_mm], dtype=np.float32)
    std = np.array([s for _, s in SK.bone_length_mm], dtype=np.float32)
    assert np.all(phi_G(mean, prior).numpy() < phi_G(mean + 5 * std, prior).numpy())
    with pytest.raises(ValueError, match="prior mode"):
        phi_G(lengths, prior, "logpdf")


def test_prior_json_round_trip_and_validation(prior):
    back = BonePrior.from_dict(json.loads(json.dumps(prior.to_dict())))
    assert back == prior
    d = prior.to_dict()
    with pytest.raises(ValueError, match="expected keys"):
        BonePrior.from_dict({**d, "extra": 1})
    bad = dict(d, stds=[[0.0] * 5] + d["stds"][1:])
    with pytest.raises(ValueError, match="stds"):
        BonePrior.from_dict(bad)
    with pytest.raises(ValueError, match=r"\(15, K\)"):
        BonePrior.from_dict(dict(d, means=d["means"][:-1]))


def test_fit_rejects_bad_input(hands):
    with pytest.raises(SdnetError, match="too few"):
        fit_bone_prior(hands[:3], SK, n_components=5)
    with pytest.raises(SdnetError, match=r"\(N, 16, 3\)"):
        fit_bone_prior(hands[:, :15], SK)
    nan = hands.copy()
    nan[0, 0, 0] = np.nan
    with pytest.raises(SdnetError, match="NaN"):
        fit_bone_prior(nan, SK)


def test_nyu_prior_fits_every_bone_of_its_tree_and_pulls_to_the_mode():
    sk = NYU_SKELETON
    tip = sk.joint_names.index("index_tip")
    hands = random_hands(300, seed=1, sk=sk, bimodal_child=tip)
    prior = fit_bone_prior(hands, sk, n_components=3, seed=0)
    w, m, s = prior.arrays()
    assert prior.bones == sk.bones and w.shape == (13, 3)  # 14 joints, 13 bones, the wrist ones too
    lengths = sk.bone_lengths(hands)  # (N, 13)
    np.testing.assert_allclose((w * m).sum(axis=1), lengths.mean(axis=0), atol=0.05)
    # the energy is lowest near the typical length and rises away from it, for every bone
    typical = np.median(lengths, axis=0).astype(np.float32)
    for mode in ("pdf", "neglogpdf"):
        near = phi_G(typical[None], prior, mode).numpy()[0]
        far = phi_G((typical + 15.0)[None], prior, mode).numpy()[0]
        assert np.all(np.isfinite(near)) and np.all(near < far)
    prior.check_skeleton(sk)
    with pytest.raises(SdnetError, match="different skeleton"):
        prior.check_skeleton(ICVL_SKELETON)
    with pytest.raises(SdnetError, match=r"\(N, 14, 3\)"):
        fit_bone_prior(random_hands(10), sk)  # ICVL's 16 joints for NYU's skeleton
