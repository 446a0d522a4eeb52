"""Hierarchical energy refinement of CNN joint estimates (paper Section 4, Eq. 8-12).

Every joint is moved to the minimiser, inside a ball of radius ``radius_mm`` around its CNN estimate,
of E = phi_G (bone length, ``models.prior``) + gamma_D phi_D (background pixels around the joint's
projection) + gamma_M phi_M (fingertips moving less than their parents, between frames) + an anchor
to the CNN estimate. Joints are refined layer by layer, root to the tips (the layers of the skeleton's
tree, ``Skeleton.layers``: any skeleton, parts of any length), each on shrinking grids of candidates.
Joints in no part (NYU's wrist points, children of the palm) are refined like every joint, in their
layer, with the prior on the bone to their refined parent (they have no temporal term). The temporal
term applies to the tip of every part of at least three joints (``temporal_parts``). What each term
means, the readings of the paper we chose and the limits are in docs/design/refinement.md. Choosing
the weights on validation data: ``models.refine_search``.

Frames and units: joints are camera xyz in mm (``pipeline.camera``); depth images are raw (H, W)
uint16 in mm (0 and 32001: no depth); hand depth bands are [lo, hi] mm per frame; windows are in
pixels.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import tensorflow as tf

from models.prior import BonePrior, energy_from_log_prob, mixture_from_params
from pipeline.camera import Intrinsics
from pipeline.config import RefineConfig
from pipeline.errors import SdnetError
from pipeline.icvl import BACKGROUND_VALUES, background_mask
from pipeline.skeleton import Skeleton

MIN_DEPTH_MM = 1e-3  # joints nearer than this (or behind the camera) project nowhere


# ----------------------------------------------------------------------------- phi_D


def foreground_integral(depth: np.ndarray, band: np.ndarray) -> np.ndarray:
    """Summed-area table of the hand foreground of each frame.

    Args:
      depth: (N, H, W) uint16 raw depth in mm; 0 and 32001 are background.
      band: (N, 2) [lo, hi] mm, the hand's depth band per frame; pixels outside it are background.
    Returns:
      (N, H + 1, W + 1) int32 S with S[n, r, c] = number of foreground pixels in rows < r, cols < c.
    """
    depth = np.asarray(depth)
    band = np.asarray(band, dtype=np.float64)
    if depth.ndim != 3:
        raise SdnetError(f"refine: depth must be (N, H, W), got {depth.shape}")
    if band.shape != (depth.shape[0], 2):
        raise SdnetError(f"refine: band must be ({depth.shape[0]}, 2) [lo, hi] mm, got {band.shape}")
    if depth.dtype != np.uint16:
        raise SdnetError(f"refine: depth must be uint16 mm, got {depth.dtype}")
    if not np.all(np.isfinite(band)):
        raise SdnetError("refine: depth band contains NaN or infinite values")
    # depth is integral, so d >= lo <=> d >= ceil(lo) and d <= hi <=> d <= floor(hi): compare in uint16.
    lo = np.clip(np.ceil(band[:, 0]), 0, 65536).astype(np.int64)
    hi = np.clip(np.floor(band[:, 1]), -1, 65535).astype(np.int64)
    fg = np.empty(depth.shape, dtype=bool)  # (N, H, W) hand foreground
    for i in range(depth.shape[0]):  # per frame: small temporaries, cache friendly
        frame = depth[i]
        if lo[i] > hi[i] or lo[i] > 65535 or hi[i] < 0:
            fg[i] = False
            continue
        np.logical_and(frame >= np.uint16(lo[i]), frame <= np.uint16(hi[i]), out=fg[i])
        if _needs_background_check(lo[i], hi[i]):
            fg[i] &= ~background_mask(frame)
    n, h, w = depth.shape
    table = np.zeros((n, h + 1, w + 1), dtype=np.int32)
    np.cumsum(fg, axis=2, dtype=np.int32, out=table[:, 1:, 1:])  # along rows (contiguous)
    for r in range(2, h + 1):  # down the columns: one contiguous (N, W+1) add per row, ~3x faster
        np.add(table[:, r], table[:, r - 1], out=table[:, r])  # than a strided cumsum over axis 1
    return table


def _needs_background_check(lo: int, hi: int) -> bool:
    """Whether a background code (0, 32001) can lie inside the band [lo, hi] (integers, mm)."""
    return any(lo <= v <= hi for v in BACKGROUND_VALUES)


def _intrinsics_vector(intr: Intrinsics) -> tf.Tensor:
    return tf.constant([intr.fx, intr.fy, intr.cx, intr.cy], tf.float32)


def _window_background(points, table_flat, height, width, intr_vec, window):
    """Background pixel count in the (2w+1)^2 window around each point's projection (TF).

    points (N, M, 3) camera mm; table_flat (N, (H+1)(W+1)) int32 foreground integral; height, width
    int32 scalars; intr_vec (4,) fx, fy, cx, cy; window w int32. Returns (N, M) float32 counts.
    """
    fx, fy, cx, cy = intr_vec[0], intr_vec[1], intr_vec[2], intr_vec[3]
    z = points[..., 2]  # (N, M)
    valid = z > MIN_DEPTH_MM
    zs = tf.where(valid, z, tf.ones_like(z))
    u = tf.clip_by_value(points[..., 0] * fx / zs + cx, -1e6, 1e6)
    v = tf.clip_by_value(points[..., 1] * fy / zs + cy, -1e6, 1e6)
    ui = tf.cast(tf.floor(u + 0.5), tf.int32)  # nearest pixel (label u, v are pixel centres)
    vi = tf.cast(tf.floor(v + 0.5), tf.int32)
    c0 = tf.clip_by_value(ui - window, 0, width)  # half-open [c0, c1) x [r0, r1), clipped
    c1 = tf.clip_by_value(ui + window + 1, 0, width)
    r0 = tf.clip_by_value(vi - window, 0, height)
    r1 = tf.clip_by_value(vi + window + 1, 0, height)
    stride = width + 1

    def at(r, c):
        return tf.gather(table_flat, r * stride + c, batch_dims=1)  # (N, M)

    inside_fg = at(r1, c1) - at(r0, c1) - at(r1, c0) + at(r0, c0)
    area = (2 * window + 1) ** 2
    count = tf.where(valid, area - inside_fg, area)
    return tf.cast(count, tf.float32)


def phi_D(points_xyz, table: np.ndarray, intrinsics: Intrinsics, window: int,
          penalty: float = 1.0) -> np.ndarray:
    """Eq. 10: penalty x background pixels in the (2w+1)^2 window around each point's projection.

    Args:
      points_xyz: (N, ..., 3) camera xyz in mm; row n is looked up in frame n.
      table: (N, H+1, W+1) from ``foreground_integral`` (background: 0, 32001, outside the band).
      window: w in pixels. Window pixels outside the image count as background; so does the whole
        window of a point at z <= 1e-3 mm.
    Returns:
      (N, ...) float32 energies.
    """
    points = np.asarray(points_xyz, dtype=np.float32)
    table = np.asarray(table)
    n, h1, w1 = table.shape
    flat_pts = points.reshape(n, -1, 3)  # (N, M, 3)
    counts = _window_background(tf.constant(flat_pts), tf.constant(table.reshape(n, -1)),
                                tf.constant(h1 - 1), tf.constant(w1 - 1),
                                _intrinsics_vector(intrinsics), tf.constant(int(window)))
    return penalty * counts.numpy().reshape(points.shape[:-1])


# ----------------------------------------------------------------------------- phi_M


def relative_motion(x, x_root, x_prev, x_root_prev, mode: str = "displacement") -> np.ndarray:
    """H of Eq. 12: how far joint x moved relative to its finger's layer-1 joint between t-1 and t.

    All inputs (..., 3) camera mm. 'displacement': |(x - x_root) - (x_prev - x_root_prev)|;
    'distance': ||x - x_root| - |x_prev - x_root_prev||. Returns (...) mm.
    """
    rel, rel_prev = np.subtract(x, x_root), np.subtract(x_prev, x_root_prev)
    if mode == "displacement":
        return np.linalg.norm(rel - rel_prev, axis=-1)
    if mode == "distance":
        return np.abs(np.linalg.norm(rel, axis=-1) - np.linalg.norm(rel_prev, axis=-1))
    raise ValueError(f"temporal mode must be 'displacement' or 'distance', got {mode!r}")


def temporal_parts(skeleton: Skeleton) -> tuple[tuple[int, int, int], ...]:
    """(tip, mid, reference) joints of the temporal term, one per part of at least three joints whose
    tip is a leaf of the tree: the part's tip, the joint before it, and the reference its motion is
    measured against: the part's layer-1 joint (the finger root, as in the paper's Eq. 12), or the
    part's first joint when the finger root is the joint before the tip. ICVL's fingers palm, root,
    mid, tip: tip, mid, root (the paper's layers 3, 2, 1); NYU's palm, mid, tip: tip, mid, palm; NYU's
    thumb: tip, mid, root; a 21-joint finger wrist, MCP, PIP, DIP, TIP: TIP, DIP, MCP. Parts of two
    joints have no temporal term."""
    leaves = set(range(skeleton.num_joints)) - set(skeleton.parents)
    return tuple((c[-1], c[-2], c[min(1, len(c) - 3)]) for c in skeleton.part_chains
                 if len(c) >= 3 and c[-1] in leaves)


def phi_M(tip, mid, root, tip_prev, mid_prev, root_prev, penalty: float = 1.0,
          mode: str = "displacement") -> np.ndarray:
    """Eq. 11: ``penalty`` where the fingertip moved less, relative to its part's reference joint
    ``root`` (``temporal_parts``; ICVL: the finger root, layer 1), than the joint before the tip
    (``mid``) did between frames t-1 and t; else 0.

    All inputs (..., 3) camera mm, broadcast together; returns (...) float64.
    """
    h3 = relative_motion(tip, root, tip_prev, root_prev, mode)
    h2 = relative_motion(mid, root, mid_prev, root_prev, mode)
    return penalty * (h3 < h2).astype(np.float64)


# ----------------------------------------------------------------------------- search


@dataclass(frozen=True)
class _LayerPlan:
    joints: tuple[int, ...]                 # (L,) joints refined together
    anchors: tuple[tuple[int, ...], ...]    # (L, A) joints their bones run to
    bone_ids: tuple[tuple[int, ...], ...]   # (L, A) bone index of each anchor
    anchors_refined: bool                   # parents (refined) or children (CNN estimates)


def _layer_plans(skeleton: Skeleton, palm_bone_term: bool) -> tuple[_LayerPlan, ...]:
    plans = []
    for layer in range(max(skeleton.layers) + 1):
        joints = skeleton.joints_in_layer(layer)
        if layer == 0:
            anchors = tuple(
                tuple(c for c, p in enumerate(skeleton.parents) if p == j) if palm_bone_term else ()
                for j in joints)
            bone_ids = tuple(tuple(skeleton.bone_index(c) for c in a) for a in anchors)
            plans.append(_LayerPlan(joints, anchors, bone_ids, anchors_refined=False))
        else:
            anchors = tuple((skeleton.parents[j],) for j in joints)
            bone_ids = tuple((skeleton.bone_index(j),) for j in joints)
            plans.append(_LayerPlan(joints, anchors, bone_ids, anchors_refined=True))
    return tuple(plans)


def _unit_grid(grid_half: int) -> np.ndarray:
    """(C, 3) grid offsets in [-1, 1]^3, C = (2k+1)^3, the zero offset included."""
    ticks = np.arange(-grid_half, grid_half + 1, dtype=np.float32) / grid_half
    return np.stack(np.meshgrid(ticks, ticks, ticks, indexing="ij"), axis=-1).reshape(-1, 3)


def candidates_per_joint(config: RefineConfig) -> int:
    """Energy evaluations per joint: round 0's grid points inside the ball, then full grids."""
    grid = _unit_grid(config.grid_half)
    in_ball = int(np.sum(np.linalg.norm(grid, axis=1) <= 1.0 + 1e-6))
    return in_ball + (config.rounds - 1) * len(grid)


@functools.lru_cache(maxsize=16)
def _build_search(skeleton: Skeleton, grid_half: int, rounds: int, prior_mode: str,
                  palm_bone_term: bool):
    """A tf.function refining every layer but the fingertips' temporal choice (docs/design/refinement.md).

    It returns the refined joints (N, J, 3) and, for the tips of ``temporal_parts`` (in that order), all
    the candidates their search visited (N, T, R*C, 3) and their energies (N, T, R*C).

    Compiled with XLA (about 3x faster at batch 1 on CPU than the plain graph); XLA compiles once
    per input shape, hence the power-of-two batch padding in ``refine_poses``.
    """
    plans = _layer_plans(skeleton, palm_bone_term)
    grid = _unit_grid(grid_half)
    unit = tf.constant(grid)  # (C, 3)
    # round 0 is centred on the CNN estimate: grid points outside the unit ball are never allowed
    unit_ball = tf.constant(grid[np.linalg.norm(grid, axis=1) <= 1.0 + 1e-6])  # (C0, 3)
    shrink = float(max(grid_half, 2))
    num_joints = skeleton.num_joints
    tips = [tip for tip, _, _ in temporal_parts(skeleton)]
    n_cands = len(unit_ball) + (rounds - 1) * len(grid)

    @tf.function(jit_compile=True, input_signature=[
        tf.TensorSpec([None, num_joints, 3], tf.float32),  # joints (N, J, 3) CNN estimates, mm
        tf.TensorSpec([None, None], tf.int32),             # table (N, (H+1)(W+1))
        tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32),  # H, W
        tf.TensorSpec([4], tf.float32),                    # fx, fy, cx, cy
        tf.TensorSpec([None, None], tf.float32),           # prior weights (B, K)
        tf.TensorSpec([None, None], tf.float32),           # prior means (B, K) mm
        tf.TensorSpec([None, None], tf.float32),           # prior stds (B, K) mm
        tf.TensorSpec([], tf.float32),                     # radius mm
        tf.TensorSpec([], tf.int32),                       # window px
        tf.TensorSpec([], tf.float32),                     # gamma_d
        tf.TensorSpec([], tf.float32),                     # gamma_a
    ])
    def search(joints, table, height, width, intr_vec, pw, pm, ps, radius, window, gamma_d, gamma_a):
        current = [joints[:, j] for j in range(num_joints)]  # J x (N, 3)
        tip_cands, tip_energy = {}, {}  # tip joint -> (N, R*C, 3), (N, R*C)
        for layer, plan in enumerate(plans):
            cnn = tf.gather(joints, plan.joints, axis=1)  # (N, L, 3)
            n_anchor = len(plan.anchors[0])
            if n_anchor:
                source = current if plan.anchors_refined else [joints[:, j] for j in range(num_joints)]
                anchors = tf.stack([tf.stack([source[a] for a in row], axis=1) for row in plan.anchors],
                                   axis=1)  # (N, L, A, 3)
                ids = np.asarray(plan.bone_ids)  # (L, A)
                mixture = mixture_from_params(tf.gather(pw, ids), tf.gather(pm, ids), tf.gather(ps, ids))

            def energy(cands):  # (N, L, C, 3) -> (N, L, C)
                dist = tf.norm(cands - cnn[:, :, None, :], axis=-1)  # (N, L, C)
                e = gamma_a * tf.square(dist / radius)
                n, l, c = tf.shape(cands)[0], tf.shape(cands)[1], tf.shape(cands)[2]
                counts = _window_background(tf.reshape(cands, [n, l * c, 3]), table, height, width,
                                            intr_vec, window)
                e += gamma_d * tf.reshape(counts, [n, l, c])
                if n_anchor:
                    lengths = tf.norm(cands[:, :, :, None, :] - anchors[:, :, None, :, :], axis=-1)
                    log_p = mixture.log_prob(tf.transpose(lengths, [0, 2, 1, 3]))  # (N, C, L, A)
                    e_bone = energy_from_log_prob(log_p, prior_mode)
                    e += tf.transpose(tf.reduce_mean(e_bone, axis=-1), [0, 2, 1])
                inside = dist <= radius * (1.0 + 1e-6)
                return tf.where(inside, e, tf.fill(tf.shape(e), np.float32(np.inf)))

            centre, extent = cnn, radius
            cands_all, energy_all = [], []
            for rnd in range(rounds):
                offsets = unit_ball if rnd == 0 else unit
                cands = centre[:, :, None, :] + extent * offsets[None, None]  # (N, L, C, 3)
                e = energy(cands)  # (N, L, C)
                best = tf.argmin(e, axis=-1, output_type=tf.int32)  # (N, L)
                centre = tf.gather(cands, best, axis=2, batch_dims=2)  # (N, L, 3)
                extent = extent / shrink
                cands_all.append(cands)
                energy_all.append(e)
            for i, j in enumerate(plan.joints):
                current[j] = centre[:, i]
            layer_tips = [j for j in plan.joints if j in tips]
            if layer_tips:
                cands_layer = tf.concat(cands_all, axis=2)  # (N, L, R*C, 3)
                energy_layer = tf.concat(energy_all, axis=2)  # (N, L, R*C)
                for j in layer_tips:
                    i = plan.joints.index(j)
                    tip_cands[j], tip_energy[j] = cands_layer[:, i], energy_layer[:, i]
        n = tf.shape(joints)[0]
        if not tips:
            return tf.stack(current, axis=1), tf.zeros([n, 0, n_cands, 3]), tf.zeros([n, 0, n_cands])
        return (tf.stack(current, axis=1), tf.stack([tip_cands[j] for j in tips], axis=1),
                tf.stack([tip_energy[j] for j in tips], axis=1))

    return search


