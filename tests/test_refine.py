"""Hierarchical refinement (models/refine.py): phi_D, phi_M, the layer-by-layer search; the search for
its parameters (models/refine_search.py)."""
import numpy as np
import pytest

from models.prior import BonePrior
from models.refine import (_layer_plans, candidates_per_joint, foreground_integral, phi_D, phi_M, previous_frame,
                           refine_poses, relative_motion, temporal_parts)
from models.refine_search import choose_refine_params
from pipeline.camera import ICVL_INTRINSICS, Intrinsics, uvd_to_xyz, xyz_to_uvd
from pipeline.config import RefineConfig
from pipeline.errors import SdnetError
from pipeline.icvl import ICVL_BACKGROUND
from pipeline.skeleton import HANDS2017_SKELETON, ICVL_SKELETON, MSRA_SKELETON, NYU_SKELETON, Skeleton

SK = ICVL_SKELETON
INTR = ICVL_INTRINSICS
FAN = np.deg2rad([-60.0, -15.0, 0.0, 15.0, 30.0])  # finger directions from 'up', thumb .. pinky


# ----------------------------------------------------------------------------- synthetic data


UNKNOWN_BONE_MM = (60.0, 4.0)  # (mean, std) of the bones whose length a skeleton does not give (NYU's palm -> mid)
HAND21_BONE_MM = (22.0, 3.0)  # test lengths of the 21-joint hands' bones (the registry gives none)


def bone_stats(sk: Skeleton) -> list[tuple[float, float]]:
    """(mean, std) mm per bone of ``sk``: its known lengths, else ``HAND21_BONE_MM`` for a 21-joint hand
    (its four-bone fingers fit the image) and ``UNKNOWN_BONE_MM`` for the others."""
    unknown = HAND21_BONE_MM if sk.num_joints == 21 else UNKNOWN_BONE_MM
    return [b if b is not None else unknown for b in sk.bone_length_mm]


def open_hand(palm=(0.0, 0.0, 300.0), sk: Skeleton = SK) -> np.ndarray:
    """(J, 3) mm: a flat open hand facing the camera, fingers straight, mean bone lengths (``bone_stats``);
    joints in no part (NYU's wrist points) below the palm, 20 mm apart."""
    joints = np.zeros((sk.num_joints, 3))
    joints[sk.root] = palm
    stats = bone_stats(sk)
    in_parts = {j for c in sk.part_chains for j in c}
    others = [j for j in range(sk.num_joints) if j not in in_parts]
    for k, j in enumerate(others):  # children of the palm (NYU's wrist)
        joints[j] = joints[sk.parents[j]] + (20.0 * k - 10.0 * (len(others) - 1), stats[sk.bone_index(j)][0], 0.0)
    for chain, angle in zip(sk.part_chains, FAN):
        direction = np.array([np.sin(angle), -np.cos(angle), 0.0])
        for parent, child in zip(chain[:-1], chain[1:]):
            joints[child] = joints[parent] + direction * stats[sk.bone_index(child)][0]
    return joints


def render_capsules(segments, intr: Intrinsics = INTR) -> np.ndarray:
    """(H, W) uint16 depth mm of capsules [(a_xyz, b_xyz, radius_mm), ...] drawn in 2-D: a pixel is
    covered when it lies within the projected radius of the projected segment; background 32001."""
    vv, uu = np.mgrid[0:intr.height, 0:intr.width].astype(np.float64)
    depth = np.full(uu.shape, float(ICVL_BACKGROUND))
    for a, b, radius in segments:
        pa, pb = xyz_to_uvd(np.asarray(a), intr), xyz_to_uvd(np.asarray(b), intr)
        seg = pb[:2] - pa[:2]
        t = ((uu - pa[0]) * seg[0] + (vv - pa[1]) * seg[1]) / max(seg @ seg, 1e-9)
        t = np.clip(t, 0.0, 1.0)
        dist = np.hypot(uu - pa[0] - t * seg[0], vv - pa[1] - t * seg[1])  # px
        z = pa[2] + t * (pb[2] - pa[2])
        inside = dist <= radius * intr.fx / z
        depth = np.where(inside, np.minimum(depth, z - radius / 2), depth)
    return np.rint(depth).astype(np.uint16)


