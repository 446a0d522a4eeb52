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
    z = depth[v0:v1, u0:u1]  # (h, w)
    fg = fg_full[v0:v1, u0:u1]
    h, w = z.shape
    zp = np.pad(np.where(fg, z, np.nan), 1, constant_values=np.nan)  # (h+2, w+2)
    zf = zp[1:-1, 1:-1]
    neighbours = (zp[1:-1, 2:], zp[1:-1, :-2], zp[2:, 1:-1], zp[:-2, 1:-1])  # views, 4-neighbours

    # Surface slope: the largest depth step to a foreground 4-neighbour, per pixel footprint.
    with np.errstate(invalid="ignore"):
        steps = np.abs(np.stack(neighbours) - zf)  # (4, h, w), NaN where either is background
    step = np.fmax.reduce(steps, axis=0)  # NaN only where no neighbour pair is foreground
    step[np.isnan(step)] = 0.0
    nb_fg = ~np.isnan(np.stack(neighbours))  # (4, h, w)
    edge = fg & ~nb_fg.all(axis=0)  # foreground pixels with a background 4-neighbour
    ring = ~fg & nb_fg.any(axis=0)  # background pixels next to the hand
    zsafe = np.where(fg, z, 1.0)
    slope = step / (zsafe / focal_px)  # tan of the incidence angle, roughly

    # Noise, growing with depth^2 and slope; then missing pixels.
    sigma = model.noise_mm_at_300 * (zsafe / 300.0) ** 2 * (1.0 + model.slope_noise_gain * slope)
    noisy = z + sigma * rng.standard_normal((h, w), dtype=np.float32)
    grazing = np.clip((slope - 1.5) / 4.0, 0.0, 1.0)
    p_drop = model.dropout + model.grazing_dropout * grazing + model.edge_dropout * edge
    uniform = rng.random((3, h, w), dtype=np.float32)
    keep = fg & (uniform[0] >= p_drop)

    # Flying pixels just outside the silhouette: a neighbour's depth, pushed back.
    flying = ring & (uniform[1] < model.flying_pixels)
    if flying.any():
        first = np.argmax(nb_fg, axis=0)  # (h, w) index of a foreground neighbour
        outer = np.take_along_axis(np.stack(neighbours), first[None], axis=0)[0]
        noisy = np.where(flying, outer + uniform[2] * model.flying_push_mm, noisy)
        keep |= flying

    win = np.where(keep, noisy, np.inf)
    out[v0:v1, u0:u1] = quantize(win)
    return out
