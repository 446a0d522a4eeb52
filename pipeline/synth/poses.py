"""Synthetic subjects, a pose prior over hand gestures, and smooth pose sequences.

Frames and units: joints in camera xyz mm (``pipeline/camera.py``); angles in degrees.

A pose is an articulation vector (``ARTICULATION``: finger flexion/abduction, thumb, palm arch) plus
a global orientation (roll in the image plane, pitch, yaw) and the palm joint's position. Forward
kinematics places the 16 ICVL joints in the hand frame (F palm -> fingers, L toward the thumb,
N = F x L where the palm faces) and then in the camera frame. The modelled hand is a right hand;
with zero orientation the fingers point up in the image and the palm faces the camera.

Its chirality is that of ICVL's labels: the fingers flex toward -n for the label normal
n = (index root - palm) x (pinky root - palm) (measured on ICVL's test labels: every flexed finger).
``HandShape.mirrored`` gives the model's mirror image (the L coefficients negated), the chirality of
NYU's labels, whose fingers flex toward +n.

A dataset's average hand (``Proportions``: bone lengths, finger root directions, hand shape) and its
view prior (``ViewModel``) are values; the defaults are the ICVL generator's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.camera import Intrinsics, uvd_to_xyz, xyz_to_uvd
from pipeline.skeleton import FINGERS, ICVL_SKELETON
from pipeline.synth.handmodel import HandShape, sample_hand_shape

_CHAINS = ICVL_SKELETON.part_chains
_PALM = ICVL_SKELETON.root
_BONE_MEAN = np.array([m for m, _ in ICVL_SKELETON.bone_length_mm])  # (15,) mm
_BONE_STD = np.array([s for _, s in ICVL_SKELETON.bone_length_mm])

# Articulation vector layout (degrees).
ARTICULATION = (
    "index_mcp", "index_pip", "index_abd",
    "middle_mcp", "middle_pip", "middle_abd",
    "ring_mcp", "ring_pip", "ring_abd",
    "pinky_mcp", "pinky_pip", "pinky_abd",
    "thumb_yaw", "thumb_opposition", "thumb_flex",
    "palm_arch",
)
_A = {name: i for i, name in enumerate(ARTICULATION)}
# Anatomical limits (degrees): MCP flexion (hyperextension allowed a little), PIP+DIP curl of the
# distal bone, abduction at the root (+ toward the thumb), the thumb's yaw in the palm plane from F
# toward L, its opposition out of the palm plane toward N, its flexion, the palm's cupping.
LIMITS = {
    "mcp": (-15.0, 90.0), "pip": (0.0, 115.0), "abd": (-22.0, 22.0),
    "thumb_yaw": (0.0, 80.0), "thumb_opposition": (-10.0, 80.0), "thumb_flex": (0.0, 80.0),
    "palm_arch": (0.0, 30.0),
}
_LO = np.array([LIMITS[n.split("_")[-1]] if n.split("_")[-1] in ("mcp", "pip", "abd") else LIMITS[n]
                for n in ARTICULATION])[:, 0]
_HI = np.array([LIMITS[n.split("_")[-1]] if n.split("_")[-1] in ("mcp", "pip", "abd") else LIMITS[n]
                for n in ARTICULATION])[:, 1]

# Hand frame -> camera frame at zero orientation: rows are F, L, N in camera xyz.
_BASIS = np.array([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
_SPREAD = np.array([12.0, 2.0, -8.0, -17.0])  # abduction of index..pinky in a full spread
_MIRROR = np.array([1.0, -1.0, 1.0])  # hand coordinates (F, L, N) of the mirror image


@dataclass(frozen=True)
class Proportions:
    """The average hand a dataset's subjects are drawn around.

    ``bone_mm``: mean bone lengths (15,) mm in ``ICVL_SKELETON.bones`` order (the model's bones:
    palm -> root, root -> mid (the PIP for fingers), mid -> tip); ``root_angle_deg``: the mean
    direction of each finger root from the palm joint, thumb..pinky, degrees in the palm plane from
    F toward L; ``shape``: the average ``HandShape`` (its ``mirrored`` sets the chirality). The
    defaults are ICVL's (``ICVL_SKELETON.bone_length_mm``)."""

    bone_mm: tuple[float, ...] = tuple(float(m) for m in _BONE_MEAN)
    root_angle_deg: tuple[float, ...] = (118.0, 19.0, 0.0, -19.0, -38.0)
    shape: HandShape = HandShape()

    def __post_init__(self) -> None:
        if len(self.bone_mm) != len(_BONE_MEAN) or min(self.bone_mm) <= 0:
            raise ValueError(f"bone_mm needs {len(_BONE_MEAN)} positive lengths (mm)")
        if len(self.root_angle_deg) != len(FINGERS):
            raise ValueError(f"root_angle_deg needs {len(FINGERS)} angles")