def render_hand(joints: np.ndarray, finger_radius=8.0, palm_radius=30.0, sk: Skeleton = SK) -> np.ndarray:
    """Depth of a hand: palm disc plus a capsule along every bone, reaching past each fingertip by
    the finger radius (a fingertip joint sits inside the finger, not on its outline)."""
    segments = [(joints[sk.root], joints[sk.root], palm_radius)]
    for parent, child in sk.bones:
        segments.append((joints[parent], joints[child], finger_radius))
    return render_capsules(segments)


def normal_prior(skeleton: Skeleton = SK) -> BonePrior:
    """A prior whose 5 components per bone all equal N(mean, std) of the skeleton's bone lengths:
    its mode is exactly the mean length (fitting is tested in test_prior.py)."""
    rows = lambda values: tuple((float(v),) * 5 for v in values)  # noqa: E731
    return BonePrior(bones=skeleton.bones, weights=rows([0.2] * len(skeleton.bones)),
                     means=rows(m for m, _ in bone_stats(skeleton)),
                     stds=rows(s for _, s in bone_stats(skeleton)))


@pytest.fixture(scope="module")
def prior():
    return normal_prior()


BAND = np.array([[200.0, 400.0]])


# ----------------------------------------------------------------------------- phi_D


def brute_force_background(depth, band, uv, window):
    """Background count by looping over the window: outside the image, 0, 32001, outside band."""
    h, w = depth.shape
    u, v = int(np.floor(uv[0] + 0.5)), int(np.floor(uv[1] + 0.5))
    count = 0
    for r in range(v - window, v + window + 1):
        for c in range(u - window, u + window + 1):
            if not (0 <= r < h and 0 <= c < w):
                count += 1
                continue
            d = int(depth[r, c])
            count += d in (0, ICVL_BACKGROUND) or not (band[0] <= d <= band[1])
    return count


@pytest.mark.parametrize("window", [0, 2, 5])
def test_phi_D_equals_brute_force_count(window):
    rng = np.random.default_rng(window)
    intr = Intrinsics(fx=20.0, fy=22.0, cx=10.0, cy=8.0, width=20, height=16)
    n, m = 3, 60
    depth = rng.integers(150, 650, (n, 16, 20)).astype(np.uint16)
    depth[rng.random(depth.shape) < 0.15] = 0
    depth[rng.random(depth.shape) < 0.15] = ICVL_BACKGROUND
    band = np.array([[200.5, 500.0], [0.0, 40000.0], [300.0, 420.6]])  # frame 1: only the codes
    # pixel centres +- 0.4 px (no rounding ties), some beyond the border, at various depths
    uv = np.stack([rng.integers(-7, 27, (n, m)), rng.integers(-7, 23, (n, m))], -1)
    uvd = np.concatenate([uv + rng.uniform(-0.4, 0.4, uv.shape), rng.uniform(150, 700, (n, m, 1))], -1)
    points = uvd_to_xyz(uvd, intr)  # (n, m, 3)
    points[:, -2:, 2] = [0.0, -50.0]  # at / behind the camera: the whole window is background
    table = foreground_integral(depth, band)
    got = phi_D(points, table, intr, window, penalty=2.5)  # (n, m)
    want = np.array([[brute_force_background(depth[i], band[i], uvd[i, k, :2], window)
                      for k in range(m)] for i in range(n)], dtype=np.float64)
    want[:, -2:] = (2 * window + 1) ** 2
    np.testing.assert_array_equal(got, 2.5 * want)
    assert want.min() < want.max()  # the data exercise both foreground and background


def test_foreground_integral_rejects_bad_input():
    depth = np.zeros((2, 4, 5), np.uint16)
    with pytest.raises(SdnetError, match="band"):
        foreground_integral(depth, np.zeros((3, 2)))
    with pytest.raises(SdnetError, match="uint16"):
        foreground_integral(depth.astype(np.float32), np.zeros((2, 2)))


# ----------------------------------------------------------------------------- the search