def previous_frame(sequence_ids, frame_idx) -> np.ndarray:
    """(N,) row of each frame's previous frame (same sequence, frame index - 1), -1 when absent."""
    seq = np.asarray(sequence_ids)
    idx = np.asarray(frame_idx).astype(np.int64)
    if seq.shape != idx.shape or seq.ndim != 1:
        raise SdnetError("refine: sequence_ids and frame_idx must be (N,) each")
    row_of = {}
    for row, key in enumerate(zip(seq.tolist(), idx.tolist())):
        if key in row_of:
            raise SdnetError(f"refine: frame {key[1]} of sequence {key[0]!r} appears twice")
        row_of[key] = row
    return np.array([row_of.get((s, f - 1), -1) for s, f in zip(seq.tolist(), idx.tolist())],
                    dtype=np.int64)


def _chain_levels(prev: np.ndarray) -> np.ndarray:
    """(N,) position of each frame in its chain of consecutive frames (0 = no previous frame)."""
    level = np.full(prev.shape, -1, dtype=np.int64)
    for row in range(len(prev)):
        stack, r = [], row
        while level[r] < 0 and prev[r] >= 0:
            stack.append(r)
            r = prev[r]
        if level[r] < 0:
            level[r] = 0
        for s in reversed(stack):
            level[s] = level[prev[s]] + 1
    return level