@dataclass(frozen=True)
class Subject:
    """One synthetic person: bone lengths (15,) mm in ``ICVL_SKELETON.bones`` order, the direction
    of each finger root from the palm joint (angle in the palm plane from F toward L, degrees, and
    lift toward N as a tangent), thumb..pinky, and the hand shape."""

    bone_lengths: tuple[float, ...]
    root_angle_deg: tuple[float, ...]
    root_lift: tuple[float, ...]
    shape: HandShape
    scale: float


def sample_subject(rng: np.random.Generator, scale_range: float = 0.15, bone_noise: float = 0.04,
                   proportions: Proportions = Proportions(), scale: float | None = None) -> Subject:
    """A random subject around ``proportions`` (ICVL's by default): overall scale uniform in
    1 +- ``scale_range`` (or ``scale`` when given: no draw), each bone's length the mean times the
    scale times (1 + ``bone_noise`` x a clipped standard normal), root directions within a few
    degrees of the mean, the hand shape ``sample_hand_shape`` around ``proportions.shape``."""
    if scale is None:
        scale = float(rng.uniform(1.0 - scale_range, 1.0 + scale_range))
    noise = np.clip(rng.standard_normal(len(_BONE_MEAN)), -2.5, 2.5) * bone_noise
    lengths = np.asarray(proportions.bone_mm) * scale * (1.0 + noise)
    angles = np.asarray(proportions.root_angle_deg) + rng.normal(0.0, 3.0, 5)
    lift = np.array([0.45, 0.0, 0.0, 0.0, 0.0]) + rng.normal(0.0, 0.04, 5)
    return Subject(bone_lengths=tuple(float(x) for x in lengths),
                   root_angle_deg=tuple(float(x) for x in angles),
                   root_lift=tuple(float(x) for x in lift),
                   shape=sample_hand_shape(rng, scale, proportions.shape), scale=float(scale))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _dir(angle_f_to_l: np.ndarray, lift: np.ndarray | float = 0.0) -> np.ndarray:
    """Unit vectors (..., 3) in hand coordinates (F, L, N) from an angle (deg) in the palm plane
    measured from F toward L, and a tangent ``lift`` toward N."""
    a = np.radians(angle_f_to_l)
    lift = np.broadcast_to(lift, a.shape)
    return _unit(np.stack([np.cos(a), np.sin(a), lift], axis=-1))


def hand_frame_joints(subject: Subject, art: np.ndarray) -> np.ndarray:
    """Joints (T, 16, 3) in hand coordinates (F, L, N), mm, palm joint at the origin, for
    articulations ``art`` (T, len(ARTICULATION)) in degrees (clipped to LIMITS)."""
    art = np.clip(np.atleast_2d(art), _LO, _HI)  # (T, P)
    t = art.shape[0]
    lengths = np.asarray(subject.bone_lengths)
    joints = np.zeros((t, ICVL_SKELETON.num_joints, 3))
    n_axis = np.array([0.0, 0.0, 1.0])
    arch = art[:, _A["palm_arch"]]  # (T,)
    for f, chain in enumerate(_CHAINS):
        _, root, mid, tip = chain
        lb = [lengths[ICVL_SKELETON.bone_index(j)] for j in (root, mid, tip)]
        angle = np.full(t, subject.root_angle_deg[f])
        if f == 0:
            lift = subject.root_lift[0] + 0.005 * arch
        else:  # cupping lifts the outer knuckles toward N
            lift = subject.root_lift[f] + np.tan(np.radians(arch)) * abs(_SPREAD[f - 1]) / 17.0 * 0.5
        joints[:, root] = lb[0] * _dir(angle, lift)
        if f == 0:
            yaw = art[:, _A["thumb_yaw"]]
            opp = np.radians(art[:, _A["thumb_opposition"]])[:, None]
            flex = np.radians(art[:, _A["thumb_flex"]])[:, None]
            planar = _dir(yaw)  # (T, 3)
            d0 = np.cos(opp) * planar + np.sin(opp) * n_axis
            # The thumb flexes across the palm: toward N and the little-finger side.
            g = np.array([0.25, -0.55, 0.8])
            g_perp = _unit(g - (d0 @ g)[:, None] * d0)
            d1 = np.cos(flex) * d0 + np.sin(flex) * g_perp
        else:
            k = FINGERS[f]
            mcp = np.radians(art[:, _A[f"{k}_mcp"]])[:, None]
            pip = np.radians(art[:, _A[f"{k}_pip"]])[:, None]
            abd = art[:, _A[f"{k}_abd"]]
            base = _dir(0.45 * subject.root_angle_deg[f] + abd)  # (T, 3) in the palm plane
            d0 = np.cos(mcp) * base + np.sin(mcp) * n_axis
            d1 = np.cos(mcp + pip) * base + np.sin(mcp + pip) * n_axis
        joints[:, mid] = joints[:, root] + lb[1] * d0
        joints[:, tip] = joints[:, mid] + lb[2] * d1
    return joints