def test_refinement_never_moves_a_joint_farther_than_the_radius(prior):
    rng = np.random.default_rng(1)
    n = 4  # batch sizes in this file stay in {1, 2, 4}: XLA compiles once per size
    truth = np.stack([open_hand((rng.uniform(-20, 20), rng.uniform(-20, 20), 300.0)) for _ in range(n)])
    depth = np.stack([render_hand(t) for t in truth])
    cnn = truth + rng.normal(0, 6.0, truth.shape)  # (n, J, 3)
    cfg = RefineConfig(radius_mm=5.0, gamma_d=0.01, gamma_a=0.01, gamma_m=1.0)
    out = refine_poses(cnn, depth, np.repeat(BAND, n, 0), INTR, prior, SK, cfg,
                       sequence_ids=np.zeros(n, int), frame_idx=np.arange(n))
    chunked = refine_poses(cnn, depth, np.repeat(BAND, n, 0), INTR, prior, SK, cfg,
                           sequence_ids=np.zeros(n, int), frame_idx=np.arange(n), chunk=3)
    np.testing.assert_array_equal(chunked, out)  # chunking bounds memory, not results
    moved = np.linalg.norm(out - cnn, axis=-1)  # (n, J)
    assert moved.max() <= cfg.radius_mm + 1e-3
    assert moved.max() > 0.8 * cfg.radius_mm  # the bound is reached, not trivially met
    assert np.linalg.norm(out - truth, axis=-1).mean() < np.linalg.norm(cnn - truth, axis=-1).mean()


def test_displaced_fingertip_moves_toward_the_truth(prior):
    truth = open_hand()
    depth = render_hand(truth)[None]
    tip = SK.part_chains[1][3]  # index fingertip
    angle = FAN[1]
    sideways = np.array([np.cos(angle), np.sin(angle), 0.0])  # in the image plane, across the finger
    cnn = truth.copy()
    cnn[tip] -= 6.0 * sideways  # off the finger, away from the middle finger
    out = refine_poses(cnn[None], depth, BAND, INTR, prior, SK, RefineConfig())[0]
    before = np.linalg.norm(cnn[tip] - truth[tip])
    after = np.linalg.norm(out[tip] - truth[tip])
    assert after < 0.5 * before
    # joints that were right stay on their pixels (+- window-count granularity); their depth is
    # observed by no term (phi_D is 2-D), only bounded by the search radius (tested above).
    others = [j for j in range(SK.num_joints) if j != tip]
    uv_error = np.linalg.norm(xyz_to_uvd(out[others], INTR)[:, :2] - xyz_to_uvd(truth[others], INTR)[:, :2],
                              axis=-1)  # (J-1,) px
    assert uv_error.max() < 2.0
    table = foreground_integral(depth, BAND)
    w = RefineConfig().window
    assert phi_D(out[None, tip], table, INTR, w)[0] < phi_D(cnn[None, tip], table, INTR, w)[0]


def test_candidates_per_joint_counts_the_ball_then_full_grids():
    # k=2: offsets in {-2..2}^3 / 2 within the unit ball: 1 + 6 + 6 (axes) + 12 (two 1s) + 8 = 33
    assert candidates_per_joint(RefineConfig(grid_half=2, rounds=3)) == 33 + 2 * 125
    assert candidates_per_joint(RefineConfig(grid_half=1, rounds=1)) == 7


def two_joint_case(root_disc: bool):
    """A 2-joint skeleton: root at the image centre, child 50 mm above it; the CNN root is 4 mm
    below the truth. With ``root_disc`` only a small disc marks the root in the image (phi_D pulls
    it back); without, the whole image is hand (phi_D is flat)."""
    sk = Skeleton(joint_names=("root", "child"), parents=(-1, 0), parts=(("f", (0, 1)),),
                  bone_length_mm=((50.0, 0.5),))
    prior = normal_prior(sk)
    truth = np.array([[0.0, 0.0, 300.0], [0.0, -50.0, 300.0]])
    if root_disc:
        radius_mm = 4.5 * 300.0 / INTR.fx  # 4.5 px: only the centre pixel's 7x7 window fits inside
        depth = render_capsules([(truth[0], truth[0], radius_mm), (truth[1], truth[1], 30.0)])
    else:
        depth = np.full((INTR.height, INTR.width), 300, np.uint16)
    cnn = truth + np.array([[0.0, 4.0, 0.0], [0.0, 0.0, 0.0]])
    # the anchor breaks the ties of the bone term (a sphere), far below its ~0.8 /mm peak
    cfg = RefineConfig(gamma_d=0.05, gamma_a=0.1, palm_bone_term=False)
    out = refine_poses(cnn[None], depth[None], BAND, INTR, prior, sk, cfg)[0]
    return truth, cnn, out


