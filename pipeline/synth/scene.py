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
None of these is ever nearer than ``min_gap_mm`` behind the palm joint, which is behind every hand
surface (the longest finger reaches about 115 mm from the palm joint). The arm's elevation is
lowered, when needed, so that it stays in front of the torso until it has left the image.

Real recordings also hold things nearer than the hand (a label-free "nearest blob" rule picks them),
each with its own probability per frame (``SceneModel``):
  * the person's other hand (``other_hand_p``): a full hand of the other chirality (the hand of
    interest's shape with ``HandShape.mirrored`` toggled, its bone lengths, a resting gesture from
    ``other_hand_gestures``), its fingers pointing into the image away from an image border (weights
    ``other_hand_borders``: bottom, left, right, top) within ``other_hand_roll_deg``, its own forearm
    leaving the image (along its palm -> wrist direction, so toward that border); a share
    ``other_hand_at_border_p`` partly out of view (palm joint within -5..10 % of the image side from
    the border), the rest 15-35 % in. A share ``other_hand_nearer_p`` has its nearest surface (its
    model's forearm stub included) ``other_hand_nearer_mm`` in front of the hand of interest's
    nearest surface, the rest ``other_hand_behind_mm`` behind it (also when the hand of interest is
    too near the camera for it to fit in front; behind, the torso or clutter may hide it); its scene
    forearm, a little wider than the wrist, can start up to about 20 mm nearer (``Scene.other_near_z``
    is the nearest of both);
  * a body part nearer than the hand (``near_body_p``): an ellipsoid (a shoulder, semi-axes
    ``near_body_semi_mm``) entering from an image border (``near_body_borders``) whose silhouette
    lies ``near_gap_mm`` in front of the hand's nearest surface;
  * a chair or desk edge (``near_edge_p``): a long thin box entering from an image border
    (``near_edge_borders``), receding from its front edge along the viewing ray turned outward by
    ``near_edge_tilt_deg``, its nearest point in view ``near_gap_mm`` in front of the hand's nearest
    surface (when the box's nearest point is out of view, the box is scaled about the camera
    centre, which keeps its image footprint);
  * speckle and flying-pixel clusters (``speckle_p``): ``speckle_clusters`` blobs of
    ``speckle_pixels`` pixels each, ``speckle_gap_mm`` in front of the hand's nearest surface,
    painted over the measured depth after the sensor (``pipeline.synth.sensor.paint_speckles`` in
    ``pipeline.synth.frames.render_frame_mm``); pixels that would touch the keep-out box are dropped.
The body part and the edge reach ``near_reach`` (a share of the image side) into the image, measured
on their footprint's part within the image along that border, so that they are always in view. None
of them covers the hand of interest: the other hand's image box, the footprints of its forearm, of
the body part and of the edge, and the speckle pixels all stay ``keep_out_px`` outside the hand's
image box (an element without room is left out; the box of projected primitive ends +- their radii
is within about 2 px of the rendered hand), and none is nearer than ``near_min_mm`` to the camera
(speckles: but for their 2 mm per-pixel noise).
The labels stay the hand of interest's 16 joints. Every random draw comes from the frame's own
generator (deterministic per seed key); the new elements are drawn after the old ones, so with
their probabilities 0 a scene's other solids are those of before.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from pipeline.camera import Intrinsics, uvd_to_xyz, xyz_to_uvd
from pipeline.skeleton import ICVL_SKELETON
from pipeline.synth.handmodel import ARM, HandPrimitives, HandShape, build_primitives, palm_frame
from pipeline.synth.poses import MotionModel, Proportions, Subject, camera_joints, sample_articulation
from pipeline.synth.render import NO_HIT, extent_along, render_depth, zbuffer_solid
from pipeline.synth.sensor import speckle_clusters

# Part codes of a rendered scene (``render_scene``): PART_OTHER_HAND is the person's other hand with
# its forearm, PART_NEAR a body part or a chair/desk edge placed nearer than the hand.
PART_NONE, PART_HAND, PART_ARM, PART_TORSO, PART_CLUTTER, PART_OTHER_HAND, PART_NEAR = 0, 1, 2, 3, 4, 5, 6

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
    # Things nearer than the hand (module docstring); borders are weighted (bottom, left, right, top).
    near_min_mm: float = 150.0  # nothing is placed nearer to the camera than this
    keep_out_px: float = 6.0  # margin (px) around the hand's image box that the elements keep clear of
    other_hand_p: float = 0.6  # probability of the person's other hand
    other_hand_nearer_p: float = 0.3  # of those, the share nearer than the hand of interest
    other_hand_nearer_mm: tuple[float, float] = (30.0, 200.0)  # its nearest surface in front of the hand's
    other_hand_behind_mm: tuple[float, float] = (20.0, 300.0)  # else behind the hand's nearest surface
    other_hand_at_border_p: float = 0.6  # share partly out of view at the image border
    other_hand_borders: tuple[float, ...] = (0.55, 0.2, 0.2, 0.05)
    other_hand_roll_deg: float = 40.0  # fingers pointing away from its border, +-
    other_hand_pitch_deg: float = 50.0  # +-; yaw is uniform in +-180
    other_hand_gestures: tuple[str, ...] = ("relaxed", "relaxed", "open", "fist")  # drawn uniformly
    near_body_p: float = 0.25  # probability of a body part (shoulder) nearer than the hand
    near_body_semi_mm: tuple[tuple[float, float], ...] = ((120.0, 200.0), (90.0, 160.0), (60.0, 110.0))
    near_body_borders: tuple[float, ...] = (0.3, 0.35, 0.35, 0.0)
    near_edge_p: float = 0.3  # probability of a chair/desk edge nearer than the hand
    near_edge_borders: tuple[float, ...] = (0.55, 0.2, 0.2, 0.05)
    near_edge_tilt_deg: tuple[float, float] = (0.0, 60.0)  # 0 = receding along the ray, its face to the camera
    near_gap_mm: tuple[float, float] = (20.0, 250.0)  # body/edge in front of the hand's nearest surface
    near_reach: tuple[float, float] = (0.04, 0.3)  # reach into the image, share of the image side
    speckle_p: float = 0.3  # probability of speckle / flying-pixel clusters
    speckle_clusters: tuple[int, int] = (1, 4)  # clusters per frame, uniform integers (inclusive)
    speckle_pixels: tuple[float, float] = (3.0, 40.0)  # pixels per cluster (log-uniform)
    speckle_gap_mm: tuple[float, float] = (20.0, 300.0)  # in front of the hand's nearest surface


@dataclass(frozen=True)
class Solid:
    """One solid of a scene: kind 'capsule' (params a (3,), b (3,), radius), 'ellipsoid' or 'box'
    (centre (3,), axes (3, 3) rows, semi-axes / half sizes (3,)); mm, camera xyz; part code."""

    kind: str
    params: tuple
    part: int
    near: bool = False  # placed nearer than the hand of interest's nearest surface

    def nearest_z(self) -> float:
        """The smallest depth z (mm) of any point of the solid."""
        if self.kind == "capsule":
            a, b, r = self.params
            return float(min(a[2], b[2]) - r)
        centre, axes, half = self.params
        return float(centre[2] - extent_along(axes, half, self.kind == "box")[2])


@dataclass(frozen=True)
class Scene:
    """The solids around one hand, and the palm joint's depth (mm) they were placed against; the
    person's other hand (its primitives and joints (16, 3) camera xyz mm; not labels) and the depth
    (mm) of its nearest surface, forearm included; speckle pixels painted over the measured depth
    (rows (P,), cols (P,), depths (P,) mm; ``pipeline.synth.frames.render_frame_mm``), and the hand
    of interest's nearest surface depth (mm; fingers, palm and wrist) and image box (u0, u1, v0, v1)
    px the near elements keep to."""

    solids: tuple[Solid, ...]
    palm_z: float
    torso_gap_mm: float
    other_hand: HandPrimitives | None = None
    other_joints: np.ndarray | None = None
    other_near_z: float = float("nan")  # depth (mm) of the other hand's nearest surface, forearm included
    speckles: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    hand_near_z: float = float("nan")
    hand_box: tuple[float, float, float, float] | None = None

    def speckle_mask(self, shape: tuple[int, int]) -> np.ndarray:
        """(H, W) bool: the speckle pixels of an image of ``shape``."""
        mask = np.zeros(shape, dtype=bool)
        if self.speckles is not None:
            mask[self.speckles[0], self.speckles[1]] = True
        return mask


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


def _moved(solid: Solid, d: np.ndarray) -> Solid:
    """``solid`` translated by ``d`` (3,) mm."""
    if solid.kind == "capsule":
        a, b, r = solid.params
        return replace(solid, params=(a + d, b + d, r))
    centre, axes, half = solid.params
    return replace(solid, params=(centre + d, axes, half))


def _push_back(solid: Solid, min_z: float) -> Solid:
    """``solid`` moved along +z so that its nearest point is at least ``min_z`` (mm)."""
    shift = max(0.0, min_z - solid.nearest_z())
    if shift == 0.0:
        return solid
    return _moved(solid, np.array([0.0, 0.0, shift]))


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
    # Things nearer than the hand, clear of its image box.
    box, near_z = _hand_window(build_primitives(joints, shape), intr)
    keep = _grown(box, model.keep_out_px)
    other = other_joints = speckles = None
    other_near_z = float("nan")
    if rng.random() < model.other_hand_p:
        placed = _other_hand(rng, joints, shape, keep, near_z, palm[2] + gap, intr, model)
        if placed is not None:
            other, other_joints, other_arm, other_near_z = placed
            solids += other_arm
    if rng.random() < model.near_body_p:
        solids += _near_body(rng, keep, near_z, intr, model)
    if rng.random() < model.near_edge_p:
        solids += _near_edge(rng, keep, near_z, intr, model)
    if rng.random() < model.speckle_p:
        count = int(rng.integers(model.speckle_clusters[0], model.speckle_clusters[1] + 1))
        lo = max(model.near_min_mm, near_z - model.speckle_gap_mm[1])
        hi = near_z - model.speckle_gap_mm[0]
        if hi > lo:
            speckles = speckle_clusters(rng, (intr.height, intr.width), count, model.speckle_pixels,
                                        (lo, hi), keep)
    return Scene(solids=tuple(solids), palm_z=float(palm[2]), torso_gap_mm=float(gap), other_hand=other,
                 other_joints=other_joints, other_near_z=other_near_z, speckles=speckles, hand_near_z=near_z,
                 hand_box=box)


# ----------------------------------------------------------------------------- nearer than the hand

# Unit image directions (u, v) toward each border: bottom, left, right, top.
_OUTWARD = np.array([[0.0, 1.0], [-1.0, 0.0], [1.0, 0.0], [0.0, -1.0]])
_FINGERS_AWAY_DEG = (0.0, 90.0, -90.0, 180.0)  # roll pointing the fingers away from each border


def _hand_window(prims: HandPrimitives, intr: Intrinsics) -> tuple[tuple[float, float, float, float], float]:
    """The image box (u0, u1, v0, v1) px of a hand's solids (fingers, palm and wrist; not the
    forearm stub beyond the wrist) and the depth (mm) of its nearest surface."""
    arm = np.flatnonzero(prims.owner == ARM)
    use = np.ones(len(prims.radius), dtype=bool)
    use[arm[1:]] = False  # keep heel -> wrist only
    ends = np.concatenate([prims.a[use], prims.b[use], prims.slab.vertices()])  # (N, 3)
    radii = np.concatenate([prims.radius[use], prims.radius[use],
                            np.full(len(prims.slab.polygon), prims.slab.half_thickness)])
    uvd = xyz_to_uvd(ends, intr)
    ru, rv = radii * intr.fx / uvd[:, 2], radii * intr.fy / uvd[:, 2]
    box = (float((uvd[:, 0] - ru).min()), float((uvd[:, 0] + ru).max()),
           float((uvd[:, 1] - rv).min()), float((uvd[:, 1] + rv).max()))
    return box, float((ends[:, 2] - radii).min())


def _nearest_z(prims: HandPrimitives) -> float:
    """The depth (mm) of the nearest surface of all of a hand's primitives (forearm stub included)."""
    return float(min((prims.a[:, 2] - prims.radius).min(), (prims.b[:, 2] - prims.radius).min(),
                     (prims.slab.vertices()[:, 2] - prims.slab.half_thickness).min()))


def _grown(box, px: float) -> tuple[float, float, float, float]:
    return box[0] - px, box[1] + px, box[2] - px, box[3] + px


def _room(box, border: int, intr: Intrinsics) -> float:
    """Pixels between the box (u0, u1, v0, v1) and image border ``border`` (0 bottom .. 3 top)."""
    return (intr.height - box[3], box[0], intr.width - box[1], box[2])[border]


def _penetration(uv: np.ndarray, border: int, intr: Intrinsics) -> np.ndarray:
    """How far (px) points uv (N, 2) lie inside the image from border ``border``."""
    return (intr.height - uv[:, 1], uv[:, 0], intr.width - uv[:, 0], uv[:, 1])[border]


def _pick_border(rng, weights, keep, intr: Intrinsics, need_px: float) -> int | None:
    """A border drawn by ``weights`` among those with at least ``need_px`` of room outside ``keep``."""
    w = np.array([wt if _room(keep, b, intr) >= need_px else 0.0 for b, wt in enumerate(weights)])
    if w.sum() <= 0:
        return None
    return int(rng.choice(4, p=w / w.sum()))


def _surface_points(solid: Solid) -> np.ndarray:
    """Points (N, 3) mm on a box's 12 edges (every few mm) or on an ellipsoid's surface (a 48 x 25
    grid of directions), whose image spans the solid's image footprint to well under a pixel."""
    centre, axes, half = solid.params
    if solid.kind == "box":
        signs = np.array([[i, j, k] for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)], dtype=np.float64)
        ends = [(p, q) for p in range(8) for q in range(p + 1, 8) if np.abs(signs[p] - signs[q]).sum() == 2]
        t = np.linspace(0.0, 1.0, 400)[:, None]
        local = np.concatenate([signs[p] + t * (signs[q] - signs[p]) for p, q in ends])  # (12 * 400, 3)
        return centre + (local * half) @ axes
    lon, lat = np.meshgrid(np.linspace(-np.pi, np.pi, 48, endpoint=False),
                           np.linspace(-0.5 * np.pi, 0.5 * np.pi, 25))
    unit = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], -1).reshape(-1, 3)
    return centre + (unit * half) @ axes


