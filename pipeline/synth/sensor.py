"""A depth-sensor model: what a short-range depth camera does to an ideal depth map.

Input: ideal depth (H, W) float in mm with inf for background. Output: (H, W) uint16 mm as ICVL
stores it, background = ICVL_BACKGROUND (32001). Effects, in order:
  * ragged silhouettes: edge pixels dropped at random, and "flying pixels" just outside the edge that
    take a neighbour's depth pushed back by a few mm (mixed foreground/background returns);
  * missing pixels: random dropouts, more likely where the surface is seen at a grazing angle;
  * depth noise: Gaussian, growing with depth squared and with the surface slope;
  * quantization to whole millimetres.
All work is confined to the bounding box of the foreground (plus a margin), vectorized.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.icvl import ICVL_BACKGROUND


@dataclass(frozen=True)
class SensorModel:
    """Sensor parameters (depth in mm; probabilities per pixel)."""

    noise_mm_at_300: float = 1.2  # noise std on a surface facing the camera at 300 mm
    slope_noise_gain: float = 0.35  # extra std per unit of surface slope (depth change per footprint)
    dropout: float = 0.004  # random missing pixels on the hand
    grazing_dropout: float = 0.5  # extra drop probability at fully grazing surfaces
    edge_dropout: float = 0.3  # probability to drop a pixel on the silhouette
    flying_pixels: float = 0.15  # probability that a pixel just outside the silhouette is kept
    flying_push_mm: float = 20.0  # max extra depth of a flying pixel

    def __post_init__(self) -> None:
        for name in ("dropout", "grazing_dropout", "edge_dropout", "flying_pixels"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"sensor: {name} must be in [0, 1]")
        if self.noise_mm_at_300 < 0 or self.flying_push_mm < 0 or self.slope_noise_gain < 0:
            raise ValueError("sensor: noise parameters must be >= 0")


IDEAL_SENSOR = SensorModel(noise_mm_at_300=0.0, slope_noise_gain=0.0, dropout=0.0,
                           grazing_dropout=0.0, edge_dropout=0.0, flying_pixels=0.0)


def quantize(depth: np.ndarray) -> np.ndarray:
    """Float depth (H, W) mm, inf/NaN = background -> uint16 mm with background 32001."""
    fg = np.isfinite(depth)
    out = np.full(depth.shape, ICVL_BACKGROUND, dtype=np.uint16)
    out[fg] = np.clip(np.rint(depth[fg]), 1, ICVL_BACKGROUND - 1).astype(np.uint16)
    return out


def _shift(a: np.ndarray, dy: int, dx: int, fill) -> np.ndarray:
    """``a`` moved by (dy, dx) pixels, new pixels set to ``fill``."""
    out = np.full_like(a, fill)
    h, w = a.shape
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        a[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


_NEIGHBOURS = ((0, 1), (0, -1), (1, 0), (-1, 0))


def apply_sensor(depth: np.ndarray, rng: np.random.Generator, model: SensorModel,
                 focal_px: float) -> np.ndarray:
    """Sensor effects on ideal ``depth`` (H, W) mm (inf = background) -> uint16 (H, W) mm.

    ``focal_px`` converts a pixel's footprint to mm (footprint = z / focal) for the slope.
    """
    fg_full = np.isfinite(depth)
    out = np.full(depth.shape, ICVL_BACKGROUND, dtype=np.uint16)
    if not fg_full.any():
        return out
    rows, cols = np.nonzero(fg_full.any(axis=1))[0], np.nonzero(fg_full.any(axis=0))[0]
    v0, v1 = max(rows[0] - 2, 0), min(rows[-1] + 3, depth.shape[0])
    u0, u1 = max(cols[0] - 2, 0), min(cols[-1] + 3, depth.shape[1])
    z = depth[v0:v1, u0:u1].copy()  # (h, w)
    fg = fg_full[v0:v1, u0:u1]
    zf = np.where(fg, z, np.nan)

    # Surface slope: the largest depth step to a foreground 4-neighbour, per pixel footprint.
    step = np.zeros_like(z)
    edge = np.zeros_like(fg)  # foreground pixels with a background 4-neighbour
    outer_depth = np.full_like(z, np.nan)  # background pixels: depth of a foreground neighbour
    for dy, dx in _NEIGHBOURS:
        nb = _shift(zf, dy, dx, np.nan)
        nb_fg = np.isfinite(nb)
        step = np.maximum(step, np.where(fg & nb_fg, np.abs(nb - zf), 0.0))
        edge |= fg & ~nb_fg
        outer_depth = np.where(~fg & nb_fg & ~np.isfinite(outer_depth), nb, outer_depth)
    zsafe = np.where(fg, z, 1.0)
    slope = step / (zsafe / focal_px)  # tan of the incidence angle, roughly

    # Noise, growing with depth^2 and slope; then missing pixels.
    sigma = model.noise_mm_at_300 * (zsafe / 300.0) ** 2 * (1.0 + model.slope_noise_gain * slope)
    noisy = z + sigma * rng.standard_normal(z.shape)
    grazing = np.clip((slope - 1.5) / 4.0, 0.0, 1.0)
    p_drop = model.dropout + model.grazing_dropout * grazing + model.edge_dropout * edge
    keep = fg & (rng.random(z.shape) >= p_drop)

    # Flying pixels just outside the silhouette.
    ring = np.isfinite(outer_depth)
    flying = ring & (rng.random(z.shape) < model.flying_pixels)
    push = rng.random(z.shape) * model.flying_push_mm
    noisy = np.where(flying, outer_depth + push, noisy)
    keep |= flying

    win = np.where(keep, noisy, np.inf)
    out[v0:v1, u0:u1] = quantize(win)
    return out