def test_children_are_refined_against_their_refined_parent():
    truth, cnn, out = two_joint_case(root_disc=True)
    assert np.linalg.norm(out[0] - truth[0]) < 1.0  # the root went back onto its disc ...
    assert np.linalg.norm(out[1] - truth[1]) < 1.5  # ... so the child kept its 50 mm bone in place
    # control: the root stays where the CNN put it, and the child follows the unrefined root
    truth, cnn, out = two_joint_case(root_disc=False)
    assert np.linalg.norm(out[0] - cnn[0]) < 0.5
    assert np.linalg.norm(out[1] - (truth[1] + [0.0, 4.0, 0.0])) < 1.5
    assert abs(np.linalg.norm(out[1] - out[0]) - 50.0) < 1.0


# ----------------------------------------------------------------------------- phi_M


def test_phi_M_penalises_a_tip_that_moves_less_than_its_parent_relative_to_the_root():
    root0, mid0, tip0 = np.array([0.0, 0, 300]), np.array([0.0, -28, 300]), np.array([0.0, -46, 300])
    shift = np.array([5.0, 3.0, -2.0])  # the whole finger translates: nobody moves relative to root
    assert phi_M(tip0 + shift, mid0 + shift, root0 + shift, tip0, mid0, root0) == 0
    mid1 = mid0 + [4.0, 0, 0]  # the middle joint bends sideways by 4 mm
    assert phi_M(tip0, mid1, root0, tip0, mid0, root0, penalty=3.0) == 3.0  # the tip stayed: penalty
    assert phi_M(tip0 + [8.0, 0, 0], mid1, root0, tip0, mid0, root0) == 0  # the tip moved more
    assert relative_motion(tip0 + shift + [0, 0, 2.0], root0 + shift, tip0, root0) == pytest.approx(2.0)
    # 'distance' reading: only changes of the distance to the root count
    swing = np.array([18.0 * np.sin(0.3), -28 - 18.0 * np.cos(0.3), 300])  # tip rotated about mid
    assert relative_motion(swing, root0, tip0, root0, "displacement") > 5.0
    assert relative_motion(tip0 + [0, 0, 10.0], root0, tip0, root0, "distance") == pytest.approx(
        np.hypot(46.0, 10.0) - 46.0)
    with pytest.raises(ValueError, match="temporal mode"):
        relative_motion(tip0, root0, tip0, root0, "ratio")


def test_previous_frame_links_consecutive_frames_of_a_sequence():
    seq = np.array(["b", "a", "a", "b", "a"])
    idx = np.array([7, 2, 0, 6, 1])
    np.testing.assert_array_equal(previous_frame(seq, idx), [3, 4, -1, -1, 2])
    with pytest.raises(SdnetError, match="twice"):
        previous_frame(np.array(["a", "a"]), np.array([3, 3]))


def temporal_case(prior, sequence_ids, frame_idx, gamma_m, reverse=False):
    """Two poses of one hand: in the second, the index finger's middle joint moved 3 mm sideways
    (relative to its root) while the CNN left the fingertip where it was. ``reverse`` passes the
    rows (poses, ids, indices) in reverse order and returns the output in the original order."""
    first = open_hand()
    second = first.copy()
    second[SK.part_chains[1][2]] += [3.0, 0.0, 0.0]
    cnn = np.stack([first, second])
    depth = np.full((2, INTR.height, INTR.width), 300, np.uint16)  # phi_D is flat
    cfg = RefineConfig(gamma_d=0.0, gamma_a=1.0, gamma_m=gamma_m)
    order = [1, 0] if reverse else [0, 1]
    out = refine_poses(cnn[order], depth, np.repeat(BAND, 2, 0), INTR, prior, SK, cfg,
                       sequence_ids=np.asarray(sequence_ids)[order],
                       frame_idx=np.asarray(frame_idx)[order])
    return out[order]


def test_temporal_term_acts_on_fingertips_of_consecutive_frames_only(prior):
    root, mid, tip = SK.part_chains[1][1:]
    plain = temporal_case(prior, ["s", "s"], [0, 1], gamma_m=0.0)
    assert phi_M(plain[1, tip], plain[1, mid], plain[1, root],
                 plain[0, tip], plain[0, mid], plain[0, root]) == 1.0  # violated without the term
    out = temporal_case(prior, ["s", "s"], [0, 1], gamma_m=10.0)
    assert phi_M(out[1, tip], out[1, mid], out[1, root], out[0, tip], out[0, mid], out[0, root]) == 0
    np.testing.assert_array_equal(out[0], plain[0])  # a sequence's first frame: no temporal term
    others = [j for j in range(SK.num_joints) if j != tip]
    np.testing.assert_array_equal(out[1, others], plain[1, others])  # fingertips only
    assert np.linalg.norm(out[1, tip] - plain[1, tip]) >= 2.0
    # a gap in the frame index or another sequence: no previous frame, no temporal term
    np.testing.assert_array_equal(temporal_case(prior, ["s", "s"], [0, 2], 10.0), plain)
    np.testing.assert_array_equal(temporal_case(prior, ["s", "t"], [0, 1], 10.0), plain)
    # frames may come in any order: they are processed in frame order
    np.testing.assert_array_equal(temporal_case(prior, ["s", "s"], [0, 1], 10.0, reverse=True), out)


