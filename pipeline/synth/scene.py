"""Real-camera scenes around the synthetic hand: forearm, torso and clutter (pure numpy).

Frame and units: camera xyz in mm (``pipeline/camera.py``); the hand's joints (16, 3) are given.

A scene frame adds, besides the hand (whose labels stay its 16 joints):
  * the forearm continuing out of the image: capsules from the wrist away from the fingers (their
    direction in the image is the hand's palm -> wrist direction), receding from the camera by a
    small elevation angle, long enough that the arm's axis leaves the image;
  * a torso: a large ellipsoid whose nearest point lies ``torso_gap_mm`` (150-400 mm) behind the
    palm joint, offset toward where the arm goes (the body is where the arm comes from);
  * clutter: sometimes a desk (a large thin box, tilted like a desk or floor seen from above) and a
    few boxes, balls and cylinders (capsules), all at least ``clutter_gap_mm[0]`` behind the palm.
Nothing but the arm is ever nearer than ``min_gap_mm`` behind the palm joint, which is behind every
hand surface (the longest finger reaches about 115 mm from the palm joint), so the hand stays the
nearest object: occluders in front of the hand are a sensor effect (``pipeline.synth.sensor``).
The arm's elevation is lowered, when needed, so that it stays in front of the torso until it has left
the image. Every random draw comes from the frame's own generator (deterministic per seed key).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.camera import Intrinsics, uvd_to_xyz, xyz_to_uvd
from pipeline.skeleton import ICVL_SKELETON
from pipeline.synth.handmodel import ARM, HandPrimitives, HandShape, palm_frame
from pipeline.synth.poses import MotionModel
from pipeline.synth.render import NO_HIT, extent_along, render_depth, zbuffer_solid

# Part codes of a rendered scene (``render_scene``).
PART_NONE, PART_HAND, PART_ARM, PART_TORSO, PART_CLUTTER = 0, 1, 2, 3, 4

# Hand motion of scene sequences: the palm joint at 250-900 mm (plain sequences: 220-420 mm).
SCENE_MOTION = MotionModel(depth_range_mm=(250.0, 900.0), joint_depth_mm=(200.0, 1000.0))


@dataclass(frozen=True)
class SceneModel:
    """Ranges of the scene's random draws (mm, degrees; ranges uniform unless said otherwise)."""

    min_gap_mm: float = 150.0  # nothing but the arm nearer than this behind the palm joint
    torso_gap_mm: tuple[float, float] = (150.0, 400.0)  # torso's nearest point behind the palm joint
    torso_semi_mm: tuple[tuple[float, float], ...] = ((170.0, 240.0), (260.0, 380.0), (100.0, 140.0))
    torso_roll_deg: float = 20.0  # in-plane tilt of the torso, +-
    torso_offset_mm: tuple[float, float] = (100.0, 350.0)  # torso centre from the wrist, along the arm
    torso_side_mm: float = 150.0  # and across it, +-
    arm_elevation_deg: tuple[float, float] = (0.0, 25.0)  # arm receding from the image plane
    arm_radius_scale: tuple[float, float] = (1.0, 1.25)  # forearm radius / the hand's forearm stub
    upper_arm_ratio: float = 1.3  # radius beyond the elbow / forearm radius
    forearm_mm: float = 260.0  # wrist -> elbow
    desk_p: float = 0.6  # probability of a desk
    desk_gap_mm: tuple[float, float] = (150.0, 600.0)  # desk's nearest point behind the palm joint
    desk_tilt_deg: tuple[float, float] = (15.0, 75.0)  # 0 = facing the camera, 90 = edge-on
    objects: float = 2.0  # clutter objects per frame (Poisson mean)
    clutter_gap_mm: tuple[float, float] = (150.0, 800.0)  # objects' nearest point behind the palm
    object_size_mm: tuple[float, float] = (30.0, 120.0)  # half size / radius


@dataclass(frozen=True)
class Solid:
    """One solid of a scene: kind 'capsule' (params a (3,), b (3,), radius), 'ellipsoid' or 'box'
    (centre (3,), axes (3, 3) rows, semi-axes / half sizes (3,)); mm, camera xyz; part code."""

    kind: str
    params: tuple
    part: int

    def nearest_z(self) -> float:
        """The smallest depth z (mm) of any point of the solid."""
        if self.kind == "capsule":
            a, b, r = self.params
            return float(min(a[2], b[2]) - r)
        centre, axes, half = self.params
        return float(centre[2] - extent_along(axes, half, self.kind == "box")[2])


