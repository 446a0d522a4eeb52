"""Hand model, renderer and sensor: geometry checked against closed-form cases and the joints."""
import numpy as np
import pytest

from pipeline.camera import ICVL_INTRINSICS, Intrinsics, uvd_to_xyz, xyz_to_uvd
from pipeline.icvl import ICVL_BACKGROUND
from pipeline.skeleton import ICVL_SKELETON
from pipeline.synth.frames import rng_for
from pipeline.synth.handmodel import HandShape, Slab, build_primitives
from pipeline.synth.poses import GESTURES, sample_frame, sample_subject
from pipeline.synth.render import capsule_depth, render_depth, slab_depth
from pipeline.synth.sensor import IDEAL_SENSOR, SensorModel, apply_sensor, quantize

INTR = ICVL_INTRINSICS


def _rays(intr, u, v):
    dx = (np.asarray(u, float) - intr.cx) / intr.fx
    dy = (np.asarray(v, float) - intr.cy) / intr.fy
    return dx, dy


def test_capsule_depth_matches_sphere_and_cylinder_closed_forms():
    # A capsule lying across the view at depth 300 mm, radius 8: on the axis the surface is at 292.
    a, b = np.array([-20.0, 0.0, 300.0]), np.array([20.0, 0.0, 300.0])
    dx, dy = _rays(INTR, [[INTR.cx]], [[INTR.cy]])
    assert capsule_depth(dx, dy, a, b, 8.0)[0, 0] == pytest.approx(292.0, abs=1e-9)
    # Off-centre but within the cylinder: the hit is where the ray is 8 mm from the axis.
    u = INTR.cx + 15.0 * INTR.fx / 300.0
    dx2, dy2 = _rays(INTR, [[u]], [[INTR.cy]])
    assert capsule_depth(dx2, dy2, a, b, 8.0)[0, 0] == pytest.approx(292.0, abs=1e-9)
    # A capsule of zero length is a sphere: the ray through its centre meets it r in front.
    assert capsule_depth(dx, dy, a * 0 + [0, 0, 300], a * 0 + [0, 0, 300], 8.0)[0, 0] == pytest.approx(292.0)
    # A ray that passes 9 mm from the axis misses; one 7 mm from it hits.
    for offset, hit in ((9.0, False), (7.0, True)):
        v = INTR.cy + offset * INTR.fy / 300.0
        dx, dy = _rays(INTR, [[INTR.cx]], [[v]])
        assert np.isfinite(capsule_depth(dx, dy, a, b, 8.0)[0, 0]) == hit


def test_capsule_depth_agrees_with_a_brute_force_march():
    rng = np.random.default_rng(3)
    a, b = np.array([5.0, -10.0, 280.0]), np.array([-15.0, 25.0, 320.0])  # tilted in depth
    r = 9.0
    u = rng.uniform(138, 174, 300)
    v = rng.uniform(100, 150, 300)
    dx, dy = _rays(INTR, u, v)
    got = capsule_depth(dx[None], dy[None], a, b, r)[0]
    z = np.linspace(200, 400, 40001)  # 0.005 mm steps along each ray
    pts = np.stack([dx[:, None] * z, dy[:, None] * z, np.broadcast_to(z, (len(u), len(z)))], -1)
    ba = b - a
    h = np.clip(((pts - a) @ ba) / (ba @ ba), 0, 1)
    inside = np.linalg.norm(pts - a - h[..., None] * ba, axis=-1) <= r
    first = np.where(inside.any(1), z[np.argmax(inside, axis=1)], np.inf)
    assert (np.isfinite(got) == np.isfinite(first)).mean() > 0.99  # grazing rays may differ
    both = np.isfinite(got) & np.isfinite(first)
    assert both.sum() > 50
    assert np.abs(got[both] - first[both]).max() < 0.05


def test_slab_front_face_depth():
    slab = Slab(centre=np.array([0.0, 0.0, 300.0]), normal=np.array([0.0, 0.0, -1.0]),
                axes=np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),
                polygon=np.array([[-30.0, -30.0], [30.0, -30.0], [30.0, 30.0], [-30.0, 30.0]]),
                half_thickness=12.0)
    dx, dy = _rays(INTR, [[INTR.cx, INTR.cx + 40]], [[INTR.cy, INTR.cy]])  # inside, outside
    t = slab_depth(dx, dy, slab)
    assert t[0, 0] == pytest.approx(288.0)
    assert np.isinf(t[0, 1])


def _frames(n=16, seed=11):
    """(joints (J, 3), shape) of independent frames cycling through every gesture."""
    out = []
    for i in range(n):
        subject = sample_subject(rng_for(seed, 9, i, 0))
        joints = sample_frame(rng_for(seed, 9, i, 1), subject, INTR, GESTURES[i % len(GESTURES)])
        out.append((joints, subject.shape))
    return out


def _own(owner: np.ndarray, j: int) -> np.ndarray:
    """Capsules around joint j: the bones ending at j or starting at it; palm parts for the palm
    joint and the finger roots (which sit in the knuckles)."""
    children = [c for p, c in ICVL_SKELETON.bones if p == j]
    palm = [-1] if ICVL_SKELETON.layers[j] <= 1 else []
    return np.isin(owner, [j] + children + palm)


