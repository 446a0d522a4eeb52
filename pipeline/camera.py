"""Pinhole depth-camera intrinsics and uvd <-> xyz conversion.

Frames and units:
  * image uvd: u, v in pixels (u to the right, v down, origin at the top-left pixel centre as in
    ICVL labels), d = depth along the optical axis in mm.
  * camera xyz: mm, x right, y down, z forward (= d):  x = (u - cx) d / fx,  y = (v - cy) d / fy.

Intrinsics are data (per dataset, recorded in manifests and run configs), never literals inside
geometry functions.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels, and the image size in pixels."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int = 320
    height: int = 240

    def __post_init__(self) -> None:
        for name in ("fx", "fy", "width", "height"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"intrinsics: {name} must be a positive number, got {value}")
        for name in ("cx", "cy"):
            if not np.isfinite(getattr(self, name)):
                raise ValueError(f"intrinsics: {name} must be finite")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Intrinsics":
        unknown = set(d) - {"fx", "fy", "cx", "cy", "width", "height"}
        if unknown:
            raise ValueError(f"intrinsics: unknown keys {sorted(unknown)}")
        return cls(**d)


# The intrinsics most ICVL loaders use (and the synthetic generator renders with).
ICVL_INTRINSICS = Intrinsics(fx=241.42, fy=241.42, cx=160.0, cy=120.0)
# The intrinsics of the standard ICVL benchmark evaluation (published result files).
ICVL_BENCHMARK_INTRINSICS = Intrinsics(fx=240.99, fy=240.96, cx=160.0, cy=120.0)

CAMERAS = {"icvl": ICVL_INTRINSICS, "icvl-benchmark": ICVL_BENCHMARK_INTRINSICS}


def with_overrides(intr: Intrinsics, **overrides) -> Intrinsics:
    """``intr`` with the given fields (fx, fy, cx, cy, width, height; px) replaced; None values are
    ignored. SdnetError for non-positive focal lengths or sizes, or a principal point outside the image
    (one line, for command-line flags --fx/--fy/--cx/--cy/--width/--height)."""
    from pipeline.errors import SdnetError

    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        intr = replace(intr, **given)
    except (TypeError, ValueError) as e:
        raise SdnetError(str(e)) from None
    if not (0 <= intr.cx <= intr.width and 0 <= intr.cy <= intr.height):
        raise SdnetError(f"intrinsics: principal point ({intr.cx:g}, {intr.cy:g}) px lies outside the "
                         f"{intr.width}x{intr.height} image (check --cx/--cy and --width/--height)")
    return intr


def uvd_to_xyz(uvd: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """Image uvd (..., 3) [px, px, mm] -> camera xyz (..., 3) [mm]."""
    uvd = np.asarray(uvd, dtype=np.float64)
    d = uvd[..., 2]
    x = (uvd[..., 0] - intr.cx) * d / intr.fx
    y = (uvd[..., 1] - intr.cy) * d / intr.fy
    return np.stack([x, y, d], axis=-1)


def xyz_to_uvd(xyz: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """Camera xyz (..., 3) [mm], z > 0 -> image uvd (..., 3) [px, px, mm]."""
    xyz = np.asarray(xyz, dtype=np.float64)
    z = xyz[..., 2]
    u = xyz[..., 0] * intr.fx / z + intr.cx
    v = xyz[..., 1] * intr.fy / z + intr.cy
    return np.stack([u, v, z], axis=-1)