def _reach_in(solid: Solid, border: int, intr: Intrinsics) -> tuple[float, float]:
    """How far (px) a box's or an ellipsoid's image footprint reaches into the image from border
    ``border``, counting only its part within the image along that border (-inf when none is), and
    the depth (mm) of the point that reaches furthest."""
    uvd = xyz_to_uvd(_surface_points(solid), intr)
    lateral, size = (uvd[:, 0], intr.width) if border in (0, 3) else (uvd[:, 1], intr.height)
    inside = (lateral >= -0.5) & (lateral <= size - 0.5)
    if not inside.any():
        return -np.inf, float("nan")
    pen = _penetration(uvd[inside, :2], border, intr)
    k = int(np.argmax(pen))
    return float(pen[k]), float(uvd[inside][k, 2])


def _slide_to(solid: Solid, border: int, reach_px: float, intr: Intrinsics) -> Solid | None:
    """``solid`` (a box or an ellipsoid) moved in its depth plane, toward or away from ``border``,
    until its image footprint, within the image, reaches ``reach_px`` into the image from that border
    (``_reach_in``; 0-0.5 px short of it, never beyond); None when it cannot (nothing of it within
    the image along the border, or no convergence)."""
    out3 = np.array([*_OUTWARD[border], 0.0])
    focal = intr.fy if border in (0, 3) else intr.fx
    for _ in range(16):
        pen, z = _reach_in(solid, border, intr)
        if not np.isfinite(pen):
            return None
        excess = pen - reach_px
        if -0.5 <= excess <= 0.0:
            return solid
        solid = _moved(solid, out3 * ((excess + 0.25) * z / focal))
    return None