def test_every_joint_projects_onto_the_hand_and_never_behind_its_centre():
    tested_near = 0
    for joints, shape in _frames():
        prims = build_primitives(joints, shape)
        depth, ids = render_depth(prims, INTR)
        uvd = xyz_to_uvd(joints, INTR)  # (J, 3)
        px = np.rint(uvd[:, :2]).astype(int)
        for j in range(ICVL_SKELETON.num_joints):
            u, v = px[j]
            assert 0 <= u < INTR.width and 0 <= v < INTR.height
            d = depth[v, u]
            assert np.isfinite(d), f"joint {j} projects onto background"
            # No surface behind the joint centre: the joint lies inside the hand.
            assert d <= uvd[j, 2] + 0.5, f"joint {j}: rendered {d:.1f} mm behind joint {uvd[j, 2]:.1f} mm"
            # Visible joints (their own finger/palm is in front): the surface is about a finger
            # radius in front of the centre, when the bones cross the line of sight.
            k = ids[v, u]
            own = _own(prims.owner, j)
            if j == ICVL_SKELETON.root or k >= len(own) or not own[k]:
                continue
            ray = uvd_to_xyz(np.array([u, v, 1.0]), INTR)
            ray /= np.linalg.norm(ray)
            axes = prims.b[own] - prims.a[own]
            sin = np.linalg.norm(np.cross(axes / np.linalg.norm(axes, axis=1, keepdims=True), ray), axis=1)
            if sin.min() < 0.7:
                continue
            r = prims.radius[own].max()
            assert uvd[j, 2] - d <= r / sin.min() + 1.0, f"joint {j}: surface {uvd[j, 2] - d:.1f} mm in front"
            tested_near += 1
    assert tested_near > 60


def test_finger_radii_are_about_7_to_10_mm_and_taper_to_the_tip():
    shape = HandShape()
    for f in range(5):
        r0, r1, r2 = shape.finger_radii(f)
        assert r0 > r1 > r2
        assert 5.5 <= r2 and 7.0 <= r0 <= 10.5


def test_palm_is_solid_between_the_finger_roots_and_the_palm_joint():
    joints, shape = _frames(1, seed=4)[0]
    depth, _ = render_depth(build_primitives(joints, shape), INTR)
    palm, roots = joints[0], joints[[4, 7, 10, 13]]
    for w in np.linspace(0.2, 0.8, 7):  # points inside the palm polygon, on its mid-plane
        for root in roots:
            p = xyz_to_uvd(palm + w * (root - palm), INTR)
            assert np.isfinite(depth[int(round(p[1])), int(round(p[0]))])


def test_sensor_quantizes_to_mm_and_keeps_background():
    depth = np.full((INTR.height, INTR.width), np.inf)
    depth[100:140, 150:200] = 300.4
    out = apply_sensor(depth, np.random.default_rng(0), IDEAL_SENSOR, INTR.fx)
    assert out.dtype == np.uint16
    assert (out[100:140, 150:200] == 300).all()
    assert (out[:90] == ICVL_BACKGROUND).all() and (out[:, :140] == ICVL_BACKGROUND).all()
    assert (quantize(np.array([[np.inf, 299.6]])) == [[ICVL_BACKGROUND, 300]]).all()


def test_sensor_noise_dropouts_and_ragged_edges():
    depth = np.full((INTR.height, INTR.width), np.inf)
    depth[60:180, 100:220] = 300.0
    model = SensorModel(noise_mm_at_300=1.5, dropout=0.01, edge_dropout=0.5, flying_pixels=0.3)
    out = apply_sensor(depth, np.random.default_rng(1), model, INTR.fx).astype(float)
    inner = out[62:178, 102:218]
    valid = inner[inner != ICVL_BACKGROUND]
    assert 1.0 < valid.std() < 2.2  # about 1.5 mm
    assert abs(valid.mean() - 300.0) < 0.2
    assert 0.002 < (inner == ICVL_BACKGROUND).mean() < 0.03  # missing pixels
    edge = np.concatenate([out[60, 100:220], out[179, 100:220]])
    assert 0.3 < (edge == ICVL_BACKGROUND).mean() < 0.7  # ragged silhouette
    ring = np.concatenate([out[59, 100:220], out[180, 100:220]])
    flying = ring[ring != ICVL_BACKGROUND]
    assert 0.15 < len(flying) / len(ring) < 0.45
    assert (flying >= 298).all() and (flying <= 300 + model.flying_push_mm + 5).all()
    assert (out[:58] == ICVL_BACKGROUND).all()  # nothing beyond the one-pixel ring


def test_noisy_frame_stays_close_to_the_ideal_one():
    joints, shape = _frames(1, seed=7)[0]
    ideal, _ = render_depth(build_primitives(joints, shape), INTR)
    noisy = apply_sensor(ideal, np.random.default_rng(2), SensorModel(), INTR.fx)
    both = np.isfinite(ideal) & (noisy != ICVL_BACKGROUND)
    diff = noisy[both] - ideal[both]
    assert np.median(np.abs(diff)) < 2.0
    assert 0.85 < both.sum() / np.isfinite(ideal).sum() <= 1.0


def test_render_respects_other_intrinsics():
    intr = Intrinsics(fx=300.0, fy=300.0, cx=80.0, cy=60.0, width=160, height=120)
    joints, shape = _frames(1, seed=5)[0]
    joints = joints + np.array([0.0, 0.0, 150.0])  # farther, so it fits the smaller image
    depth, _ = render_depth(build_primitives(joints, shape), intr)
    assert depth.shape == (120, 160)
    u, v, _ = xyz_to_uvd(joints[0], intr)
    assert np.isfinite(depth[int(round(v)), int(round(u))])