# ----------------------------------------------------------------------------- choosing weights


def test_choose_refine_params_picks_the_lowest_mean_error(prior):
    rng = np.random.default_rng(3)
    truth = np.stack([open_hand((rng.uniform(-15, 15), rng.uniform(-15, 15), 300.0)) for _ in range(4)])
    depth = np.stack([render_hand(t) for t in truth])
    tips = list(SK.fingertips)
    cnn = truth.copy()
    cnn[:, tips, :2] += rng.choice([-5.0, 5.0], (4, len(tips), 2))  # fingertips off the fingers
    grid = {"gamma_d": [0.0, 0.002], "radius_mm": [3.0, 8.0]}
    result = choose_refine_params(cnn, truth, depth, np.repeat(BAND, 4, 0), INTR, prior, grid, SK)
    assert len(result.table) == 4
    errors = [row["mean_error_mm"] for row in result.table]
    assert result.best_error_mm == min(errors)
    best_row = result.table[int(np.argmin(errors))]
    assert (result.best.gamma_d, result.best.radius_mm) == (best_row["gamma_d"], best_row["radius_mm"])
    assert result.best.gamma_d > 0  # the background term is what brings the fingertips back
    assert result.best_error_mm < result.unrefined_error_mm
    with pytest.raises(ValueError, match="unknown"):
        choose_refine_params(cnn, truth, depth, np.repeat(BAND, 4, 0), INTR, prior, {"gama_d": [1]}, SK)


def test_refine_rejects_mismatched_inputs(prior):
    joints = open_hand()[None]
    depth = render_hand(joints[0])[None]
    with pytest.raises(SdnetError, match="intrinsics"):
        refine_poses(joints, depth[:, :200], BAND, INTR, prior, SK)
    with pytest.raises(SdnetError, match="2 poses but 1 depth"):
        refine_poses(np.repeat(joints, 2, 0), depth, BAND, INTR, prior, SK)
    with pytest.raises(SdnetError, match=r"\(N, 16, 3\)"):
        refine_poses(joints[:, :15], depth, BAND, INTR, prior, SK)
    with pytest.raises(SdnetError, match="both"):
        refine_poses(joints, depth, BAND, INTR, prior, SK, sequence_ids=["s"])


# ----------------------------------------------------------------------------- another skeleton


def test_temporal_parts_reach_every_fingertip_whatever_the_part_length():
    # ICVL: (tip, mid, root) of every finger, the paper's layers 3, 2, 1
    assert temporal_parts(SK) == tuple((c[3], c[2], c[1]) for c in SK.part_chains)
    # NYU: the thumb (palm, root, mid, tip) like ICVL; the other fingers (palm, mid, tip) refer to the palm
    name = NYU_SKELETON.joint_names.index
    parts = temporal_parts(NYU_SKELETON)
    assert parts[0] == (name("thumb_tip"), name("thumb_mid"), name("thumb_root"))
    assert parts[1:] == tuple((name(f"{f}_tip"), name(f"{f}_mid"), name("palm"))
                              for f in ("index", "middle", "ring", "pinky"))
    short = Skeleton(joint_names=("root", "child"), parents=(-1, 0), parts=(("f", (0, 1)),),
                     bone_length_mm=((50.0, 0.5),))
    assert temporal_parts(short) == ()  # a part of two joints has no joint before its tip's parent


HAND21 = pytest.mark.parametrize("sk", [MSRA_SKELETON, HANDS2017_SKELETON], ids=["msra", "hands2017"])