def _temporal_select(refined, cands, energy, prev, skeleton: Skeleton, gamma_m: float, mode: str):
    """The tips of ``temporal_parts`` chosen in frame order with phi_M added (docs/design/refinement.md)
    among their candidates ``cands`` (N, T, K, 3) mm with energies ``energy`` (N, T, K). Returns (N, J, 3)."""
    out = refined.copy()  # (N, J, 3)
    parts = temporal_parts(skeleton)
    if not parts:
        return out
    tips, mids, roots = (np.array(v) for v in zip(*parts))
    col = np.arange(len(parts))  # candidate column of each part's tip
    levels = _chain_levels(prev)
    for level in range(1, int(levels.max(initial=0)) + 1):
        rows = np.flatnonzero(levels == level)
        p = prev[rows]
        pen = phi_M(cands[rows][:, col], out[rows][:, mids, None], out[rows][:, roots, None],
                    out[p][:, tips, None], out[p][:, mids, None], out[p][:, roots, None],
                    mode=mode)  # (n, P, K)
        e = energy[rows][:, col] + gamma_m * pen  # (n, P, K)
        best = np.argmin(e, axis=-1)  # (n, P)
        chosen = np.take_along_axis(cands[rows][:, col], best[..., None, None], axis=2)[:, :, 0]
        out[rows[:, None], tips[None, :]] = chosen
    return out