def _in_view_nearest_z(solid: Solid, intr: Intrinsics) -> float:
    """The depth (mm) of the nearest point of a box's faces (a 40 x 40 grid on each) or an
    ellipsoid's surface that projects within the image; inf when none does."""
    if solid.kind == "box":
        centre, axes, half = solid.params
        g = np.linspace(-1.0, 1.0, 40)
        a, b = (x.ravel() for x in np.meshgrid(g, g))
        faces = []
        for k in range(3):
            for sign in (-1.0, 1.0):
                local = np.zeros((a.size, 3))
                local[:, k], local[:, (k + 1) % 3], local[:, (k + 2) % 3] = sign, a, b
                faces.append(local)
        points = centre + (np.concatenate(faces) * half) @ axes
    else:
        points = _surface_points(solid)
    uvd = xyz_to_uvd(points, intr)
    inside = ((uvd[:, 0] >= -0.5) & (uvd[:, 0] <= intr.width - 0.5) & (uvd[:, 1] >= -0.5)
              & (uvd[:, 1] <= intr.height - 0.5))
    return float(uvd[inside, 2].min()) if inside.any() else np.inf


def _scaled(solid: Solid, k: float) -> Solid:
    """A box or an ellipsoid scaled by ``k`` about the camera centre: the same image footprint, every
    depth times k."""
    centre, axes, half = solid.params
    return replace(solid, params=(centre * k, axes, half * k))


