"""Online augmentation (pipeline.augment) against the converter: an augmented crop must be the crop the
converter cuts with the rotated angle, the smaller cube or the shifted centre."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import pipeline.augment as aug
from pipeline import geometry
from pipeline.augment import augment_batch, is_active
from pipeline.camera import ICVL_INTRINSICS, xyz_to_uvd
from pipeline.config import AugmentConfig, CentreConfig
from tests.helpers import draw_stick_hand, stick_hand_xyz

S = 96
CUBE = 250.0
INTR = ICVL_INTRINSICS


def crop_of(depth, uvd, centre, cube=CUBE, angle=0.0):
    """(image (S, S), joints (J, 3)) as ``pipeline.convert.make_records`` cuts them."""
    joints = geometry.normalize_joints(uvd, centre, cube, INTR, angle)
    affine = geometry.crop_affine(xyz_to_uvd(centre, INTR), cube, S, INTR, angle)
    return geometry.crop_depth(depth, affine, S, centre[2], cube), joints


@pytest.fixture(scope="module")
def frame():
    """An off-axis stick hand (so the perspective term matters), its depth, labels and centre."""
    rng = np.random.default_rng(3)
    xyz = stick_hand_xyz(rng, centre_xyz=(60.0, -40.0, 330.0))
    depth = draw_stick_hand(xyz)
    centre = geometry.hand_centre(depth, INTR, CUBE, CentreConfig())
    return depth, xyz_to_uvd(xyz, INTR), centre


def run_one(image, joints, centre, cfg, monkeypatch, angle=0.0, zoom=1.0, shift=(0.0, 0.0, 0.0)):
    """augment_batch on one record with the random draws replaced by the given values."""
    def fixed(batch, _cfg, seed):
        return (tf.constant([np.deg2rad(angle)], tf.float32), tf.constant([zoom], tf.float32),
                tf.constant([shift], tf.float32), tf.constant([1, 2], tf.int64))

    monkeypatch.setattr(aug, "draw_params", fixed)
    out_img, out_j = augment_batch(image[None, :, :, None], joints.reshape(1, -1), centre[None],
                                   np.array([CUBE]), cfg, tf.constant([0, 0], tf.int64))
    return out_img.numpy()[0, :, :, 0], out_j.numpy()[0].reshape(-1, 3)


def image_agreement(a, b):
    """Share of pixels where both are background or both hand within 0.02 (a few mm)."""
    same = (np.abs(a - b) < 0.02) | ((a >= 1) & (b >= 1))
    return same.mean()


@pytest.mark.parametrize("angle", [30.0, -75.0, 180.0])
def test_rotation_matches_the_converters_rotated_copy(frame, monkeypatch, angle):
    depth, uvd, centre = frame
    img0, j0 = crop_of(depth, uvd, centre)
    want_img, want_j = crop_of(depth, uvd, centre, angle=angle)
    got_img, got_j = run_one(img0, j0, centre, AugmentConfig(rotation_deg=180), monkeypatch, angle=angle)
    np.testing.assert_allclose(got_j, want_j, atol=2e-3)  # cube/2 units: < 0.25 mm
    assert image_agreement(got_img, want_img) > 0.97


def test_scale_matches_a_smaller_cube(frame, monkeypatch):
    depth, uvd, centre = frame
    img0, j0 = crop_of(depth, uvd, centre)
    zoom = 1.15
    want_img, want_j = crop_of(depth, uvd, centre, cube=CUBE / zoom)
    got_img, got_j = run_one(img0, j0, centre, AugmentConfig(scale=0.2), monkeypatch, zoom=zoom)
    np.testing.assert_allclose(got_j, want_j, atol=1e-4)
    assert image_agreement(got_img, want_img) > 0.97


def test_centre_shift_matches_a_shifted_centre(frame, monkeypatch):
    depth, uvd, centre = frame
    img0, j0 = crop_of(depth, uvd, centre)
    shift = np.array([8.0, -6.0, 12.0])  # mm; the depth part moves along the centre's ray
    moved = centre + np.array([shift[0], shift[1], 0.0])
    moved = moved * (1.0 + shift[2] / centre[2])
    want_img, want_j = crop_of(depth, uvd, moved)
    got_img, got_j = run_one(img0, j0, centre, AugmentConfig(shift_mm=5), monkeypatch, shift=shift)
    np.testing.assert_allclose(got_j, want_j, atol=1e-4)
    assert image_agreement(got_img, want_img) > 0.97


def test_all_together_keep_the_hand_and_stay_in_range(frame):
    """Random draws: outputs in [-1, 1], background stays +1, joints move with the hand (the mean of
    the projected joints stays on hand pixels), and the same seed gives the same batch."""
    depth, uvd, centre = frame
    img0, j0 = crop_of(depth, uvd, centre)
    b = 16
    images = np.repeat(img0[None, :, :, None], b, axis=0)
    joints = np.repeat(j0.reshape(1, -1), b, axis=0)
    cfg = AugmentConfig(rotation_deg=180, scale=0.15, shift_mm=8, pixel_dropout=0.1)
    args = (images, joints, np.repeat(centre[None], b, axis=0), np.full(b, CUBE), cfg)
    out, j = augment_batch(*args, tf.constant([5, 7], tf.int64))
    out2, j2 = augment_batch(*args, tf.constant([5, 7], tf.int64))
    np.testing.assert_array_equal(out.numpy(), out2.numpy())
    out, j = out.numpy(), j.numpy().reshape(b, -1, 3)
    assert out.min() >= -1 and out.max() <= 1
    hand0 = (img0 < 1).sum()
    hand = (out < 1).reshape(b, -1).sum(axis=1)
    # zoom 0.85-1.15 changes the area by 0.72-1.32; dropout removes 10%
    assert np.all(hand > 0.5 * hand0) and np.all(hand < 1.5 * hand0)
    assert not np.allclose(j, j0[None])  # something moved


def test_inactive_config():
    assert not is_active(None) and not is_active(AugmentConfig(0.0, 0.0, 0.0, 0.0))
    assert is_active(AugmentConfig()) and is_active(AugmentConfig(0.0, 0.0, 0.0, pixel_dropout=0.1))
    with pytest.raises(ValueError, match="rotation_deg"):
        AugmentConfig(rotation_deg=200)
