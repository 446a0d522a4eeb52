"""A depth-sensor model: what a short-range depth camera does to an ideal depth map.

Input: ideal depth (H, W) float in mm with inf for background. Output: (H, W) uint16 mm as ICVL
stores it, background = ICVL_BACKGROUND (32001). Effects, in order:
  * occluders (off by default): discs centred on random hand pixels, either holes (no depth) or flat
    objects in front of the hand. They change the ideal depth, so every effect below treats their
    edges like the hand's own (ragged edges, flying pixels, noise and loss at depth steps);
  * ragged silhouettes: edge pixels dropped at random, and "flying pixels" just outside the edge that
    take a neighbour's depth pushed back by a few mm (mixed foreground/background returns);
  * missing pixels: random dropouts, more likely where the surface is seen at a grazing angle;
  * depth noise: Gaussian, growing with depth squared and with the surface slope;
  * structured-light effects (off by default): projector shadows beside depth edges, holes on
    dark patches, mixed depths across depth steps between two surfaces;
  * quantization to whole millimetres (``apply_sensor``), or to a camera's depth unit
    (``apply_sensor_mm`` then ``to_depth_units``).
Scene frames only (``pipeline.synth.scene``): speckle and flying-pixel clusters, small blobs of
spurious depths in front of the hand of interest (not necessarily of a thing nearer than the hand),
drawn by ``speckle_clusters`` from the scene's own generator and painted over the measured depth by
``paint_speckles`` (``pipeline.synth.frames.render_frame_mm``, after every effect above).
All work is confined to the bounding box of the foreground (plus a margin), vectorized.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.icvl import ICVL_BACKGROUND
from pipeline.synth.profiles import SENSOR_PROFILES


@dataclass(frozen=True)
class SensorModel:
    """Sensor parameters (depth in mm; probabilities per pixel).

    Occluders per frame are Poisson with mean ``occluders`` (0 = off: no random numbers are drawn,
    so output bytes are those of a sensor without the feature). Each is a disc centred on a random
    hand pixel with radius uniform in ``occluder_radius_mm`` (mm at the hand's depth there); with
    probability ``occluder_holes`` it is a hole (hand depth missing), else a flat object facing the
    camera ``occluder_gap_mm`` (uniform) in front of the hand's depth at the disc centre.
    """

    noise_mm_at_300: float = 1.2  # noise std on a surface facing the camera at 300 mm
    slope_noise_gain: float = 0.35  # extra std per unit of surface slope (depth change per footprint)
    slope_noise_max: float = 0.0  # slope beyond which noise grows no more (0 = no limit)
    dropout: float = 0.004  # random missing pixels on the hand
    grazing_dropout: float = 0.5  # extra drop probability at fully grazing surfaces
    edge_dropout: float = 0.3  # probability to drop a pixel on the silhouette
    flying_pixels: float = 0.15  # probability that a pixel just outside the silhouette is kept
    flying_push_mm: float = 20.0  # max extra depth of a flying pixel
    occluders: float = 0.0  # expected occluders per frame (Poisson mean); 0 = off
    occluder_radius_mm: tuple[float, float] = (10.0, 25.0)  # (min, max) disc radius, mm
    occluder_gap_mm: tuple[float, float] = (10.0, 40.0)  # (min, max) object distance in front, mm
    occluder_holes: float = 0.5  # probability that an occluder is a hole rather than an object
    grazing_slope: tuple[float, float] = (1.5, 5.5)  # slope where grazing loss starts, and is full
    shadow_baseline_mm: float = 0.0  # projector offset along +x (structured light); 0 = no shadows
    dark_patches: float = 0.0  # about this share of the image is dark (no return): blobby holes
    dark_patch_size: float = 0.06  # blob scale as a share of the image width
    edge_mix: float = 0.0  # probability that a pixel at a depth step takes a depth between the sides
    edge_mix_step_mm: float = 30.0  # depth step (mm) to a 4-neighbour that counts for edge_mix

    def __post_init__(self) -> None:
        for name in ("dropout", "grazing_dropout", "edge_dropout", "flying_pixels", "occluder_holes",
                     "dark_patches", "edge_mix"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"sensor: {name} must be in [0, 1]")
        if min(self.noise_mm_at_300, self.flying_push_mm, self.slope_noise_gain, self.slope_noise_max) < 0:
            raise ValueError("sensor: noise parameters must be >= 0")
        if not 0 <= self.grazing_slope[0] < self.grazing_slope[1]:
            raise ValueError(f"sensor: grazing_slope must be (start, full) with 0 <= start < full, "
                             f"got {self.grazing_slope}")
        if self.shadow_baseline_mm < 0 or self.dark_patch_size <= 0 or self.edge_mix_step_mm <= 0:
            raise ValueError("sensor: shadow_baseline_mm must be >= 0, dark_patch_size and "
                             "edge_mix_step_mm > 0")
        if not self.occluders >= 0:
            raise ValueError(f"sensor: occluders must be >= 0, got {self.occluders}")
        (r0, r1), (g0, g1) = self.occluder_radius_mm, self.occluder_gap_mm
        if not 0 < r0 <= r1:
            raise ValueError(f"sensor: occluder_radius_mm must be (min, max) with 0 < min <= max, "
                             f"got {self.occluder_radius_mm}")
        if not 0 <= g0 <= g1:
            raise ValueError(f"sensor: occluder_gap_mm must be (min, max) with 0 <= min <= max, "
                             f"got {self.occluder_gap_mm}")


def sensor_for(profile: str = "default", **overrides) -> SensorModel:
    """The SensorModel of a named profile (``SENSOR_PROFILES``), with ``overrides`` (SensorModel
    fields; None = keep the profile's value) on top. Unknown profile -> ValueError naming the choices."""
    if profile not in SENSOR_PROFILES:
        raise ValueError(f"unknown sensor profile {profile!r}; choose from {', '.join(SENSOR_PROFILES)}")
    return SensorModel(**{**SENSOR_PROFILES[profile], **{k: v for k, v in overrides.items() if v is not None}})


IDEAL_SENSOR = SensorModel(noise_mm_at_300=0.0, slope_noise_gain=0.0, dropout=0.0,
                           grazing_dropout=0.0, edge_dropout=0.0, flying_pixels=0.0)


def quantize(depth: np.ndarray) -> np.ndarray:
    """Float depth (H, W) mm, inf/NaN = background -> uint16 mm with background 32001."""
    fg = np.isfinite(depth)
    out = np.full(depth.shape, ICVL_BACKGROUND, dtype=np.uint16)
    out[fg] = np.clip(np.rint(depth[fg]), 1, ICVL_BACKGROUND - 1).astype(np.uint16)
    return out


def draw_occluders(depth: np.ndarray, rng: np.random.Generator, model: SensorModel,
                   focal_px: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The random occluders of one frame of ideal ``depth`` (H, W) mm (inf = background).

    Returns (centres (N, 2) pixel (u, v), radii (N,) px, front (N,) mm, holes (N,) bool); ``front``
    is the depth of an object's flat face (NaN for holes). N is Poisson(model.occluders); radii are
    converted from mm at the hand's depth z at the centre: r_px = r_mm * focal_px / z.
    """
    n = int(rng.poisson(model.occluders))
    fg_index = np.flatnonzero(np.isfinite(depth))
    if n == 0 or fg_index.size == 0:
        return np.zeros((0, 2)), np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool)
    draws = rng.random((4, n))  # centre pick, radius, kind, gap
    pick = fg_index[np.minimum((draws[0] * fg_index.size).astype(np.int64), fg_index.size - 1)]
    v, u = np.divmod(pick, depth.shape[1])
    z = depth.flat[pick]  # (N,) mm, the hand at each centre
    (r0, r1), (g0, g1) = model.occluder_radius_mm, model.occluder_gap_mm
    radii = (r0 + draws[1] * (r1 - r0)) * focal_px / z
    holes = draws[2] < model.occluder_holes
    front = np.where(holes, np.nan, z - (g0 + draws[3] * (g1 - g0)))
    return np.stack([u, v], axis=1).astype(np.float64), radii, front, holes


def paint_occluders(depth: np.ndarray, centres: np.ndarray, radii: np.ndarray, front: np.ndarray,
                    holes: np.ndarray) -> np.ndarray:
    """A copy of ideal ``depth`` (H, W) mm (inf = background) with the occluder discs drawn in.

    Discs: pixels within radii (N,) px of centres (N, 2) pixel (u, v). Objects (holes False) are
    z-buffered at depth ``front`` (N,) mm, over the hand and the background alike; holes then remove
    whatever is inside them (inf). Work is confined to the discs' bounding box, clipped to the image.
    """
    out = np.array(depth, dtype=np.result_type(depth, np.float32))  # a float copy
    if len(radii) == 0:
        return out
    H, W = depth.shape
    u0 = max(int(np.floor((centres[:, 0] - radii).min())), 0)
    u1 = min(int(np.ceil((centres[:, 0] + radii).max())) + 1, W)
    v0 = max(int(np.floor((centres[:, 1] - radii).min())), 0)
    v1 = min(int(np.ceil((centres[:, 1] + radii).max())) + 1, H)
    vv, uu = np.mgrid[v0:v1, u0:u1]  # (h, w) pixel coordinates of the window
    inside = ((uu[None] - centres[:, 0, None, None]) ** 2 + (vv[None] - centres[:, 1, None, None]) ** 2
              <= (radii ** 2)[:, None, None])  # (N, h, w)
    win = out[v0:v1, u0:u1]
    objects = inside & ~holes[:, None, None]
    if objects.any():
        face = np.where(objects, front[:, None, None], np.inf).min(axis=0)  # (h, w) nearest face
        np.minimum(win, face, out=win)
    win[(inside & holes[:, None, None]).any(axis=0)] = np.inf
    return out


def add_occluders(depth: np.ndarray, rng: np.random.Generator, model: SensorModel,
                  focal_px: float) -> np.ndarray:
    """Ideal ``depth`` (H, W) mm with random occluders drawn in; unchanged (and ``rng`` untouched)
    when the model has none (``occluders == 0``)."""
    if model.occluders <= 0:
        return depth
    return paint_occluders(depth, *draw_occluders(depth, rng, model, focal_px))


def apply_sensor(depth: np.ndarray, rng: np.random.Generator, model: SensorModel,
                 focal_px: float) -> np.ndarray:
    """Sensor effects on ideal ``depth`` (H, W) mm (inf = background) -> uint16 (H, W) mm,
    background 32001 (``quantize`` of ``apply_sensor_mm``)."""
    return quantize(apply_sensor_mm(depth, rng, model, focal_px))


def apply_sensor_mm(depth: np.ndarray, rng: np.random.Generator, model: SensorModel,
                    focal_px: float, surface: np.ndarray | None = None) -> np.ndarray:
    """Sensor effects on ideal ``depth`` (H, W) mm (inf = background) -> measured depth (H, W)
    float mm, inf = no depth (not yet quantized: ``to_depth_units`` stores it in a camera's unit).

    ``focal_px`` converts a pixel's footprint to mm (footprint = z / focal) for the slope, and an
    occluder's radius from mm to px. Occluders are drawn first, into the ideal depth.
    ``surface`` (H, W) int, optional: which object each pixel sees (a scene: hand, torso, desk...).
    A depth step between two objects is then a silhouette, not a slope: the nearer object's edge
    pixels are dropped like the hand's edge against the background, the farther one's pixels next
    to it may become flying pixels (the nearer depth pushed back), and the step adds no noise (a
    slope of hundreds of mm per footprint would throw pixels far in front of the hand). None: one
    object, as for a hand alone (the same bytes as without the argument).
    """
    depth = add_occluders(depth, rng, model, focal_px)
    fg_full = np.isfinite(depth)
    out = np.full(depth.shape, np.inf)
    if not fg_full.any():
        return out
    rows, cols = np.nonzero(fg_full.any(axis=1))[0], np.nonzero(fg_full.any(axis=0))[0]
    v0, v1 = max(rows[0] - 2, 0), min(rows[-1] + 3, depth.shape[0])
    u0, u1 = max(cols[0] - 2, 0), min(cols[-1] + 3, depth.shape[1])
    z = depth[v0:v1, u0:u1]  # (h, w)
    fg = fg_full[v0:v1, u0:u1]
    h, w = z.shape
    zp = np.pad(np.where(fg, z, np.nan), 1, constant_values=np.nan)  # (h+2, w+2)
    zf = zp[1:-1, 1:-1]
    neighbours = (zp[1:-1, 2:], zp[1:-1, :-2], zp[2:, 1:-1], zp[:-2, 1:-1])  # views, 4-neighbours

    # Surface slope: the largest depth step to a foreground 4-neighbour (of the same object), per
    # pixel footprint.
    with np.errstate(invalid="ignore"):
        all_steps = np.abs(np.stack(neighbours) - zf)  # (4, h, w), NaN where either is background
    nb_fg = ~np.isnan(np.stack(neighbours))  # (4, h, w)
    if surface is None:
        steps = all_steps
        edge = fg & ~nb_fg.all(axis=0)  # foreground pixels with a background 4-neighbour
        ring = ~fg & nb_fg.any(axis=0)  # background pixels next to the hand
        source = nb_fg  # where a flying pixel takes its depth from
    else:
        sp = np.pad(surface[v0:v1, u0:u1], 1)
        nb_other = nb_fg & (np.stack((sp[1:-1, 2:], sp[1:-1, :-2], sp[2:, 1:-1], sp[:-2, 1:-1]))
                            != sp[1:-1, 1:-1])  # (4, h, w) a neighbour on another object
        with np.errstate(invalid="ignore"):
            nearer = nb_other & (np.stack(neighbours) < zf)
        steps = np.where(nb_other, np.nan, all_steps)
        edge = fg & (~nb_fg.all(axis=0) | (nb_other & ~nearer).any(axis=0))  # silhouettes
        behind = fg & nearer.any(axis=0)  # pixels just behind another object's silhouette
        ring = (~fg & nb_fg.any(axis=0)) | behind
        source = np.where(behind[None], nearer, nb_fg)
    step = np.fmax.reduce(steps, axis=0)  # NaN only where no neighbour pair is foreground
    step[np.isnan(step)] = 0.0
    zsafe = np.where(fg, z, 1.0)
    slope = step / (zsafe / focal_px)  # tan of the incidence angle, roughly

    # Noise, growing with depth^2 and slope; then missing pixels.
    noise_slope = np.minimum(slope, model.slope_noise_max) if model.slope_noise_max > 0 else slope
    sigma = model.noise_mm_at_300 * (zsafe / 300.0) ** 2 * (1.0 + model.slope_noise_gain * noise_slope)
    noisy = z + sigma * rng.standard_normal((h, w), dtype=np.float32)
    g0, g1 = model.grazing_slope
    grazing = np.clip((slope - g0) / (g1 - g0), 0.0, 1.0)
    p_drop = model.dropout + model.grazing_dropout * grazing + model.edge_dropout * edge
    uniform = rng.random((3, h, w), dtype=np.float32)
    keep = fg & (uniform[0] >= p_drop)

    # Flying pixels just outside the silhouette: a neighbour's depth, pushed back.
    flying = ring & (uniform[1] < model.flying_pixels)
    if flying.any():
        first = np.argmax(source, axis=0)  # (h, w) index of a foreground (nearer) neighbour
        outer = np.take_along_axis(np.stack(neighbours), first[None], axis=0)[0]
        noisy = np.where(flying, outer + uniform[2] * model.flying_push_mm, noisy)
        keep |= flying

    # Structured-light effects (off by default: no random numbers drawn, bytes as before).
    if model.edge_mix > 0:  # mixed returns across depth steps between two surfaces
        far = np.argmax(np.nan_to_num(all_steps, nan=-1.0), axis=0)  # neighbour across the largest step
        other = np.take_along_axis(np.stack(neighbours), far[None], axis=0)[0]
        mix_u = rng.random((2, h, w), dtype=np.float32)
        jump = np.take_along_axis(np.nan_to_num(all_steps, nan=0.0), far[None], axis=0)[0]
        mixed = fg & (jump > model.edge_mix_step_mm) & (mix_u[0] < model.edge_mix)
        with np.errstate(invalid="ignore"):  # inf/NaN outside the foreground, never picked
            noisy = np.where(mixed, z + mix_u[1] * (other - z), noisy)
    if model.shadow_baseline_mm > 0:
        keep &= ~projector_shadow(z, model.shadow_baseline_mm * focal_px)
    if model.dark_patches > 0:
        keep &= ~dark_patch_mask(rng, depth.shape, model.dark_patches, model.dark_patch_size)[v0:v1, u0:u1]

    out[v0:v1, u0:u1] = np.where(keep, noisy, np.inf)
    return out


def projector_shadow(z: np.ndarray, baseline_px_mm: float) -> np.ndarray:
    """Pixels of ideal depth ``z`` (H, W) mm (inf = nothing) that a projector at +baseline along the
    camera's x axis cannot light: (H, W) bool. ``baseline_px_mm`` = baseline (mm) x focal (px).

    A surface point at column u and depth z is seen by the projector at column u - f b / z; it lies
    in shadow when a point further right on the same row maps to a smaller projector column (it is
    nearer to the projector on the same ray). So shadows fall on the left of nearer objects, as wide
    as f b (1/z_near - 1/z_far) px. Nothing (inf) casts no shadow."""
    with np.errstate(divide="ignore"):
        up = np.arange(z.shape[1], dtype=np.float64)[None, :] - baseline_px_mm / z  # (H, W)
    right_min = np.minimum.accumulate(up[:, ::-1], axis=1)[:, ::-1]  # min over columns >= u
    beyond = np.concatenate([right_min[:, 1:], np.full((z.shape[0], 1), np.inf)], axis=1)  # > u
    return np.isfinite(z) & (beyond < up - 0.5)


def dark_patch_mask(rng: np.random.Generator, shape: tuple[int, int], share: float,
                    size: float) -> np.ndarray:
    """Blobby (H, W) bool mask covering about ``share`` of an image of ``shape``: a coarse uniform
    random grid (cells ``size`` x the image width) bilinearly upsampled and thresholded at its
    ``share`` quantile (dark materials that return no structured light); a few ms at 640x480."""
    height, width = shape
    cell = max(2.0, size * width)
    gh, gw = int(np.ceil(height / cell)) + 2, int(np.ceil(width / cell)) + 2
    grid = rng.random((gh, gw))

    def lerp(values: np.ndarray, n: int, axis: int) -> np.ndarray:  # bilinear, one axis at a time
        pos = np.arange(n) / cell + 0.5
        i = np.floor(pos).astype(int)
        frac = (pos - i)[:, None] if axis == 0 else (pos - i)[None, :]
        lo, hi = np.take(values, i, axis=axis), np.take(values, i + 1, axis=axis)
        return lo + frac * (hi - lo)

    field = lerp(lerp(grid, height, 0), width, 1)  # (H, W)
    return field < np.quantile(field[::4, ::4], share)


def speckle_clusters(rng: np.random.Generator, shape: tuple[int, int], count: int,
                     pixels: tuple[float, float], depth_mm: tuple[float, float],
                     keep_out: tuple[float, float, float, float] | None = None,
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``count`` clusters of spurious depths in an image of ``shape`` (H, W): each a blob of about
    ``pixels`` (min, max; log-uniform) pixels around a random centre outside the pixel window
    ``keep_out`` (u0, u1, v0, v1; None = anywhere), Gaussian offsets of std sqrt(size)/2 px, at a
    depth uniform in ``depth_mm`` (mm) plus 2 mm std per pixel. Returns (rows (P,), cols (P,),
    depths (P,) mm), duplicates removed (the first kept). A centre that finds no room outside
    ``keep_out`` in 20 tries is dropped, and so is every pixel whose square (its centre +- 0.5 px)
    touches ``keep_out`` (a Gaussian tail beyond 3 std); the draws do not depend on that."""
    height, width = shape
    rows, cols, depths = [], [], []
    for _ in range(int(count)):
        size = float(np.exp(rng.uniform(np.log(pixels[0]), np.log(pixels[1]))))
        spread = 0.5 * np.sqrt(size)
        reach = 3.0 * spread + 1.0
        for _ in range(20):
            u, v = rng.uniform(0, width), rng.uniform(0, height)
            if keep_out is None or not (keep_out[0] - reach <= u <= keep_out[1] + reach
                                        and keep_out[2] - reach <= v <= keep_out[3] + reach):
                break
        else:
            continue
        n = max(1, int(round(size)))
        off = rng.standard_normal((n, 2)) * spread
        r = np.clip(np.rint(v + off[:, 1]), 0, height - 1).astype(np.int64)
        c = np.clip(np.rint(u + off[:, 0]), 0, width - 1).astype(np.int64)
        z = rng.uniform(*depth_mm) + 2.0 * rng.standard_normal(n)
        if keep_out is not None:
            out = ((c + 0.5 < keep_out[0]) | (c - 0.5 > keep_out[1]) | (r + 0.5 < keep_out[2])
                   | (r - 0.5 > keep_out[3]))
            r, c, z = r[out], c[out], z[out]
        rows.append(r)
        cols.append(c)
        depths.append(z)
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    r, c, z = np.concatenate(rows), np.concatenate(cols), np.concatenate(depths)
    _, first = np.unique(r * width + c, return_index=True)
    first.sort()
    return r[first], c[first], z[first]


def paint_speckles(depth: np.ndarray, rows: np.ndarray, cols: np.ndarray, depths: np.ndarray) -> np.ndarray:
    """A copy of measured ``depth`` (H, W) mm (inf = no depth) with the speckle pixels (rows (P,),
    cols (P,)) set to ``depths`` (P,) mm (``speckle_clusters``); ``depth`` itself when P is 0."""
    if len(rows) == 0:
        return depth
    out = np.array(depth, copy=True)
    out[rows, cols] = depths
    return out


def to_depth_units(depth: np.ndarray, depth_scale: float = 1.0) -> np.ndarray:
    """Measured depth (H, W) float mm, inf/NaN = no depth -> the uint16 values a camera stores.

    ``depth_scale`` 1 (mm): ICVL's convention, ``quantize`` (whole mm, no depth = 32001).
    Any other unit (mm per stored value, e.g. 0.125): round(mm / depth_scale), no depth = 0, and
    depths beyond the 16-bit range also 0 (as such cameras do)."""
    if depth_scale == 1.0:
        return quantize(depth)
    return to_zero_background_units(depth, depth_scale)


def to_zero_background_units(depth: np.ndarray, depth_scale: float = 1.0) -> np.ndarray:
    """Measured depth (H, W) float mm, inf/NaN = no depth -> uint16 round(mm / depth_scale) with
    no depth = 0 (NYU's convention at 1 mm; other cameras' at their unit); values below 1 become 1,
    depths beyond the 16-bit range 0 (as such cameras do)."""
    fg = np.isfinite(depth)
    units = np.zeros(depth.shape, dtype=np.float64)
    units[fg] = np.rint(depth[fg] / depth_scale)
    units[fg & (units < 1)] = 1
    units[units > 65535] = 0
    return units.astype(np.uint16)
