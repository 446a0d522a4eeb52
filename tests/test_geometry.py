import numpy as np
import pytest

from pipeline import geometry as g
from pipeline.camera import ICVL_INTRINSICS as INTR, uvd_to_xyz, xyz_to_uvd
from pipeline.config import CentreConfig
from tests.helpers import draw_stick_hand, stick_hand_xyz


def _frame(seed=0):
    rng = np.random.default_rng(seed)
    xyz = stick_hand_xyz(rng, (20.0, -10.0, 330.0))
    return xyz, xyz_to_uvd(xyz, INTR), draw_stick_hand(xyz)


@pytest.mark.parametrize("angle", [0.0, 22.5, 90.0, 200.0])
def test_crop_round_trip_within_a_tenth_of_a_pixel(angle):
    xyz, uvd, depth = _frame()
    centre = g.hand_centre(depth, INTR, 250.0)
    norm = g.normalize_joints(uvd, centre, 250.0, INTR, angle)
    back = g.denormalize_joints(norm, centre, 250.0, INTR, angle)
    assert np.abs(back[:, :2] - uvd[:, :2]).max() < 0.1
    np.testing.assert_allclose(back[:, 2], uvd[:, 2], atol=1e-6)


def test_batched_denormalize_matches_per_record():
    xyz, uvd, depth = _frame()
    centre = g.hand_centre(depth, INTR, 250.0)
    norms = np.stack([g.normalize_joints(uvd, centre, 250.0, INTR, a) for a in (0.0, 45.0)])
    back = g.denormalize_joints(norms, np.stack([centre, centre]), np.array([250.0, 250.0]), INTR,
                                np.array([0.0, 45.0]))
    assert np.abs(back[..., :2] - uvd[None, :, :2]).max() < 0.1


def test_hand_centre_is_near_the_palm_and_needs_pixels():
    xyz, uvd, depth = _frame()
    centre = g.hand_centre(depth, INTR, 250.0)
    assert np.linalg.norm(centre[:2] - xyz[:, :2].mean(0)) < 30
    with pytest.raises(g.NoHandError):
        g.hand_centre(np.full((240, 320), 32001, np.uint16), INTR, 250.0)
    far = np.full((240, 320), 5000, np.uint16)  # beyond max_depth_mm: not a hand
    with pytest.raises(g.NoHandError):
        g.hand_centre(far, INTR, 250.0, CentreConfig(max_depth_mm=1500))


@pytest.mark.parametrize("angle", [0.0, 67.5, 180.0])
def test_joints_land_on_the_hand_in_the_rotated_crop(angle):
    xyz, uvd, depth = _frame(1)
    centre = g.hand_centre(depth, INTR, 250.0)
    c_uvd = xyz_to_uvd(centre, INTR)
    affine = g.crop_affine(c_uvd, 250.0, 96, INTR, angle)
    crop = g.crop_depth(depth, affine, 96, centre[2], 250.0)
    uv = np.round(g.apply_affine(affine, uvd[:, :2])).astype(int)
    on_hand = crop[uv[:, 1], uv[:, 0]] < 0.99
    assert on_hand.mean() >= 0.9, on_hand
    # the crop depth at the joints matches the joints' depth (normalized), within a finger radius
    expected = (uvd[:, 2] - centre[2]) / 125.0
    assert np.median(np.abs(crop[uv[:, 1], uv[:, 0]] - expected)[on_hand]) < 10 / 125


def test_crop_normalization_range_and_background():
    xyz, uvd, depth = _frame()
    centre = g.hand_centre(depth, INTR, 250.0)
    affine = g.crop_affine(xyz_to_uvd(centre, INTR), 250.0, 64, INTR)
    crop = g.crop_depth(depth, affine, 64, centre[2], 250.0)
    assert crop.dtype == np.float32 and crop.shape == (64, 64)
    assert crop.min() >= -1 and crop.max() == 1.0
    assert (crop == 1.0).mean() > 0.3  # background at the far face
    q = g.quantize_crop(crop)
    assert np.abs(g.dequantize_crop(q) - crop).max() <= 1 / 32767.5