def _clear_of(centres: np.ndarray, radii: np.ndarray, box, intr: Intrinsics) -> bool:
    """Whether no sphere (centres (N, 3), radii (N,) mm) projects within the box (u0, u1, v0, v1)."""
    uvd = xyz_to_uvd(centres, intr)
    r = radii * max(intr.fx, intr.fy) / np.maximum(uvd[:, 2], 1.0)
    du = np.maximum(0.0, np.maximum(box[0] - uvd[:, 0], uvd[:, 0] - box[1]))
    dv = np.maximum(0.0, np.maximum(box[2] - uvd[:, 1], uvd[:, 1] - box[3]))
    return bool(np.all(du * du + dv * dv > r * r))


def _capsule_spheres(a: np.ndarray, b: np.ndarray, r: float) -> tuple[np.ndarray, np.ndarray]:
    """Spheres (centres (N, 3), radii (N,)) covering a capsule: its axis sampled every r/2."""
    n = max(2, int(np.ceil(np.linalg.norm(b - a) / (0.5 * r))) + 1)
    s = np.linspace(0.0, 1.0, n)[:, None]
    return a + s * (b - a), np.full(n, r * 1.03)


def _near_depth(rng, near_z: float, gap_mm: tuple[float, float], model: SceneModel) -> float | None:
    """A depth ``gap_mm`` in front of the hand's nearest surface ``near_z``, no nearer than
    ``model.near_min_mm``; None if not even 10 mm in front of the hand fits."""
    z = max(model.near_min_mm, near_z - rng.uniform(*gap_mm))
    return z if z <= near_z - 10.0 else None