def rotation_matrix(roll: np.ndarray, pitch: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """Rotations (T, 3, 3) Rz(roll) Rx(pitch) Ry(yaw) (degrees) acting on camera xyz column vectors:
    roll turns the hand in the image plane, pitch tips the fingers toward/away from the camera, yaw
    turns the palm sideways."""
    r, p, y = (np.radians(np.atleast_1d(a)) for a in (roll, pitch, yaw))
    cr, sr, cp, sp, cy, sy = np.cos(r), np.sin(r), np.cos(p), np.sin(p), np.cos(y), np.sin(y)
    o, z = np.ones_like(r), np.zeros_like(r)
    rz = np.stack([np.stack([cr, -sr, z], -1), np.stack([sr, cr, z], -1), np.stack([z, z, o], -1)], -2)
    rx = np.stack([np.stack([o, z, z], -1), np.stack([z, cp, -sp], -1), np.stack([z, sp, cp], -1)], -2)
    ry = np.stack([np.stack([cy, z, sy], -1), np.stack([z, o, z], -1), np.stack([-sy, z, cy], -1)], -2)
    return rz @ rx @ ry


def camera_joints(subject: Subject, art: np.ndarray, angles: np.ndarray,
                  palm_xyz: np.ndarray) -> np.ndarray:
    """Joints (T, 16, 3) camera xyz mm from articulations (T, P), orientation angles (T, 3)
    [roll, pitch, yaw] degrees and palm joint positions (T, 3) mm; the model's mirror image when
    ``subject.shape.mirrored``."""
    local = hand_frame_joints(subject, art)  # (T, J, 3) coefficients on F, L, N
    if subject.shape.mirrored:
        local = local * _MIRROR
    rot = rotation_matrix(angles[:, 0], angles[:, 1], angles[:, 2])  # (T, 3, 3)
    basis = _BASIS @ np.swapaxes(rot, 1, 2)  # (T, 3, 3): rows F, L, N in camera xyz
    return local @ basis + palm_xyz[:, None, :]


# ----------------------------------------------------------------------------- pose prior

GESTURES = ("open", "relaxed", "fist", "point", "pinch", "count", "thumbs_up", "random")
_GESTURE_P = np.array([0.15, 0.12, 0.11, 0.1, 0.12, 0.17, 0.05, 0.18])


def _curl_to_angles(rng, curl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Finger curl in [0, 1] -> (MCP, PIP) flexion in degrees with a coupled synergy and noise."""
    mcp = curl * 82.0 + rng.normal(0.0, 6.0, curl.shape)
    pip = curl ** 0.8 * 105.0 + rng.normal(0.0, 7.0, curl.shape)
    return mcp, pip


def sample_articulation(rng: np.random.Generator, gesture: str | None = None) -> np.ndarray:
    """One articulation (P,) degrees from the gesture prior (a random gesture when None)."""
    if gesture is None:
        gesture = GESTURES[rng.choice(len(GESTURES), p=_GESTURE_P)]
    u = rng.uniform
    curled = lambda n: u(0.75, 1.0, n)  # noqa: E731
    straight = lambda n: u(0.0, 0.15, n)  # noqa: E731
    spread = u(0.0, 1.0)
    thumb_open = (u(40, 75), u(0, 25), u(0, 20))
    thumb_tucked = (u(5, 30), u(45, 75), u(30, 65))
    if gesture == "open":
        curl, thumb = straight(4), thumb_open
    elif gesture == "relaxed":
        curl = u(0.05, 0.4) + np.arange(4) * u(0.0, 0.08) + rng.normal(0, 0.05, 4)
        thumb, spread = (u(30, 55), u(10, 35), u(5, 30)), u(0.0, 0.5)
    elif gesture == "fist":
        curl, thumb, spread = curled(4), thumb_tucked, 0.0
    elif gesture == "point":
        curl, thumb = np.concatenate([straight(1), curled(3)]), thumb_tucked
    elif gesture == "pinch":
        others = straight(3) if u() < 0.5 else curled(3)  # "OK" sign or a closed pinch
        curl = np.concatenate([u(0.35, 0.6, 1), others])
        thumb, spread = (u(15, 40), u(35, 60), u(10, 35)), u(0.0, 0.4)
    elif gesture == "count":
        n = int(rng.integers(1, 6))
        curl = np.where(np.arange(4) < min(n, 4), straight(4), curled(4))
        if n == 3 and u() < 0.4:  # thumb + index + middle
            curl[2] = u(0.75, 1.0)
            n = 5
        thumb = thumb_open if n == 5 else thumb_tucked
    elif gesture == "thumbs_up":
        curl, thumb, spread = curled(4), (u(0, 20), u(-10, 10), u(0, 15)), 0.0
    elif gesture == "random":  # synergy: a shared curl, neighbours correlated
        shared = u(0.0, 1.0)
        walk = np.cumsum(rng.normal(0.0, 0.15, 4))
        curl = np.clip(shared + walk - walk.mean() + rng.normal(0, 0.1, 4), 0, 1)
        thumb = (u(0, 80), u(-10, 80), u(0, 80))
    else:
        raise ValueError(f"unknown gesture {gesture!r}")
    curl = np.clip(curl, 0.0, 1.0)
    mcp, pip = _curl_to_angles(rng, curl)
    abd = spread * _SPREAD * (1.0 - 0.8 * curl) + rng.normal(0.0, 3.0, 4)
    art = np.zeros(len(ARTICULATION))
    for k in range(4):
        art[3 * k:3 * k + 3] = mcp[k], pip[k], abd[k]
    art[_A["thumb_yaw"]], art[_A["thumb_opposition"]], art[_A["thumb_flex"]] = thumb
    art[_A["palm_arch"]] = u(0.0, 8.0) + 15.0 * curl.mean()
    return np.clip(art, _LO, _HI)


@dataclass(frozen=True)
class ViewModel:
    """The orientation prior of keyframes (degrees; ``rotation_matrix``'s angles).

    Roll (in the image plane) ~ N(0, ``roll_sd_deg``) with probability ``upright_p``, else uniform in
    +-180; pitch ~ N(0, ``pitch_sd_deg``) clipped to +-``pitch_max_deg``; yaw ~ N(0, ``yaw_sd_deg``)
    clipped to +-``yaw_max_deg``. At yaw 0 the side the fingers flex toward (the palm) faces the
    camera. A share ``back_p`` of sequences is turned around (yaw + 180 at every keyframe: the back
    of the hand toward the camera); 0 draws nothing for it. The defaults are the ICVL generator's."""

    roll_sd_deg: float = 40.0
    upright_p: float = 0.75
    pitch_sd_deg: float = 22.0
    pitch_max_deg: float = 60.0
    yaw_sd_deg: float = 28.0
    yaw_max_deg: float = 75.0
    back_p: float = 0.0

    def __post_init__(self) -> None:
        if not (0.0 <= self.upright_p <= 1.0 and 0.0 <= self.back_p <= 1.0):
            raise ValueError("view: upright_p and back_p must be in [0, 1]")


# The views of a user's camera: palm or back toward it, and every yaw between (the two sides' clipped
# ranges, +-90 about 0 and about 180, meet edge-on). ``back_p`` is the tree's (``SynthConfig``).
SCENE_VIEW = ViewModel(yaw_sd_deg=45.0, yaw_max_deg=90.0)


def sample_orientation(rng: np.random.Generator, view: ViewModel = ViewModel(),
                       back: bool = False) -> np.ndarray:
    """[roll, pitch, yaw] degrees from ``view``: any in-plane roll (mostly near upright), the palm
    facing the camera within wide angles (the back, yaw + 180, when ``back``)."""
    roll = rng.normal(0.0, view.roll_sd_deg) if rng.random() < view.upright_p else rng.uniform(-180.0, 180.0)
    pitch = np.clip(rng.normal(0.0, view.pitch_sd_deg), -view.pitch_max_deg, view.pitch_max_deg)
    yaw = np.clip(rng.normal(0.0, view.yaw_sd_deg), -view.yaw_max_deg, view.yaw_max_deg)
    return np.array([roll, pitch, yaw + 180.0 if back else yaw])


# ----------------------------------------------------------------------------- sequences

@dataclass(frozen=True)
class MotionModel:
    """Sequence dynamics: keyframes ``gap_frames`` apart (log-uniform), a spline in between.

    The defaults give a frame-to-frame joint motion of about 5 mm median and 26 mm p95, near
    ICVL's 5 / 28 mm (DESIGN.md; ``frame_motion_mm`` measures it)."""

    gap_frames: tuple[float, float] = (2.0, 24.0)
    new_gesture_p: float = 0.7  # else the next keyframe perturbs the current pose
    perturb_deg: float = 12.0
    roll_step_deg: float = 30.0
    tilt_step_deg: float = 15.0
    move_px: float = 35.0
    move_depth_mm: float = 40.0
    depth_range_mm: tuple[float, float] = (220.0, 420.0)  # palm joint depth of keyframes
    joint_depth_mm: tuple[float, float] = (190.0, 460.0)  # every joint's depth, enforced per frame
    margin_px: float = 10.0
    tension: float = 1.0  # keyframe velocity as a fraction of the central difference


def _keyframe_times(rng, n_frames: int, motion: MotionModel) -> np.ndarray:
    lo, hi = np.log(motion.gap_frames[0]), np.log(motion.gap_frames[1])
    times = [0]
    while times[-1] < n_frames - 1:
        times.append(times[-1] + max(2, int(round(np.exp(rng.uniform(lo, hi))))))
    return np.array(times)


def _hermite(times: np.ndarray, keys: np.ndarray, f: np.ndarray, tension: float) -> np.ndarray:
    """Cardinal-spline interpolation of keys (K, D) at keyframe times (K,) evaluated at frames
    f (T,) -> (T, D); tangents are ``tension`` x the central finite difference (0 at the ends)."""
    tangents = np.zeros_like(keys)
    tangents[1:-1] = tension * (keys[2:] - keys[:-2]) / (times[2:] - times[:-2])[:, None]
    seg = np.clip(np.searchsorted(times, f, side="right") - 1, 0, len(times) - 2)
    gap = (times[seg + 1] - times[seg]).astype(np.float64)[:, None]  # (T, 1)
    s = (f - times[seg])[:, None] / gap
    h00, h10 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s
    h01, h11 = -2 * s**3 + 3 * s**2, s**3 - s**2
    return (h00 * keys[seg] + h10 * gap * tangents[seg] + h01 * keys[seg + 1]
            + h11 * gap * tangents[seg + 1])


def _fit_in_image(joints: np.ndarray, palm_uvd: np.ndarray, intr: Intrinsics,
                  margin: float, joint_depth_mm: tuple[float, float] = (190.0, 460.0)) -> np.ndarray:
    """Shift palm (T, 3) uvd so every joint of joints (T, J, 3) lies within ``joint_depth_mm`` and
    projects inside the image margin (the depth shift is approximate in the image; a second call
    on the re-placed joints settles it)."""
    uvd = xyz_to_uvd(joints, intr)  # (T, J, 3)
    out = palm_uvd.copy()
    zmin, zmax = uvd[..., 2].min(axis=1), uvd[..., 2].max(axis=1)
    out[:, 2] += np.where(zmin < joint_depth_mm[0], joint_depth_mm[0] - zmin, 0.0)
    out[:, 2] += np.where(zmax > joint_depth_mm[1], joint_depth_mm[1] - zmax, 0.0)
    for axis, size in ((0, intr.width), (1, intr.height)):
        lo = uvd[..., axis].min(axis=1) - margin
        hi = uvd[..., axis].max(axis=1) + margin
        shift = np.where(lo < 0, -lo, 0.0) + np.where(hi > size, size - hi, 0.0)
        out[:, axis] += shift
    return out


def _place(subject, art, ang, palm_uvd, intr):
    palm = uvd_to_xyz(palm_uvd, intr)
    return camera_joints(subject, art, ang, palm)


def sample_sequence(rng: np.random.Generator, subject: Subject, n_frames: int, intr: Intrinsics,
                    motion: MotionModel = MotionModel(), view: ViewModel = ViewModel()) -> np.ndarray:
    """Joints (n_frames, 16, 3) camera xyz mm of one smooth sequence of ``subject``.

    Keyframe poses come from the gesture prior (or perturb the previous pose), orientations from
    ``view`` (a share ``view.back_p`` of sequences turned around as a whole); articulation,
    orientation and position follow a cubic spline through them (velocity continuous). Every joint projects inside the image with ``margin_px`` to spare.
    """
    back = view.back_p > 0 and bool(rng.random() < view.back_p)  # the whole sequence turned around
    times = _keyframe_times(rng, n_frames, motion)
    k = len(times)
    art = np.zeros((k, len(ARTICULATION)))
    ang = np.zeros((k, 3))
    uvd = np.zeros((k, 3))
    zlo, zhi = motion.depth_range_mm
    for i in range(k):
        if i == 0 or rng.random() < motion.new_gesture_p:
            art[i] = sample_articulation(rng)
        else:
            art[i] = np.clip(art[i - 1] + rng.normal(0.0, motion.perturb_deg, art.shape[1]), _LO, _HI)
        if i == 0:
            ang[i] = sample_orientation(rng, view, back)
            uvd[i] = [rng.uniform(0.3, 0.7) * intr.width, rng.uniform(0.3, 0.7) * intr.height,
                      rng.uniform(zlo, zhi)]
        else:
            target = sample_orientation(rng, view, back)
            ang[i, 0] = ang[i - 1, 0] + rng.normal(0.0, motion.roll_step_deg)
            ang[i, 1:] = ang[i - 1, 1:] + np.clip(target[1:] - ang[i - 1, 1:], -1, 1) * \
                np.abs(rng.normal(0.0, motion.tilt_step_deg, 2))
            uvd[i, :2] = uvd[i - 1, :2] + rng.normal(0.0, motion.move_px, 2)
            uvd[i, 2] = np.clip(uvd[i - 1, 2] + rng.normal(0.0, motion.move_depth_mm), zlo, zhi)
    # Keyframes first: the hand inside the image at every keyframe.
    for _ in range(2):
        uvd = _fit_in_image(_place(subject, art, ang, uvd, intr), uvd, intr, motion.margin_px,
                            motion.joint_depth_mm)
    # Cubic Hermite interpolation through the keyframes (velocity continuous).
    f = np.arange(n_frames)
    if k > 1:
        art_f, ang_f, uvd_f = (_hermite(times, x, f, motion.tension) for x in (art, ang, uvd))
    else:
        art_f, ang_f, uvd_f = (np.repeat(x, n_frames, axis=0) for x in (art, ang, uvd))
    for _ in range(2):
        uvd_f = _fit_in_image(_place(subject, art_f, ang_f, uvd_f, intr), uvd_f, intr, motion.margin_px,
                              motion.joint_depth_mm)
    return _place(subject, art_f, ang_f, uvd_f, intr)


def sample_frame(rng: np.random.Generator, subject: Subject, intr: Intrinsics,
                 gesture: str | None = None, motion: MotionModel = MotionModel()) -> np.ndarray:
    """Joints (16, 3) camera xyz mm of one independent random frame (e.g. for previews)."""
    art = sample_articulation(rng, gesture)[None]
    ang = sample_orientation(rng)[None]
    zlo, zhi = motion.depth_range_mm
    uvd = np.array([[rng.uniform(0.35, 0.65) * intr.width, rng.uniform(0.35, 0.65) * intr.height,
                     rng.uniform(zlo, zhi)]])
    for _ in range(2):
        uvd = _fit_in_image(_place(subject, art, ang, uvd, intr), uvd, intr, motion.margin_px,
                            motion.joint_depth_mm)
    return _place(subject, art, ang, uvd, intr)[0]


def frame_motion_mm(joints: np.ndarray) -> np.ndarray:
    """Per-joint displacement between consecutive frames: joints (T, J, 3) mm -> (T-1, J) mm."""
    return np.linalg.norm(np.diff(joints, axis=0), axis=-1)