def test_affine_inverse():
    a = g.crop_affine(np.array([100.0, 80.0, 300.0]), 250.0, 128, INTR, 30.0)
    pts = np.array([[100.0, 80.0], [150.0, 60.0]])
    np.testing.assert_allclose(g.apply_affine(g.invert_affine(a), g.apply_affine(a, pts)), pts)
    np.testing.assert_allclose(g.apply_affine(a, pts[:1]), [[63.5, 63.5]])


def _scene(hand_z=450.0, body_gap=200.0, body=True, forearm=True):
    """A stick hand at ``hand_z`` mm, (``body``) a body surface ``body_gap`` mm behind it filling the
    lower image, and (``forearm``) a 50-mm-wide arm at the wrist's depth running from the palm out of
    the image bottom. Returns (joints xyz (16, 3), depth (240, 320) uint16 mm)."""
    rng = np.random.default_rng(3)
    xyz = stick_hand_xyz(rng, (0.0, -20.0, hand_z))
    depth = draw_stick_hand(xyz)
    if body:
        region = np.zeros_like(depth, dtype=bool)
        region[110:, 40:280] = True
        depth[region & (depth == 32001)] = int(hand_z + body_gap)
    if forearm:
        u, v, _ = xyz_to_uvd(xyz[0], INTR)
        half_width = int(25 * INTR.fx / hand_z)
        arm = depth[int(v) + 10:, int(u) - half_width:int(u) + half_width]
        arm[:] = np.minimum(arm, int(hand_z + 10))
    return xyz, depth


def _centre(depth, **rule):
    return g.hand_centre(depth, INTR, 250.0, CentreConfig(**rule))


def test_blob_centre_stays_on_a_hand_in_front_of_a_body_where_com_drifts():
    _, alone = _scene(body=False, forearm=False)
    _, depth = _scene(forearm=False)
    want = _centre(alone, method="blob")
    assert np.linalg.norm(_centre(depth, method="blob") - want) < 1.0
    com = _centre(depth, method="com", band_mm=250.0)
    assert com[2] - want[2] > 60.0  # pulled back toward the body


def test_blob_centre_cuts_a_forearm_that_leaves_the_image():
    _, alone = _scene(body=False, forearm=False)
    _, depth = _scene(body_gap=400.0)
    want = _centre(alone, method="blob")
    cut = np.linalg.norm(_centre(depth, method="blob", hand_extent_mm=170.0) - want)
    uncut = np.linalg.norm(_centre(depth, method="blob", hand_extent_mm=0.0) - want)
    assert cut < 0.5 * uncut and cut < 30.0, (cut, uncut)


def test_blob_and_com_agree_on_a_lone_hand():
    xyz, uvd, depth = _frame()
    blob = g.hand_centre(depth, INTR, 250.0, CentreConfig(method="blob"))
    com = g.hand_centre(depth, INTR, 250.0, CentreConfig(method="com"))
    assert np.linalg.norm(blob - com) < 3.0


def test_nearest_blob_splits_at_depth_steps():
    depth = np.full((40, 60), 32001, np.uint16)
    depth[10:30, 5:25] = 400  # near square
    depth[10:30, 25:50] = 480  # touching it in the image, 80 mm farther
    band = depth < 1000
    blob = g.nearest_blob(depth, band, step_mm=30.0, min_pixels=20)
    assert blob[20, 10] and not blob[20, 40] and blob.sum() <= 20 * 20
    joined = g.nearest_blob(depth, band, step_mm=100.0, min_pixels=20)
    assert joined[20, 10] and joined[20, 40]


def test_centre_method_is_checked():
    with pytest.raises(ValueError, match="centre method"):
        CentreConfig(method="nearest")
