"""NYU's 36 label joints on the generator's hand model: the 14 evaluated ones on the model's joints,
the others along the bones, every one inside the modelled hand."""
import numpy as np
import pytest

from pipeline import nyu_format as nyu
from pipeline.camera import ICVL_INTRINSICS
from pipeline.skeleton import ICVL_SKELETON
from pipeline.synth.frames import rng_for
from pipeline.synth.handmodel import build_primitives
from pipeline.synth.nyu_joints import DIP_FRACTION, nyu_label_joints
from pipeline.synth.poses import sample_frame, sample_subject

ICVL = {name: i for i, name in enumerate(ICVL_SKELETON.joint_names)}


def hands(n: int = 8):
    for k in range(n):
        rng = rng_for(11, k)
        subject = sample_subject(rng)
        yield sample_frame(rng, subject, ICVL_INTRINSICS), subject.shape


def inside_model(p: np.ndarray, prims, tol: float = 1e-6) -> bool:
    """Whether point p (3,) mm lies in a capsule or in the palm slab's prism."""
    ab = prims.b - prims.a  # (K, 3)
    t = np.clip(np.einsum("kd,kd->k", p - prims.a, ab) / np.maximum(np.einsum("kd,kd->k", ab, ab), 1e-12), 0, 1)
    if np.any(np.linalg.norm(prims.a + t[:, None] * ab - p, axis=1) <= prims.radius + tol):
        return True
    slab = prims.slab
    rel = p - slab.centre
    if abs(rel @ slab.normal) > slab.half_thickness + tol:
        return False
    q, poly = slab.axes @ rel, slab.polygon  # in-plane coordinates; polygon counter-clockwise
    edges = np.roll(poly, -1, axis=0) - poly
    return bool(np.all(edges[:, 0] * (q[1] - poly[:, 1]) - edges[:, 1] * (q[0] - poly[:, 0]) >= -tol))


def test_the_evaluated_joints_are_the_models_own():
    joints, shape = next(hands(1))
    out = nyu_label_joints(joints, shape)
    assert out.shape == (36, 3) and np.all(np.isfinite(out))
    sub = dict(zip(nyu.EVAL_JOINT_NAMES, nyu.eval_joints(out)))
    for name in nyu.EVAL_JOINT_NAMES:
        if name in ICVL:  # tips, mids, thumb root, palm: the same names in both skeletons
            np.testing.assert_array_equal(sub[name], joints[ICVL[name]], err_msg=name)
    assert sum(name in ICVL for name in nyu.EVAL_JOINT_NAMES) == 12  # all but the two wrist points
    # Through NYU's y-up frame and back: the evaluated joints in sdnet's camera frame.
    np.testing.assert_array_equal(nyu.eval_joints_camera_xyz(nyu.flip_y(out)), nyu.eval_joints(out))


def test_every_point_lies_inside_the_modelled_hand():
    for joints, shape in hands():
        prims = build_primitives(joints, shape)
        out = nyu_label_joints(joints, shape)
        outside = [nyu.LABEL_JOINT_NAMES[i] for i, p in enumerate(out) if not inside_model(p, prims)]
        assert outside == []


def test_finger_points_run_from_tip_to_root_along_the_bones():
    joints, shape = next(hands(1))
    out = nyu_label_joints(joints, shape)
    for k, finger in enumerate(("pinky", "ring", "middle", "index")):
        tip, mid, root = (joints[ICVL[f"{finger}_{j}"]] for j in ("tip", "mid", "root"))
        six = out[6 * k:6 * k + 6]
        np.testing.assert_allclose(six[[0, 3, 5]], [tip, mid, root], err_msg=finger)
        # DIP and KNU2_A on the distal bone, in order; KNU1_A on the proximal bone, near the PIP.
        dist = np.linalg.norm(six[:4] - tip, axis=1)
        assert np.all(np.diff(dist) > 0)
        assert dist[1] == pytest.approx(DIP_FRACTION * np.linalg.norm(mid - tip))
        assert np.linalg.norm(six[4] - mid) < np.linalg.norm(six[5] - mid)
    thumb = out[24:30]
    np.testing.assert_allclose(thumb[[0, 1, 3]], joints[[ICVL["thumb_tip"], ICVL["thumb_mid"], ICVL["thumb_root"]]])
    # The CMC lies toward the wrist from the thumb root; the wrist points straddle the wrist.
    palm = joints[ICVL["palm"]]
    assert np.linalg.norm(thumb[5] - out[30:32].mean(0)) < np.linalg.norm(thumb[3] - out[30:32].mean(0))
    assert np.linalg.norm(out[30] - out[31]) == pytest.approx(2 * 0.6 * shape.wrist_radius_mm)
    assert np.linalg.norm(out[30:32].mean(0) - palm) == pytest.approx(shape.wrist_back_mm)


def test_wrong_joint_count_is_refused():
    joints, shape = next(hands(1))
    with pytest.raises(ValueError, match="16"):
        nyu_label_joints(joints[:14], shape)
