"""Z-buffer depth rendering of hand primitives through a pinhole camera.

Rays leave the camera centre through each pixel centre with direction d = ((u-cx)/fx, (v-cy)/fy, 1),
so a hit at ray parameter t lies at camera xyz t*d and its depth (z, mm) is t itself. Each primitive
is intersected in closed form, vectorized over the pixels of its projected bounding box; the
nearest hit wins (self-occlusion just happens).
"""
from __future__ import annotations

import functools

import numpy as np

from pipeline.camera import Intrinsics
from pipeline.synth.handmodel import HandPrimitives, Slab

NO_HIT = np.inf


@functools.lru_cache(maxsize=8)
def _ray_grid(intr: Intrinsics) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel ray direction components x/z (W,) and y/z (H,) for pixel centres."""
    dx = (np.arange(intr.width) - intr.cx) / intr.fx  # (W,)
    dy = (np.arange(intr.height) - intr.cy) / intr.fy  # (H,)
    return dx, dy


def _bbox(lo: np.ndarray, hi: np.ndarray, intr: Intrinsics):
    """Pixel window (u0, u1, v0, v1), end-exclusive, holding the projection of the axis-aligned box
    [lo, hi] (mm, camera xyz); None when it is behind the camera or off the image."""
    if lo[2] <= 1.0:
        return None
    xs = np.array([lo[0], hi[0]])[:, None] / np.array([lo[2], hi[2]])[None, :]  # (2, 2) x/z
    ys = np.array([lo[1], hi[1]])[:, None] / np.array([lo[2], hi[2]])[None, :]
    u0 = int(np.floor(xs.min() * intr.fx + intr.cx)) - 1
    u1 = int(np.ceil(xs.max() * intr.fx + intr.cx)) + 2
    v0 = int(np.floor(ys.min() * intr.fy + intr.cy)) - 1
    v1 = int(np.ceil(ys.max() * intr.fy + intr.cy)) + 2
    u0, v0 = max(u0, 0), max(v0, 0)
    u1, v1 = min(u1, intr.width), min(v1, intr.height)
    if u0 >= u1 or v0 >= v1:
        return None
    return u0, u1, v0, v1


def _sphere_hit(dx, dy, dd, cx, cy, cz, r) -> np.ndarray:
    """Entry depth of rays (dx, dy, 1) into spheres centred (cx, cy, cz) of radius r (all
    broadcast together); inf on a miss."""
    b = dx * cx + dy * cy + cz  # d . c
    h = b * b - dd * (cx * cx + cy * cy + cz * cz - r * r)
    with np.errstate(invalid="ignore"):
        t = (b - np.sqrt(h)) / dd
    return np.where(h >= 0.0, t, NO_HIT)


def capsule_depth(dx, dy, a: np.ndarray, b: np.ndarray, r) -> np.ndarray:
    """Entry depth (mm) of rays (dx, dy, 1) into capsules a (..., 3) -> b (..., 3) of radius r (mm).

    One capsule: a, b (3,), r scalar, dx (1, w), dy (h, 1) -> (h, w). A batch of K capsules, each
    over its own window: a, b (K, 3), r (K,), dx (K, 1, w), dy (K, h, 1) -> (K, h, w).
    inf where the ray misses. The capsule is the union of the finite cylinder and the two end
    spheres; the entry depth of a union seen from outside is the minimum of the parts'.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    expand = (slice(None),) + (None,) * (np.ndim(dx) - 1) if a.ndim == 2 else ()
    ax, ay, az = (a[..., i][expand] for i in range(3))  # scalars or (K, 1, 1)
    bx, by, bz = (b[..., i][expand] for i in range(3))
    r = np.asarray(r, dtype=np.float64)[expand]
    dd = dx * dx + dy * dy + 1.0  # |d|^2
    t = np.minimum(_sphere_hit(dx, dy, dd, ax, ay, az, r), _sphere_hit(dx, dy, dd, bx, by, bz, r))
    bax, bay, baz = bx - ax, by - ay, bz - az
    baba = bax * bax + bay * bay + baz * baz
    bard = dx * bax + dy * bay + baz
    rdoa = -(dx * ax + dy * ay + az)  # d . (o - a), camera centre o = 0
    baoa = -(bax * ax + bay * ay + baz * az)
    oaoa = ax * ax + ay * ay + az * az
    qa = baba * dd - bard * bard
    qb = baba * rdoa - baoa * bard
    qc = baba * oaoa - baoa * baoa - r * r * baba
    h = qb * qb - qa * qc
    with np.errstate(invalid="ignore", divide="ignore"):
        tc = (-qb - np.sqrt(h)) / qa
    y = baoa + tc * bard  # position along the axis, in units of baba
    ok = (h >= 0.0) & (qa > 1e-12) & (y > 0.0) & (y < baba)
    return np.minimum(t, np.where(ok, tc, NO_HIT))