def _other_hand(rng, joints, shape: HandShape, keep, near_z: float, torso_front_z: float,
                intr: Intrinsics, model: SceneModel):
    """The person's other hand (primitives, joints (16, 3) mm, forearm solids, and the depth (mm) of
    its nearest surface, forearm included) away from the box ``keep``; None when 8 tries find no
    place. Its depth is set by the nearest surface of all its primitives, the model's forearm stub
    included (a hand whose fingers point away from the camera has its stub nearest)."""
    other_shape = replace(shape, mirrored=not shape.mirrored)
    mean = Proportions()
    subject = Subject(bone_lengths=tuple(float(x) for x in ICVL_SKELETON.bone_lengths(joints)),
                      root_angle_deg=tuple(float(x) for x in np.asarray(mean.root_angle_deg)
                                           + rng.normal(0.0, 3.0, 5)),
                      root_lift=tuple(float(x) for x in np.array([0.45, 0, 0, 0, 0]) + rng.normal(0.0, 0.04, 5)),
                      shape=other_shape, scale=1.0)
    gesture = model.other_hand_gestures[int(rng.integers(len(model.other_hand_gestures)))]
    art = sample_articulation(rng, gesture)[None]  # (1, P)
    nearer = rng.random() < model.other_hand_nearer_p
    at_border = rng.random() < model.other_hand_at_border_p
    target = _near_depth(rng, near_z, model.other_hand_nearer_mm, model) if nearer else None
    if target is None:  # behind the hand's nearest surface, in front of the torso when there is room
        lo, hi = model.other_hand_behind_mm
        target = near_z + min(rng.uniform(lo, hi), max(lo, torso_front_z - 150.0 - near_z))
    weights = np.asarray(model.other_hand_borders, dtype=np.float64)
    for _ in range(8):
        border = int(rng.choice(4, p=weights / weights.sum()))
        inset = rng.uniform(-0.05, 0.1) if at_border else rng.uniform(0.15, 0.35)
        along = rng.uniform(0.1, 0.9)
        side = intr.height if border in (0, 3) else intr.width
        out = _OUTWARD[border]
        centre = np.array([0.5 * intr.width, 0.5 * intr.height])
        uv = centre + out * (0.5 * side - inset * side)
        span = intr.width if border in (0, 3) else intr.height
        uv = uv + np.abs(out[::-1]) * (along - 0.5) * span
        ang = np.array([[_FINGERS_AWAY_DEG[border] + rng.uniform(-1, 1) * model.other_hand_roll_deg,
                         rng.uniform(-1, 1) * model.other_hand_pitch_deg, rng.uniform(-180.0, 180.0)]])
        z = target + 60.0
        for _ in range(3):  # place the palm so that the hand's nearest surface is at the target depth
            palm = uvd_to_xyz(np.array([uv[0], uv[1], z]), intr)
            other_joints = camera_joints(subject, art, ang, palm[None])[0]
            prims = build_primitives(other_joints, other_shape)
            box, other_near = _hand_window(prims, intr)[0], _nearest_z(prims)
            z += target - other_near
        if other_near < model.near_min_mm - 1.0:
            continue
        if not (box[1] < keep[0] or box[0] > keep[1] or box[3] < keep[2] or box[2] > keep[3]):
            continue  # the image boxes overlap
        arm, _ = _arm(rng, other_joints, other_shape, intr, model, torso_front_z)
        arm = [replace(a, part=PART_OTHER_HAND) for a in arm]
        other_near = min([other_near] + [a.nearest_z() for a in arm])  # the forearm may be wider
        if other_near < model.near_min_mm - 1.0:
            continue
        stub = np.flatnonzero(prims.owner == ARM)
        spheres = [_capsule_spheres(*a.params) for a in arm]
        spheres += [_capsule_spheres(prims.a[k], prims.b[k], prims.radius[k]) for k in stub]
        if not _clear_of(np.concatenate([c for c, _ in spheres]), np.concatenate([r for _, r in spheres]),
                         keep, intr):
            continue
        return prims, other_joints, arm, other_near
    return None