CHUNK = 256  # frames per TF call: bounds memory (tables are ~0.3 MB per 320x240 frame)


def _bucket(m: int) -> int:
    """The smallest power of two >= m (batch sizes the XLA-compiled search sees)."""
    return 1 << max(0, int(m) - 1).bit_length()


def foreground_tables(depth, band, chunk: int = CHUNK) -> list[np.ndarray]:
    """``foreground_integral`` of consecutive chunks of ``chunk`` frames: [(n_k, H+1, W+1) int32]."""
    depth = np.asarray(depth)
    band = np.asarray(band, dtype=np.float64)
    if depth.ndim != 3 or band.shape != (depth.shape[0], 2):
        raise SdnetError(f"refine: depth must be (N, H, W) and band (N, 2), got {depth.shape}, {band.shape}")
    return [foreground_integral(depth[s:s + chunk], band[s:s + chunk])
            for s in range(0, depth.shape[0], chunk)]


def refine_poses(joints_xyz, depth, band, intrinsics: Intrinsics, prior: BonePrior, skeleton: Skeleton,
                 config: RefineConfig = RefineConfig(), sequence_ids=None, frame_idx=None,
                 tables: Sequence[np.ndarray] | None = None, chunk: int = CHUNK) -> np.ndarray:
    """Refine CNN joint estimates hierarchically (palm to fingertips), Eq. 8.

    Args:
      joints_xyz: (N, J, 3) CNN estimates, camera xyz in mm.
      depth: (N, H, W) uint16 raw depth in mm (full images, size of ``intrinsics``).
      band: (N, 2) [lo, hi] mm, the hand's depth band per frame.
      intrinsics: the camera of ``depth``.
      prior: the bone-length prior fitted on training ground truth (for ``skeleton``'s bones).
      skeleton: the joints' skeleton (the run's): the layers, bones and temporal parts.
      sequence_ids, frame_idx: (N,) each, for the temporal term; frames may come in any order. When
        both are None, or gamma_m == 0, phi_M is not used.
      tables: optional ``foreground_tables(depth, band, chunk)``, to reuse across calls (then depth
        and band may be None).
      chunk: frames per TF call (memory bound; results do not depend on it).
    Returns:
      (N, J, 3) float64 refined joints, mm; each within ``config.radius_mm`` of its estimate (up to
      float32 rounding, ~1e-4 mm).
    """
    joints = np.asarray(joints_xyz, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (skeleton.num_joints, 3):
        raise SdnetError(f"refine: joints must be (N, {skeleton.num_joints}, 3), got {joints.shape}")
    if not np.all(np.isfinite(joints)):
        raise SdnetError("refine: joints contain NaN or infinite values")
    if (sequence_ids is None) != (frame_idx is None):
        raise SdnetError("refine: give both sequence_ids and frame_idx, or neither")
    prior.check_skeleton(skeleton)
    if tables is None:
        tables = foreground_tables(depth, band, chunk)
    n = joints.shape[0]
    if sum(t.shape[0] for t in tables) != n:
        raise SdnetError(f"refine: {n} poses but {sum(t.shape[0] for t in tables)} depth images")
    if n == 0:
        return joints.copy()
    h1, w1 = tables[0].shape[1:]
    if (w1 - 1, h1 - 1) != (intrinsics.width, intrinsics.height):
        raise SdnetError(f"refine: depth images are {w1 - 1}x{h1 - 1}, intrinsics say "
                         f"{intrinsics.width}x{intrinsics.height}")
    prev = None
    if sequence_ids is not None and config.gamma_m > 0:
        prev = previous_frame(sequence_ids, frame_idx)
        if len(prev) != n:
            raise SdnetError(f"refine: {len(prev)} sequence ids for {n} poses")
    search = _build_search(skeleton, config.grid_half, config.rounds, config.prior_mode,
                           config.palm_bone_term)
    constants = (tf.constant(h1 - 1), tf.constant(w1 - 1), _intrinsics_vector(intrinsics),
                 *(tf.constant(a, tf.float32) for a in prior.arrays()),
                 tf.constant(config.radius_mm, tf.float32), tf.constant(config.window),
                 tf.constant(config.gamma_d, tf.float32), tf.constant(config.gamma_a, tf.float32))
    refined, cands, energy, start = [], [], [], 0
    for table in tables:
        m = table.shape[0]
        pose, flat = joints[start:start + m], table.reshape(m, -1)  # (m, J, 3), (m, (H+1)(W+1))
        size = _bucket(m)  # XLA compiles once per batch size: pad to a power of two
        if size > m:
            pose = np.concatenate([pose, np.repeat(pose[-1:], size - m, axis=0)])
            flat = np.concatenate([flat, np.repeat(flat[-1:], size - m, axis=0)])
        r, c, e = search(tf.constant(pose, tf.float32), tf.constant(flat), *constants)
        refined.append(r.numpy()[:m].astype(np.float64))
        if prev is not None:
            cands.append(c.numpy()[:m])
            energy.append(e.numpy()[:m])
        start += m
    refined = np.concatenate(refined)  # (N, J, 3)
    if prev is not None:
        refined = _temporal_select(refined, np.concatenate(cands).astype(np.float64),
                                   np.concatenate(energy), prev, skeleton, config.gamma_m,
                                   config.temporal_mode)
    return refined
