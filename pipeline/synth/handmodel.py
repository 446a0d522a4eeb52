"""Hand geometry from 16 ICVL joint positions plus shape parameters.

Frame and units: camera xyz in mm (x right, y down, z forward, see ``pipeline/camera.py``).

The hand is a union of simple solids whose front surface has a closed-form ray intersection:
  * fingers: tapered capsules along the finger bones (each bone split into sub-capsules whose radius
    steps down from root to tip; the labelled joints lie on the axis, i.e. inside the finger);
  * palm: a thick slab, the Minkowski sum of the convex polygon (finger roots, palm heels) with a
    ball of radius ``palm_half_thickness_mm`` (a prism plus capsules along its edges), and a knuckle
    row through the finger roots (an arched palm lifts them off the slab's plane);
  * thenar eminence (a capsule from the radial palm heel to the thumb root);
  * wrist and a forearm stub leaving the palm away from the fingers.

Only joint positions drive the geometry, so any labelled pose (real ICVL labels included) renders.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.skeleton import FINGERS, ICVL_SKELETON

_CHAINS = ICVL_SKELETON.part_chains  # per finger: (palm, root, mid, tip)
_PALM = ICVL_SKELETON.root
_THUMB, _INDEX, _MIDDLE, _RING, _PINKY = (_CHAINS[FINGERS.index(f)] for f in FINGERS)
PALM, ARM = -1, -2  # owners of the capsules that belong to no finger bone


@dataclass(frozen=True)
class HandShape:
    """Shape of one subject's hand (all lengths in mm, angles in degrees).

    Bone lengths are not here: they come from the joint positions themselves.
    """

    finger_radius_mm: float = 9.0  # radius of the middle finger at its root
    tip_radius_ratio: float = 0.78  # radius at the fingertip / radius at the root
    finger_radius_scale: tuple[float, ...] = (1.12, 0.98, 1.0, 0.94, 0.87)  # thumb..pinky
    palm_half_thickness_mm: float = 13.0
    palm_heel_back_mm: float = 30.0  # palm joint -> heel line, away from the fingers
    palm_heel_width_ratio: float = 0.85  # heel width / knuckle width
    wrist_back_mm: float = 48.0  # palm joint -> wrist centre, away from the fingers
    wrist_radius_mm: float = 21.0
    forearm_length_mm: float = 80.0
    forearm_radius_mm: float = 25.0
    wrist_bend_deg: tuple[float, float] = (-20.0, 0.0)  # forearm bend toward the palm side and L (deg)
    tip_extension_ratio: float = 1.2  # the fingertip surface ends this many tip radii beyond the tip joint
    mirrored: bool = False  # the model's mirror image (NYU's chirality, ``pipeline.synth.poses``)

    def __post_init__(self) -> None:
        if len(self.finger_radius_scale) != len(FINGERS):
            raise ValueError(f"finger_radius_scale needs {len(FINGERS)} values")
        if min(self.finger_radius_mm, self.palm_half_thickness_mm, self.wrist_radius_mm,
               self.forearm_radius_mm) <= 0:
            raise ValueError("radii must be positive")

    def finger_radii(self, finger: int) -> tuple[float, float, float]:
        """Radius (mm) of finger ``finger`` (0 thumb .. 4 pinky) at its root, mid and tip joints."""
        r0 = self.finger_radius_mm * self.finger_radius_scale[finger]
        r2 = r0 * self.tip_radius_ratio
        return r0, 0.5 * (r0 + r2), r2


def sample_hand_shape(rng: np.random.Generator, scale: float = 1.0, base: HandShape = HandShape()) -> HandShape:
    """A random subject's shape around the average ``base`` (its radii, palm and wrist lengths and
    chirality; the other ranges are fixed); ``scale`` is the subject's overall hand scale (1 = average)."""
    def jitter(x, rel):
        return float(x * scale * (1.0 + rel * rng.standard_normal()))

    return HandShape(
        finger_radius_mm=float(np.clip(jitter(base.finger_radius_mm, 0.07), 7.2, 10.5)),
        tip_radius_ratio=float(rng.uniform(0.72, 0.86)),
        finger_radius_scale=tuple(float(s * (1 + 0.04 * rng.standard_normal()))
                                  for s in base.finger_radius_scale),
        palm_half_thickness_mm=jitter(base.palm_half_thickness_mm, 0.08),
        palm_heel_back_mm=jitter(base.palm_heel_back_mm, 0.1),
        palm_heel_width_ratio=float(rng.uniform(0.78, 0.92)),
        wrist_back_mm=jitter(base.wrist_back_mm, 0.08),
        wrist_radius_mm=jitter(base.wrist_radius_mm, 0.08),
        forearm_length_mm=float(rng.uniform(50.0, 120.0)),
        forearm_radius_mm=jitter(base.forearm_radius_mm, 0.08),
        wrist_bend_deg=(float(rng.normal(-20.0, 12.0)), float(rng.normal(0.0, 10.0))),
        tip_extension_ratio=float(rng.uniform(0.8, 1.6)),
        mirrored=base.mirrored,
    )