@HAND21
def test_21_joint_layers_run_wrist_mcp_pip_dip_tip(sk):
    plans = _layer_plans(sk, palm_bone_term=True)
    kinds = [{sk.joint_names[j].rsplit("_", 1)[-1] for j in plan.joints} for plan in plans]
    assert kinds == [{"wrist"}, {"mcp"}, {"pip"}, {"dip"}, {"tip"}]
    assert all(len(plan.joints) == 5 for plan in plans[1:])
    # each joint of layers 1-4 is refined against its refined parent, the joint one layer up its finger
    for plan in plans[1:]:
        assert plan.anchors_refined
        assert [a for (a,) in plan.anchors] == [sk.parents[j] for j in plan.joints]
    # the wrist (layer 0) is refined against its five MCP children's bones
    assert sorted(plans[0].anchors[0]) == sorted(sk.joint_names.index(f"{f}_mcp")
                                                 for f in ("thumb", "index", "middle", "ring", "pinky"))


@HAND21
def test_21_joint_temporal_parts_measure_tip_and_dip_against_the_finger_root(sk):
    # the paper's Eq. 12: motion relative to the finger's layer-1 joint (the MCP), whatever the finger length
    name = sk.joint_names.index
    assert temporal_parts(sk) == tuple((name(f"{f}_tip"), name(f"{f}_dip"), name(f"{f}_mcp"))
                                       for f, _ in sk.parts)


@HAND21
def test_21_joint_hand_is_refined_toward_plausible_bones_with_the_temporal_term(sk):
    rng = np.random.default_rng(6)
    n = 2
    truth = np.stack([open_hand((rng.uniform(-15, 15), rng.uniform(10, 30), 300.0), sk) for _ in range(n)])
    depth = np.stack([render_hand(t, sk=sk) for t in truth])
    assert np.all((xyz_to_uvd(truth, INTR)[..., :2] >= 0) & (xyz_to_uvd(truth, INTR)[..., :2] < [320, 240]))
    cnn = truth + rng.normal(0, 4.0, truth.shape)  # (n, 21, 3)
    cfg = RefineConfig(radius_mm=6.0, gamma_d=0.01, gamma_a=0.01, gamma_m=1.0)
    out = refine_poses(cnn, depth, np.repeat(BAND, n, 0), INTR, normal_prior(sk), sk, cfg,
                       sequence_ids=np.zeros(n, int), frame_idx=np.arange(n))
    assert out.shape == (n, 21, 3) and np.all(np.isfinite(out))
    assert np.linalg.norm(out - cnn, axis=-1).max() <= cfg.radius_mm + 1e-3
    mean_len = np.array([m for m, _ in bone_stats(sk)])
    before = np.abs(sk.bone_lengths(cnn) - mean_len).mean()
    after = np.abs(sk.bone_lengths(out) - mean_len).mean()
    assert after < 0.6 * before
    assert np.linalg.norm(out - truth, axis=-1).mean() < np.linalg.norm(cnn - truth, axis=-1).mean()


def test_nyu_hand_is_refined_toward_plausible_bones_with_the_temporal_term():
    sk = NYU_SKELETON
    rng = np.random.default_rng(5)
    n = 2
    truth = np.stack([open_hand((rng.uniform(-15, 15), rng.uniform(-15, 15), 300.0), sk) for _ in range(n)])
    depth = np.stack([render_hand(t, sk=sk) for t in truth])
    cnn = truth + rng.normal(0, 4.0, truth.shape)  # (n, 14, 3)
    prior = normal_prior(sk)
    cfg = RefineConfig(radius_mm=6.0, gamma_d=0.01, gamma_a=0.01, gamma_m=1.0)
    out = refine_poses(cnn, depth, np.repeat(BAND, n, 0), INTR, prior, sk, cfg,
                       sequence_ids=np.zeros(n, int), frame_idx=np.arange(n))
    assert out.shape == (n, 14, 3) and np.all(np.isfinite(out))
    assert np.linalg.norm(out - cnn, axis=-1).max() <= cfg.radius_mm + 1e-3
    mean_len = np.array([m for m, _ in bone_stats(sk)])
    before = np.abs(sk.bone_lengths(cnn) - mean_len).mean()
    after = np.abs(sk.bone_lengths(out) - mean_len).mean()
    assert after < 0.6 * before  # the bone prior pulls every bone, the wrist ones included
    assert np.linalg.norm(out - truth, axis=-1).mean() < np.linalg.norm(cnn - truth, axis=-1).mean()
    with pytest.raises(SdnetError, match="different skeleton"):
        refine_poses(cnn, depth, np.repeat(BAND, n, 0), INTR, normal_prior(SK), sk, cfg)