@dataclass(frozen=True)
class Scene:
    """The solids around one hand, and the palm joint's depth (mm) they were placed against."""

    solids: tuple[Solid, ...]
    palm_z: float
    torso_gap_mm: float


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-9)


def _rot_z(deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _random_axes(rng: np.random.Generator) -> np.ndarray:
    """A random rotation (3, 3), rows orthonormal (QR of a Gaussian matrix, sign-fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    return (q * np.sign(np.diag(r))).T


def _exit_distance(start: np.ndarray, direction: np.ndarray, intr: Intrinsics,
                   step: float = 10.0, reach: float = 4000.0) -> float:
    """Distance (mm) along ``direction`` from ``start`` (camera xyz) at which the point projects
    outside the image; ``reach`` if it never does."""
    s = np.arange(0.0, reach + step, step)
    uvd = xyz_to_uvd(start + s[:, None] * direction, intr)  # (S, 3)
    out = ((uvd[:, 0] < -0.5) | (uvd[:, 0] > intr.width - 0.5) | (uvd[:, 1] < -0.5)
           | (uvd[:, 1] > intr.height - 0.5))
    return float(s[np.argmax(out)]) if out.any() else reach


def _arm(rng, joints, shape: HandShape, intr: Intrinsics, model: SceneModel, torso_front_z: float):
    """Forearm capsules leaving the image, and the arm's unit direction in the image plane."""
    f, _, _ = palm_frame(joints)
    wrist = joints[ICVL_SKELETON.root] - f * shape.wrist_back_mm
    xy = -f[:2]
    if np.linalg.norm(xy) < 0.3:  # fingers toward or away from the camera: let the arm hang down
        xy = xy + np.array([0.0, 0.6])
    xy = _unit(xy)
    radius = shape.forearm_radius_mm * rng.uniform(*model.arm_radius_scale)
    upper = radius * model.upper_arm_ratio
    elevation = rng.uniform(*model.arm_elevation_deg)
    for e in (elevation, 0.5 * elevation, 0.0):  # keep the arm in front of the torso in the image
        c, s = np.cos(np.radians(e)), np.sin(np.radians(e))
        direction = np.array([xy[0] * c, xy[1] * c, s])
        exit_s = _exit_distance(wrist, direction, intr)
        if wrist[2] + exit_s * s + upper + 20.0 <= torso_front_z:
            break
    end_s = exit_s + 150.0 + 2.0 * upper
    elbow_s = min(model.forearm_mm, end_s)
    elbow, end = wrist + elbow_s * direction, wrist + end_s * direction
    solids = [Solid("capsule", (wrist, elbow, radius), PART_ARM)]
    if end_s > elbow_s:
        solids.append(Solid("capsule", (elbow, end, upper), PART_ARM))
    return solids, xy


def _push_back(solid: Solid, min_z: float) -> Solid:
    """``solid`` moved along +z so that its nearest point is at least ``min_z`` (mm)."""
    shift = max(0.0, min_z - solid.nearest_z())
    if shift == 0.0:
        return solid
    dz = np.array([0.0, 0.0, shift])
    if solid.kind == "capsule":
        a, b, r = solid.params
        return Solid(solid.kind, (a + dz, b + dz, r), solid.part)
    centre, axes, half = solid.params
    return Solid(solid.kind, (centre + dz, axes, half), solid.part)


def _desk(rng, palm: np.ndarray, model: SceneModel) -> Solid:
    """A large thin box tilted back like a desk or floor seen from above (near at the bottom)."""
    a = np.radians(rng.uniform(*model.desk_tilt_deg))
    normal = np.array([0.0, -np.sin(a), -np.cos(a)])  # facing the camera, tilted up
    along = np.array([0.0, np.cos(a), -np.sin(a)])  # toward the image bottom and the camera
    yaw_deg = rng.uniform(-20.0, 20.0)
    cy, sy = np.cos(np.radians(yaw_deg)), np.sin(np.radians(yaw_deg))
    yaw = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])  # about the camera's y axis
    axes = np.stack([np.array([1.0, 0.0, 0.0]), normal, along]) @ yaw.T  # (3, 3) rows
    half = np.array([rng.uniform(800.0, 1500.0), rng.uniform(10.0, 20.0), rng.uniform(600.0, 1200.0)])
    centre = palm + np.array([rng.uniform(-200.0, 200.0), rng.uniform(0.0, 300.0), 0.0])
    desk = Solid("box", (centre, axes, half), PART_CLUTTER)
    return _push_back(desk, palm[2] + rng.uniform(*model.desk_gap_mm))


