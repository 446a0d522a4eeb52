"""Hand centre, 3-D cube crop, depth normalization and in-plane rotation: the per-frame geometry.

Frames and units used here:
  * image: raw depth (H, W) uint16 in mm; pixel (u, v) = (column, row); 0 and 32001 are background.
  * camera xyz: mm (see ``pipeline/camera.py``).
  * crop: an S x S image cut around the hand centre; a 2x3 affine ``A`` maps image (u, v, 1) to crop
    pixel coordinates, covering ``cube_mm`` (the cube's side) at the centre depth, optionally rotated
    in-plane about the centre by ``angle_deg`` (counter-clockwise as seen in the image).
  * normalized crop depth: (d - centre_z) / (cube/2) in [-1, 1]; background and far pixels are +1
    (the far face of the cube), pixels in front of the cube are -1.
  * normalized joints (the network's target): (xyz' - centre_xyz) / (cube/2), where xyz' is the joint
    in the virtual camera rotated with the crop (xyz' = xyz for angle 0). Unitless, about [-1, 1].

Forward and inverse maps live side by side and are round-trip tested.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from pipeline.camera import Intrinsics, uvd_to_xyz, xyz_to_uvd
from pipeline.config import CentreConfig
from pipeline.icvl import background_mask


class NoHandError(ValueError):
    """No hand pixels in the depth band (``confidence``: the localizer's, when one looked)."""

    confidence: float | None = None


class LowConfidence(NoHandError):
    """The localizer's confidence (``confidence``, in [0, 1]) is below its threshold: no hand."""

    def __init__(self, confidence: float, threshold: float):
        super().__init__(f"the localizer's confidence {confidence:.3f} is below its threshold {threshold:.3f}")
        self.confidence = confidence


def valid_depth_mask(depth: np.ndarray, cfg: CentreConfig) -> np.ndarray:
    """True where a raw depth pixel is foreground and within [min_depth_mm, max_depth_mm]."""
    d = depth.astype(np.float32)
    return (~background_mask(depth)) & (d >= cfg.min_depth_mm) & (d <= cfg.max_depth_mm)


def hand_centre(depth: np.ndarray, intr: Intrinsics, cube_mm: float,
                cfg: CentreConfig = CentreConfig()) -> np.ndarray:
    """The label-free hand centre of a raw depth frame (H, W) uint16 mm, as camera xyz (3,) in mm,
    by ``cfg.method`` (see ``CentreConfig``; 'learned' needs the localizer: ``located_centre``).
    Raises NoHandError."""
    if cfg.method == "learned":
        raise ValueError("centre method learned: the centre comes from the localizer (located_centre)")
    mask = valid_depth_mask(depth, cfg)
    if mask.sum() < cfg.min_pixels:
        raise NoHandError(f"fewer than {cfg.min_pixels} pixels in the depth range "
                          f"[{cfg.min_depth_mm:g}, {cfg.max_depth_mm:g}] mm")
    vs, us = np.nonzero(mask)
    ds = depth[vs, us].astype(np.float64)
    near = np.percentile(ds, cfg.near_percentile)
    if cfg.method == "com":
        pts = uvd_to_xyz(np.stack([us, vs, ds], axis=-1), intr)  # (P, 3) mm
        return _cube_mean(pts, pts[ds <= near + cfg.band_mm].mean(axis=0), cube_mm, cfg)
    band = mask & (depth.astype(np.float64) <= near + cfg.band_mm)
    blob = nearest_blob(depth, band, cfg.step_mm, cfg.min_pixels)
    if blob is None:
        raise NoHandError(f"no blob of {cfg.min_pixels} connected pixels within {cfg.band_mm:g} mm "
                          f"behind the nearest depth {near:.0f} mm")
    vs, us = np.nonzero(blob)
    pts = uvd_to_xyz(np.stack([us, vs, depth[vs, us].astype(np.float64)], axis=-1), intr)  # (P, 3) mm
    border = (us == 0) | (vs == 0) | (us == depth.shape[1] - 1) | (vs == depth.shape[0] - 1)
    pts = cut_forearm(pts, border, cfg.hand_extent_mm, cfg.min_pixels)
    return _cube_mean(pts, pts.mean(axis=0), cube_mm, cfg)


def located_palm(locator, depth: np.ndarray, intr: Intrinsics, image_hand: str) -> tuple[np.ndarray, float]:
    """(palm joint (3,) camera xyz mm, confidence in [0, 1]) of a raw depth frame (H, W) uint16 mm of
    camera ``intr`` whose hand appears as a ``image_hand`` ('right' or 'left') hand, by a learned
    localizer (``pipeline.locator.Locator``: ``locate(depth, intr)`` finds a right hand as a camera
    shows it): a frame showing a left hand is mirrored for it and its palm mirrored back (x' = -x in
    the mirrored camera)."""
    flip = image_hand != "right"
    palm, conf = locator.locate(depth[:, ::-1] if flip else depth, intr.mirrored() if flip else intr)
    return (palm * np.array([-1.0, 1.0, 1.0]) if flip else np.asarray(palm)), float(conf)


def located_centre(locator, depth: np.ndarray, intr: Intrinsics, image_hand: str, cube_mm: float,
                   cfg: CentreConfig = CentreConfig()) -> tuple[np.ndarray, float]:
    """(hand centre (3,) camera xyz mm, confidence) of a raw depth frame (H, W) uint16 mm: the
    localizer's palm (``located_palm``; ``locator.threshold`` its confidence threshold), then
    ``centre_near`` about it. Raises LowConfidence below the threshold, NoHandError (with the
    confidence) when the cube about the palm is empty."""
    palm, conf = located_palm(locator, depth, intr, image_hand)
    if conf < locator.threshold:
        raise LowConfidence(conf, locator.threshold)
    try:
        return centre_near(depth, intr, palm, cube_mm, cfg), conf
    except NoHandError as e:
        e.confidence = conf
        raise


def centre_near(depth: np.ndarray, intr: Intrinsics, seed: np.ndarray, cube_mm: float,
                cfg: CentreConfig = CentreConfig()) -> np.ndarray:
    """The hand centre (3,) camera xyz mm around a seed point (3,) camera xyz mm (a localizer's palm
    joint) in a raw depth frame (H, W) uint16 mm: the blob rule's last step from the seed, i.e.
    ``cfg.refine_iters`` times the mean of the valid points inside the cube of side ``cube_mm``
    about the last centre. Only pixels in the seed cube's image window are read. Raises NoHandError
    when fewer than ``cfg.min_pixels`` valid points lie in the seed's cube."""
    seed = np.asarray(seed, dtype=np.float64)
    if not np.all(np.isfinite(seed)) or seed[2] <= 0:
        raise NoHandError(f"the seed {seed.round(1).tolist()} mm is not in front of the camera")
    u, v, z = xyz_to_uvd(seed, intr)
    half = cube_mm * max(intr.fx, intr.fy) / max(z - cube_mm / 2.0, 1.0)  # px, the cube's near face
    u0, u1 = int(max(0, np.floor(u - half))), int(min(depth.shape[1], np.ceil(u + half) + 1))
    v0, v1 = int(max(0, np.floor(v - half))), int(min(depth.shape[0], np.ceil(v + half) + 1))
    window = depth[v0:v1, u0:u1]
    vs, us = np.nonzero(valid_depth_mask(window, cfg)) if window.size else (np.zeros(0, int), np.zeros(0, int))
    pts = uvd_to_xyz(np.stack([us + u0, vs + v0, window[vs, us].astype(np.float64)], axis=-1), intr)
    inside = np.all(np.abs(pts - seed) <= cube_mm / 2.0, axis=1) if len(pts) else np.zeros(0, bool)
    if inside.sum() < cfg.min_pixels:
        raise NoHandError(f"fewer than {cfg.min_pixels} depth pixels in the {cube_mm:g} mm cube about "
                          f"the located hand at {seed.round(0).tolist()} mm")
    return _cube_mean(pts, pts[inside].mean(axis=0), cube_mm, cfg)


def _cube_mean(pts: np.ndarray, centre: np.ndarray, cube_mm: float, cfg: CentreConfig) -> np.ndarray:
    """``cfg.refine_iters`` times: the mean of the points (P, 3) mm inside the cube around ``centre``."""
    for _ in range(cfg.refine_iters):
        inside = np.all(np.abs(pts - centre) <= cube_mm / 2.0, axis=1)
        if inside.sum() < cfg.min_pixels:
            break
        centre = pts[inside].mean(axis=0)
    return centre


def nearest_blob(depth: np.ndarray, band: np.ndarray, step_mm: float, min_pixels: int) -> np.ndarray | None:
    """The connected blob (H, W) bool of ``band`` pixels that holds the nearest depth, or None.

    Pixels are connected when they are 8-neighbours in the image and their depths (mm) differ by at
    most ``step_mm``: a pixel with a steeper step to any band neighbour is an edge and belongs to no
    blob, so a hand in front of a body or a desk stays apart from it. Blobs smaller than
    ``min_pixels`` are ignored; among the rest, the one whose 5th-percentile depth is smallest wins.
    """
    d = np.where(band, depth.astype(np.float64), np.nan)
    pad = np.pad(d, 1, constant_values=np.nan)
    h, w = d.shape
    steep = np.zeros(d.shape, dtype=bool)
    for dv, du in ((0, 1), (1, 0), (1, 1), (1, -1)):
        other = pad[1 + dv:1 + dv + h, 1 + du:1 + du + w]
        with np.errstate(invalid="ignore"):
            jump = np.abs(other - d) > step_mm  # False where either is NaN
        steep |= jump
        # the neighbour sees the same step: shift the flags back onto it
        back = np.zeros_like(steep)
        back[max(dv, 0):, max(du, 0):w + min(du, 0)] = jump[:h - dv, max(-du, 0):w - max(du, 0)]
        steep |= back
    labels, n = ndimage.label(band & ~steep, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return None
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    best, best_depth = None, np.inf
    for k in np.flatnonzero(sizes >= min_pixels):
        if k == 0:
            continue
        near = np.percentile(d[labels == k], 5)
        if near < best_depth:
            best, best_depth = k, near
    return None if best is None else labels == best


def cut_forearm(pts: np.ndarray, at_border: np.ndarray, hand_extent_mm: float,
                min_pixels: int) -> np.ndarray:
    """The points (P, 3) mm of a blob that belong to the hand when an arm runs out of the image.

    ``at_border`` (P,) marks the blob's pixels on the image border. Without any, or when the blob
    reaches no farther than ``hand_extent_mm`` from where it leaves the image, all points are the
    hand. Otherwise the hand is the far end: the points within ``hand_extent_mm`` of the point
    farthest from the border pixels' mean (kept only when at least ``min_pixels`` remain).
    """
    if hand_extent_mm <= 0 or not at_border.any():
        return pts
    exit_point = pts[at_border].mean(axis=0)
    reach = np.linalg.norm(pts - exit_point, axis=1)  # (P,) mm
    if reach.max() <= hand_extent_mm:
        return pts
    far_end = pts[np.argmax(reach)]
    keep = np.linalg.norm(pts - far_end, axis=1) <= hand_extent_mm
    return pts[keep] if keep.sum() >= min_pixels else pts


def rotation_matrix_2d(angle_deg: float) -> np.ndarray:
    """2x2 rotation by ``angle_deg`` counter-clockwise as seen in the image (v axis points down)."""
    a = np.deg2rad(angle_deg)
    c, s = np.cos(a), np.sin(a)
    # In image coordinates (v down) a visually counter-clockwise turn is [[c, s], [-s, c]].
    return np.array([[c, s], [-s, c]])


def crop_affine(centre_uvd: np.ndarray, cube_mm: float, crop_size: int, intr: Intrinsics,
                angle_deg: float = 0.0) -> np.ndarray:
    """2x3 affine mapping image (u, v, 1) [px] to crop pixel coordinates [px].

    The crop spans ``cube_mm`` at the centre depth: half-widths fx*(cube/2)/z and fy*(cube/2)/z image
    pixels map to crop_size/2 crop pixels; the centre maps to the crop centre (crop_size-1)/2.
    """
    uc, vc, zc = (float(x) for x in centre_uvd)
    half = cube_mm / 2.0
    sx = (crop_size / 2.0) / (intr.fx * half / zc)
    sy = (crop_size / 2.0) / (intr.fy * half / zc)
    rot = rotation_matrix_2d(angle_deg)
    lin = np.diag([sx, sy]) @ rot  # rotate in image pixels, then scale to crop pixels
    mid = (crop_size - 1) / 2.0
    offset = np.array([mid, mid]) - lin @ np.array([uc, vc])
    return np.concatenate([lin, offset[:, None]], axis=1)


def apply_affine(affine: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine to points (..., 2)."""
    uv = np.asarray(uv, dtype=np.float64)
    return uv @ affine[:, :2].T + affine[:, 2]


def invert_affine(affine: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine."""
    lin_inv = np.linalg.inv(affine[:, :2])
    return np.concatenate([lin_inv, (-lin_inv @ affine[:, 2])[:, None]], axis=1)


def depth_with_inf_background(depth: np.ndarray) -> np.ndarray:
    """Raw (H, W) uint16 depth -> float32 mm with background/invalid pixels set to +inf."""
    d = depth.astype(np.float32)
    d[background_mask(depth)] = np.inf
    return d


def crop_depth(depth: np.ndarray, affine: np.ndarray, crop_size: int, centre_z: float,
               cube_mm: float) -> np.ndarray:
    """Cut and normalize the crop: (S, S) float32 in [-1, 1], background +1.

    ``depth`` is raw uint16 (or, to share the work between crops of one frame, the float32 output
    of ``depth_with_inf_background``). Nearest-neighbour resampling (hand and background must not
    blend).
    """
    d = depth if depth.dtype == np.float32 else depth_with_inf_background(depth)
    inv = invert_affine(affine)  # crop (u, v) -> image (u, v)
    # ndimage works in (row, col) = (v, u) order.
    matrix = np.array([[inv[1, 1], inv[1, 0]], [inv[0, 1], inv[0, 0]]])
    offset = np.array([inv[1, 2], inv[0, 2]])
    out = ndimage.affine_transform(d, matrix, offset=offset, output_shape=(crop_size, crop_size),
                                   order=0, mode="constant", cval=np.inf)
    norm = (out - centre_z) / (cube_mm / 2.0)
    norm[~np.isfinite(norm)] = 1.0
    return np.clip(norm, -1.0, 1.0).astype(np.float32)


def rotate_uvd(uvd: np.ndarray, centre_uv: np.ndarray, angle_deg: float) -> np.ndarray:
    """Rotate image points (..., 3) [px, px, mm] in-plane about ``centre_uv``; depth unchanged."""
    uvd = np.asarray(uvd, dtype=np.float64)
    rot = rotation_matrix_2d(angle_deg)
    uv = (uvd[..., :2] - centre_uv) @ rot.T + centre_uv
    return np.concatenate([uv, uvd[..., 2:3]], axis=-1)


def normalize_joints(uvd: np.ndarray, centre_xyz: np.ndarray, cube_mm: float, intr: Intrinsics,
                     angle_deg: float = 0.0) -> np.ndarray:
    """Image joints (J, 3) [px, px, mm] -> normalized crop-frame joints (J, 3)."""
    centre_uv = xyz_to_uvd(centre_xyz, intr)[:2]
    xyz_rot = uvd_to_xyz(rotate_uvd(uvd, centre_uv, angle_deg), intr)
    return (xyz_rot - centre_xyz) / (cube_mm / 2.0)


def denormalize_joints(joints_norm: np.ndarray, centre_xyz: np.ndarray, cube_mm,
                       intr: Intrinsics, angle_deg=0.0) -> np.ndarray:
    """Inverse of ``normalize_joints``: (..., J, 3) normalized -> image uvd (..., J, 3) [px, px, mm].

    ``centre_xyz`` (..., 3), ``cube_mm`` and ``angle_deg`` scalars or (...,) per record.
    """
    joints_norm = np.asarray(joints_norm, dtype=np.float64)
    centre_xyz = np.asarray(centre_xyz, dtype=np.float64)[..., None, :]
    half = np.asarray(cube_mm, dtype=np.float64)[..., None, None] / 2.0
    xyz_rot = joints_norm * half + centre_xyz
    uvd_rot = xyz_to_uvd(xyz_rot, intr)
    centre_uv = xyz_to_uvd(centre_xyz, intr)[..., :2]
    angle = np.asarray(angle_deg, dtype=np.float64)
    if angle.ndim == 0:
        return rotate_uvd(uvd_rot, centre_uv, -float(angle))
    out = np.empty_like(uvd_rot)
    for i in np.ndindex(angle.shape):
        out[i] = rotate_uvd(uvd_rot[i], centre_uv[i], -float(angle[i]))
    return out


def quantize_crop(crop: np.ndarray) -> np.ndarray:
    """Normalized crop [-1, 1] float -> uint16 for compact PNG storage (step 2/65535)."""
    return np.round((np.clip(crop, -1.0, 1.0) + 1.0) * 32767.5).astype(np.uint16)


def dequantize_crop(q: np.ndarray) -> np.ndarray:
    """Inverse of ``quantize_crop``: uint16 -> float32 in [-1, 1]."""
    return (q.astype(np.float32) / 32767.5 - 1.0).astype(np.float32)