def slab_depth(dx, dy, slab: Slab) -> np.ndarray:
    """Entry depth (mm) of rays into the prism of ``slab`` (polygon extruded +-half_thickness
    along its normal); (h, w), inf on a miss. Rounded edges are separate capsules."""
    n, c, ht = slab.normal, slab.centre, slab.half_thickness
    nd = dx * n[0] + dy * n[1] + n[2]  # (h, w)
    nc = n @ c
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (nc - ht) / nd
        t2 = (nc + ht) / nd
    t = np.minimum(t1, t2)  # front face
    px = dx * t - c[0]
    py = dy * t - c[1]
    pz = t - c[2]
    e1, e2 = slab.axes
    s = px * e1[0] + py * e1[1] + pz * e1[2]
    q = px * e2[0] + py * e2[1] + pz * e2[2]
    inside = np.isfinite(t) & (t > 0)
    poly = slab.polygon
    for i in range(len(poly)):
        p0, p1 = poly[i], poly[(i + 1) % len(poly)]
        # counter-clockwise polygon: inside is to the left of every edge
        inside &= (p1[0] - p0[0]) * (q - p0[1]) - (p1[1] - p0[1]) * (s - p0[0]) >= 0.0
    return np.where(inside, t, NO_HIT)


def render_depth(prims: HandPrimitives, intr: Intrinsics) -> tuple[np.ndarray, np.ndarray]:
    """Render a hand: returns depth (H, W) float64 in mm (inf = background) and the index of the
    visible primitive (H, W) int16 (capsule k, len(capsules) for the palm slab, -1 background)."""
    dx_all, dy_all = _ray_grid(intr)
    depth = np.full((intr.height, intr.width), NO_HIT)
    ids = np.full((intr.height, intr.width), -1, dtype=np.int16)
    r = prims.radius[:, None]
    lo = np.minimum(prims.a, prims.b) - r  # (K, 3)
    hi = np.maximum(prims.a, prims.b) + r
    boxes = [_bbox(lo[k], hi[k], intr) for k in range(len(prims.radius))]
    for group in _size_groups(boxes):  # one vectorized pass per group of similar windows
        w = max(boxes[k][1] - boxes[k][0] for k in group)
        h = max(boxes[k][3] - boxes[k][2] for k in group)
        u0 = np.array([min(boxes[k][0], intr.width - w) for k in group])  # (G,)
        v0 = np.array([min(boxes[k][2], intr.height - h) for k in group])
        dx = dx_all[u0[:, None] + np.arange(w)][:, None, :]  # (G, 1, w)
        dy = dy_all[v0[:, None] + np.arange(h)][:, :, None]  # (G, h, 1)
        t = capsule_depth(dx, dy, prims.a[group], prims.b[group], prims.radius[group])  # (G, h, w)
        for i, k in enumerate(group):
            _zbuffer(depth, ids, t[i], (u0[i], u0[i] + w, v0[i], v0[i] + h), k)
    slab = prims.slab
    verts = slab.vertices()
    box = _bbox(verts.min(0) - slab.half_thickness, verts.max(0) + slab.half_thickness, intr)
    if box is not None:
        u0, u1, v0, v1 = box
        t = slab_depth(dx_all[None, u0:u1], dy_all[v0:v1, None], slab)
        _zbuffer(depth, ids, t, box, len(prims.radius))
    return depth, ids


def _size_groups(boxes: list, slack: float = 1.3) -> list[list[int]]:
    """Indices of the non-empty windows grouped so that, within a group, the largest window side is
    at most ``slack`` times the smallest (few passes, little wasted area)."""
    sized = sorted((max(b[1] - b[0], b[3] - b[2]), k) for k, b in enumerate(boxes) if b is not None)
    groups: list[list[int]] = []
    first = 0
    for size, k in sized:
        if groups and size <= slack * first:
            groups[-1].append(k)
        else:
            groups.append([k])
            first = size
    return groups


def _zbuffer(depth: np.ndarray, ids: np.ndarray, t: np.ndarray, box, k: int) -> None:
    u0, u1, v0, v1 = box
    win = depth[v0:v1, u0:u1]
    nearer = (t < win) & (t > 0)
    win[nearer] = t[nearer]
    ids[v0:v1, u0:u1][nearer] = k


# ----------------------------------------------------------------------------- scene solids
# Closed-form solids for the things around the hand (``pipeline.synth.scene``): ellipsoids (torso,
# balls) and oriented boxes (desk, boxes). Same ray convention as above: rays (dx, dy, 1) from the
# camera centre, the returned t is the hit's depth z in mm, inf on a miss.