def _object(rng, palm_z: float, intr: Intrinsics, model: SceneModel) -> Solid:
    """A box, ball or cylinder (capsule) somewhere in the image, behind the hand."""
    z = palm_z + rng.uniform(*model.clutter_gap_mm)
    centre = uvd_to_xyz(np.array([rng.uniform(0, intr.width), rng.uniform(0, intr.height), z]), intr)
    lo, hi = model.object_size_mm
    kind = int(rng.integers(3))
    if kind == 0:
        solid = Solid("box", (centre, _random_axes(rng), rng.uniform(lo, hi, 3)), PART_CLUTTER)
    elif kind == 1:
        r = rng.uniform(lo, hi)
        solid = Solid("ellipsoid", (centre, np.eye(3), np.full(3, r)), PART_CLUTTER)
    else:
        axis = _unit(rng.standard_normal(3)) * rng.uniform(lo, 2.5 * hi)
        solid = Solid("capsule", (centre - axis, centre + axis, rng.uniform(0.4 * lo, 0.6 * hi)), PART_CLUTTER)
    return _push_back(solid, palm_z + model.clutter_gap_mm[0])


def sample_scene(rng: np.random.Generator, joints: np.ndarray, shape: HandShape, intr: Intrinsics,
                 model: SceneModel = SceneModel()) -> Scene:
    """The scene around a hand with joints (16, 3) camera xyz mm and shape ``shape``."""
    joints = np.asarray(joints, dtype=np.float64)
    palm = joints[ICVL_SKELETON.root]
    gap = rng.uniform(*model.torso_gap_mm)
    arm, xy = _arm(rng, joints, shape, intr, model, palm[2] + gap)
    semi = np.array([rng.uniform(lo, hi) for lo, hi in model.torso_semi_mm])
    axes = _rot_z(rng.uniform(-model.torso_roll_deg, model.torso_roll_deg))  # rows: the torso's axes
    side = np.array([-xy[1], xy[0]])
    centre_xy = palm[:2] + xy * rng.uniform(*model.torso_offset_mm) + side * rng.uniform(
        -model.torso_side_mm, model.torso_side_mm)
    centre = np.array([centre_xy[0], centre_xy[1], palm[2] + gap + semi[2]])  # roll only: z extent = semi z
    solids = [*arm, Solid("ellipsoid", (centre, axes, semi), PART_TORSO)]
    if rng.random() < model.desk_p:
        solids.append(_desk(rng, palm, model))
    for _ in range(int(rng.poisson(model.objects))):
        solids.append(_object(rng, float(palm[2]), intr, model))
    return Scene(solids=tuple(solids), palm_z=float(palm[2]), torso_gap_mm=float(gap))


def render_scene(prims: HandPrimitives, scene: Scene | None, intr: Intrinsics,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render a hand and its scene: depth (H, W) float64 mm (inf = nothing), the visible part
    (H, W) uint8 (``PART_*``; the hand model's own forearm stub counts as the arm) and the visible
    object (H, W) int16: 0 nothing, 1 the hand with its arm, 2 + k the scene's k-th other solid
    (for the sensor: depth steps between objects are silhouettes)."""
    depth, ids = render_depth(prims, intr)
    owner = np.append(prims.owner, 0)  # the palm slab (id len(capsules)) belongs to the hand
    part = np.where(ids < 0, PART_NONE, np.where(owner[ids] == ARM, PART_ARM, PART_HAND)).astype(np.uint8)
    surface = (ids >= 0).astype(np.int16)
    if scene is None:
        return depth, part, surface
    sids = np.full(depth.shape, -1, dtype=np.int16)
    sdepth = np.full(depth.shape, NO_HIT)
    for k, solid in enumerate(scene.solids):
        zbuffer_solid(sdepth, sids, solid.kind, solid.params, k, intr)
    nearer = sdepth < depth
    parts = np.array([s.part for s in scene.solids], dtype=np.uint8)
    objects = np.array([1 if s.part == PART_ARM else 2 + k for k, s in enumerate(scene.solids)], dtype=np.int16)
    part[nearer] = parts[sids[nearer]]
    surface[nearer] = objects[sids[nearer]]
    return np.minimum(depth, sdepth), part, surface