def _near_body(rng, keep, near_z: float, intr: Intrinsics, model: SceneModel) -> list[Solid]:
    """A body part (a shoulder: an ellipsoid) entering from an image border, its silhouette nearer
    than the hand's nearest surface ``near_z``, clear of the box ``keep``; [] if it does not fit."""
    semi = np.array([rng.uniform(lo, hi) for lo, hi in model.near_body_semi_mm])
    axes = _rot_z(rng.uniform(-30.0, 30.0))
    reach, along = rng.uniform(*model.near_reach), rng.uniform(0.15, 0.85)
    silhouette = _near_depth(rng, near_z, model.near_gap_mm, model)
    if silhouette is None:
        return []
    semi[2] = min(semi[2], silhouette - model.near_min_mm)  # its front no nearer than near_min_mm
    border = _pick_border(rng, model.near_body_borders, keep, intr, 0.5 * model.near_reach[0] * intr.height)
    if semi[2] < 30.0 or border is None:
        return []
    side = intr.height if border in (0, 3) else intr.width
    reach_px = min(reach * side, _room(keep, border, intr) - 1.0)
    span = intr.width if border in (0, 3) else intr.height
    uv = (np.array([0.5 * intr.width, 0.5 * intr.height]) + _OUTWARD[border] * 0.5 * side
          + np.abs(_OUTWARD[border][::-1]) * (along - 0.5) * span)
    centre = uvd_to_xyz(np.array([uv[0], uv[1], silhouette]), intr)
    body = _slide_to(Solid("ellipsoid", (centre, axes, semi), PART_NEAR, near=True), border, reach_px, intr)
    return [] if body is None else [body]