def ellipsoid_depth(dx, dy, centre: np.ndarray, axes: np.ndarray, semi: np.ndarray) -> np.ndarray:
    """Entry depth (mm) of rays into the ellipsoid centred at ``centre`` (3,) mm with unit axes
    ``axes`` (3, 3) (rows, orthonormal, camera xyz) and semi-axes ``semi`` (3,) mm along them.
    dx (1, w), dy (h, 1) -> (h, w), inf on a miss (and where the camera is inside it)."""
    q = [(axes[k, 0] * dx + axes[k, 1] * dy + axes[k, 2]) / semi[k] for k in range(3)]  # ray, scaled
    c = (axes @ np.asarray(centre, dtype=np.float64)) / semi  # (3,) centre, scaled
    dd = q[0] * q[0] + q[1] * q[1] + q[2] * q[2]
    dc = q[0] * c[0] + q[1] * c[1] + q[2] * c[2]
    h = dc * dc - dd * (c @ c - 1.0)
    with np.errstate(invalid="ignore"):
        t = (dc - np.sqrt(h)) / dd
    return np.where((h >= 0.0) & (t > 0.0), t, NO_HIT)


def box_depth(dx, dy, centre: np.ndarray, axes: np.ndarray, half: np.ndarray) -> np.ndarray:
    """Entry depth (mm) of rays into the box centred at ``centre`` (3,) mm with unit edge directions
    ``axes`` (3, 3) (rows, orthonormal, camera xyz) and half sizes ``half`` (3,) mm along them (slab
    test in the box's frame). dx (1, w), dy (h, 1) -> (h, w), inf on a miss."""
    o = -(axes @ np.asarray(centre, dtype=np.float64))  # (3,) camera centre in the box frame
    t_near = np.full(np.broadcast(dx, dy).shape, -np.inf)
    t_far = np.full_like(t_near, np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in range(3):
            d = axes[k, 0] * dx + axes[k, 1] * dy + axes[k, 2]  # ray direction along box axis k
            t1 = (-half[k] - o[k]) / d
            t2 = (half[k] - o[k]) / d
            parallel = d == 0.0  # a ray parallel to this pair of faces: inside the slab or never
            lo = np.where(parallel, np.where(abs(o[k]) <= half[k], -np.inf, np.inf), np.minimum(t1, t2))
            hi = np.where(parallel, np.where(abs(o[k]) <= half[k], np.inf, -np.inf), np.maximum(t1, t2))
            np.maximum(t_near, lo, out=t_near)
            np.minimum(t_far, hi, out=t_far)
    return np.where((t_near <= t_far) & (t_near > 0.0), t_near, NO_HIT)


def extent_along(axes: np.ndarray, half: np.ndarray, box: bool) -> np.ndarray:
    """Half extent (3,) mm along camera x, y, z of a box (``box`` True) or an ellipsoid with unit
    axes (3, 3) rows and half sizes / semi-axes (3,)."""
    scaled = np.abs(axes) * half[:, None] if box else (axes * half[:, None]) ** 2  # (3, 3)
    return scaled.sum(axis=0) if box else np.sqrt(scaled.sum(axis=0))


def zbuffer_solid(depth: np.ndarray, ids: np.ndarray, kind: str, params: tuple, k: int,
                  intr: Intrinsics) -> None:
    """Render one solid into ``depth`` (H, W) mm / ``ids`` (H, W) in place (nearest hit wins).

    kind 'capsule': params (a (3,), b (3,), radius); 'ellipsoid' / 'box': (centre (3,), axes (3, 3),
    semi-axes or half sizes (3,)); all mm, camera xyz. Work is confined to the solid's window."""
    if kind == "capsule":
        a, b, r = params
        lo, hi = np.minimum(a, b) - r, np.maximum(a, b) + r
    else:
        centre, axes, half = params
        ext = extent_along(axes, half, kind == "box")
        lo, hi = centre - ext, centre + ext
    box = _bbox(lo, hi, intr)
    if box is None:
        return
    u0, u1, v0, v1 = box
    dx_all, dy_all = _ray_grid(intr)
    dx, dy = dx_all[None, u0:u1], dy_all[v0:v1, None]
    if kind == "capsule":
        t = capsule_depth(dx, dy, a, b, r)
    elif kind == "ellipsoid":
        t = ellipsoid_depth(dx, dy, centre, axes, half)
    elif kind == "box":
        t = box_depth(dx, dy, centre, axes, half)
    else:
        raise ValueError(f"unknown solid kind {kind!r}")
    _zbuffer(depth, ids, t, box, k)
