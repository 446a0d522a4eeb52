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