def _near_edge(rng, keep, near_z: float, intr: Intrinsics, model: SceneModel) -> list[Solid]:
    """A chair or desk edge (a long thin box) entering from an image border, its nearest edge nearer
    than the hand's nearest surface ``near_z`` and in view, clear of the box ``keep``; [] if it does
    not fit. The box recedes from its front edge along the viewing ray through the edge turned
    outward by the tilt (not along the optical axis), so that its far part projects no further into
    the image than the front edge and the front edge is what reaches ``near_reach`` into it."""
    half = np.array([rng.uniform(300.0, 800.0), rng.uniform(10.0, 30.0), rng.uniform(100.0, 400.0)])
    tilt = np.radians(rng.uniform(*model.near_edge_tilt_deg))
    roll = rng.uniform(-15.0, 15.0)
    reach, along = rng.uniform(*model.near_reach), rng.uniform(0.2, 0.8)
    front = _near_depth(rng, near_z, model.near_gap_mm, model)
    border = _pick_border(rng, model.near_edge_borders, keep, intr, 0.5 * model.near_reach[0] * intr.height)
    if front is None or border is None:
        return []
    side = intr.height if border in (0, 3) else intr.width
    span = intr.width if border in (0, 3) else intr.height
    reach_px = min(reach * side, _room(keep, border, intr) - 1.0)
    uv = (np.array([0.5 * intr.width, 0.5 * intr.height]) + _OUTWARD[border] * (0.5 * side - reach_px)
          + np.abs(_OUTWARD[border][::-1]) * (along - 0.5) * span)  # where the front edge reaches to
    edge = uvd_to_xyz(np.array([uv[0], uv[1], front]), intr)
    out3 = np.array([*_OUTWARD[border], 0.0])
    run = _rot_z(roll) @ np.array([-out3[1], out3[0], 0.0])  # along the border, rolled a little
    depth_dir = np.cos(tilt) * _unit(edge) + np.sin(tilt) * out3  # the ray, receding outward
    depth_dir = _unit(depth_dir - run * (run @ depth_dir))
    axes = np.stack([run, np.cross(depth_dir, run), depth_dir])  # (3, 3) rows
    box = Solid("box", (edge + depth_dir * half[2], axes, half), PART_NEAR, near=True)
    box = _moved(box, np.array([0.0, 0.0, front - box.nearest_z()]))
    box = _slide_to(box, border, reach_px, intr)
    if box is None or not np.isfinite(seen := _in_view_nearest_z(box, intr)):
        return []
    # Its nearest point in view at ``front`` (the face across the ray can have its nearest edge out
    # of view): scaled about the camera centre, which keeps its image footprint.
    k = max(min(1.0, front / seen), model.near_min_mm / box.nearest_z())
    return [_scaled(box, k)]


def render_scene(prims: HandPrimitives, scene: Scene | None, intr: Intrinsics,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render a hand and its scene: depth (H, W) float64 mm (inf = nothing), the visible part
    (H, W) uint8 (``PART_*``; the hand model's own forearm stub counts as the arm) and the visible
    object (H, W) int16: 0 nothing, 1 the hand with its arm, 2 + k the scene's k-th other solid,
    2 + len(solids) the other hand with its forearm (for the sensor: depth steps between objects
    are silhouettes). Speckles are not here: they are painted over the measured depth."""
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
    n = len(scene.solids)
    if scene.other_hand is not None:
        odepth, oids = render_depth(scene.other_hand, intr)
        hit = odepth < sdepth
        sdepth[hit], sids[hit] = odepth[hit], n
    nearer = sdepth < depth
    parts = np.array([s.part for s in scene.solids] + [PART_OTHER_HAND], dtype=np.uint8)
    objects = np.array([1 if s.part == PART_ARM else 2 + n if s.part == PART_OTHER_HAND else 2 + k
                        for k, s in enumerate(scene.solids)] + [2 + n], dtype=np.int16)
    part[nearer] = parts[sids[nearer]]
    surface[nearer] = objects[sids[nearer]]
    return np.minimum(depth, sdepth), part, surface