@dataclass(frozen=True)
class Slab:
    """A convex planar polygon thickened by a ball: prism part only (edges are separate capsules).

    centre (3,), normal (3,) unit, axes (2, 3) orthonormal in-plane, polygon (P, 2) counter-clockwise
    in (axes[0], axes[1]) coordinates relative to ``centre``, half_thickness in mm.
    """

    centre: np.ndarray
    normal: np.ndarray
    axes: np.ndarray
    polygon: np.ndarray
    half_thickness: float

    def vertices(self) -> np.ndarray:
        """Polygon vertices in camera xyz (P, 3)."""
        return self.centre + self.polygon @ self.axes


@dataclass(frozen=True)
class HandPrimitives:
    """Solids of one hand: capsules a (K, 3) -> b (K, 3) with radius (K,), owner (K,) the child
    joint of the bone the capsule runs along (PALM -1 for the palm, ARM -2 for wrist and forearm),
    and one palm slab."""

    a: np.ndarray
    b: np.ndarray
    radius: np.ndarray
    owner: np.ndarray
    slab: Slab


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, 1e-9)


def palm_frame(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit axes (F, L, N) of the hand: F palm -> finger roots, L toward the thumb side of the
    knuckle line (index root minus pinky root), N = F x L (for a right hand, the palm's facing
    direction; for a ``HandShape.mirrored`` hand its back). joints (16, 3) mm."""
    roots = joints[[_INDEX[1], _MIDDLE[1], _RING[1], _PINKY[1]]]  # (4, 3)
    f = _unit(roots.mean(axis=0) - joints[_PALM])
    l = joints[_INDEX[1]] - joints[_PINKY[1]]
    l = _unit(l - f * (l @ f))
    return f, l, np.cross(f, l)


def _rotate_toward(v: np.ndarray, axis_a: np.ndarray, axis_b: np.ndarray, deg_a: float,
                   deg_b: float) -> np.ndarray:
    """Tilt unit vector ``v`` by small angles toward unit axes a and b (for the forearm bend)."""
    out = v + np.tan(np.radians(deg_a)) * axis_a + np.tan(np.radians(deg_b)) * axis_b
    return _unit(out)


def _convex_hull_2d(points: np.ndarray) -> np.ndarray:
    """Counter-clockwise convex hull (monotone chain) of (P, 2) points."""
    pts = sorted(map(tuple, points))

    def half(seq):
        out = []
        for p in seq:
            while len(out) >= 2 and ((out[-1][0] - out[-2][0]) * (p[1] - out[-2][1])
                                     - (out[-1][1] - out[-2][1]) * (p[0] - out[-2][0])) <= 0:
                out.pop()
            out.append(p)
        return out

    lower, upper = half(pts), half(reversed(pts))
    return np.array(lower[:-1] + upper[:-1])


def _finger_capsules(joints: np.ndarray, shape: HandShape):
    """Tapered finger capsules: each bone in two sub-capsules with stepped radii."""
    a, b, r, owner = [], [], [], []
    for f, chain in enumerate(_CHAINS):
        radii = shape.finger_radii(f)
        pts = joints[list(chain[1:])]  # (3, 3) root, mid, tip
        tip_dir = _unit(pts[2] - pts[1])
        # The fingertip surface lies tip_extension_ratio tip radii beyond the labelled tip joint
        # (the label marks the centre of the fingertip pad, not the nail's end).
        end = pts[2] + tip_dir * radii[2] * (shape.tip_extension_ratio - 1.0)
        segs = [(pts[0], pts[1], radii[0], radii[1], chain[2]), (pts[1], end, radii[1], radii[2], chain[3])]
        for p, q, rp, rq, own in segs:
            mid = 0.5 * (p + q)
            a += [p, mid]
            b += [mid, q]
            r += [0.75 * rp + 0.25 * rq, 0.25 * rp + 0.75 * rq]
            owner += [own, own]
    return a, b, r, owner


@dataclass(frozen=True)
class PalmPoints:
    """Points of the palm and wrist that the solids are built on, camera xyz (3,) mm each: the
    centre of the palm heel line, its radial (thumb side) and ulnar ends, and the wrist centre."""

    heel_centre: np.ndarray
    heel_radial: np.ndarray
    heel_ulnar: np.ndarray
    wrist: np.ndarray


def palm_points(joints: np.ndarray, shape: HandShape) -> PalmPoints:
    """The palm heel and wrist of a hand whose ICVL joints are ``joints`` (16, 3) camera xyz mm:
    the heel line ``palm_heel_back_mm`` behind the palm joint (away from the fingers), as wide as
    the knuckle line times ``palm_heel_width_ratio``; the wrist ``wrist_back_mm`` behind it."""
    joints = np.asarray(joints, dtype=np.float64)
    f, l, _ = palm_frame(joints)
    palm = joints[_PALM]
    roots = joints[[_INDEX[1], _MIDDLE[1], _RING[1], _PINKY[1]]]  # (4, 3)
    knuckle_width = float((roots[0] - roots[3]) @ l)
    heel_centre = palm - f * shape.palm_heel_back_mm
    heel_half = 0.5 * knuckle_width * shape.palm_heel_width_ratio
    return PalmPoints(heel_centre=heel_centre, heel_radial=heel_centre + l * heel_half,
                      heel_ulnar=heel_centre - l * heel_half, wrist=palm - f * shape.wrist_back_mm)


def build_primitives(joints: np.ndarray, shape: HandShape) -> HandPrimitives:
    """The solids of a hand whose ICVL joints are ``joints`` (16, 3) camera xyz mm."""
    joints = np.asarray(joints, dtype=np.float64)
    f, l, n = palm_frame(joints)
    palm = joints[_PALM]
    ht = shape.palm_half_thickness_mm
    a, b, r, owner = _finger_capsules(joints, shape)

    roots = joints[[_INDEX[1], _MIDDLE[1], _RING[1], _PINKY[1]]]  # (4, 3)
    heel = palm_points(joints, shape)
    heel_centre, heel_r, heel_u, wrist = heel.heel_centre, heel.heel_radial, heel.heel_ulnar, heel.wrist

    # Palm slab: the convex hull of roots and heels, projected on the plane through the palm joint.
    outline = np.vstack([roots, heel_u[None], heel_r[None]])  # (6, 3)
    rel = outline - palm
    poly = _convex_hull_2d(np.stack([rel @ f, rel @ l], axis=1))
    slab = Slab(centre=palm, normal=n, axes=np.stack([f, l]), polygon=poly, half_thickness=ht)
    verts = slab.vertices()
    for i in range(len(verts)):  # rounded slab edges
        a.append(verts[i]); b.append(verts[(i + 1) % len(verts)]); r.append(ht); owner.append(PALM)
    # The knuckle row at the roots' own positions (an arched palm lifts them off the slab's plane).
    for k in range(3):
        a.append(roots[k]); b.append(roots[k + 1]); r.append(0.9 * ht); owner.append(PALM)
    # Thenar eminence: heel to thumb root, and palm centre to thumb root.
    thumb_root = joints[_THUMB[1]]
    thumb_r0 = shape.finger_radii(0)[0]
    a += [heel_r, palm]; b += [thumb_root, thumb_root]; r += [1.1 * thumb_r0, thumb_r0]; owner += [PALM, PALM]
    # Wrist and forearm stub, leaving the palm away from the fingers (the bend's first angle is
    # toward the palm side: N, or -N for the mirror image).
    fore_dir = _rotate_toward(-f, -n if shape.mirrored else n, l, *shape.wrist_bend_deg)
    fore_mid = wrist + fore_dir * 0.5 * shape.forearm_length_mm
    fore_end = wrist + fore_dir * shape.forearm_length_mm
    a += [heel_centre, wrist, fore_mid]
    b += [wrist, fore_mid, fore_end]
    r += [0.8 * ht + 0.2 * shape.wrist_radius_mm, shape.wrist_radius_mm,
          0.5 * (shape.wrist_radius_mm + shape.forearm_radius_mm)]
    owner += [ARM, ARM, ARM]
    return HandPrimitives(a=np.array(a), b=np.array(b), radius=np.array(r, dtype=np.float64),
                          owner=np.array(owner), slab=slab)
