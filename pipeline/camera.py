"""Pinhole depth-camera intrinsics and uvd <-> xyz conversion.

Frames and units:
  * image uvd: u, v in pixels (u to the right, v down, origin at the top-left pixel centre as in
    ICVL labels), d = depth along the optical axis in mm.
  * camera xyz: mm, x right, y down, z forward (= d):  x = (u - cx) d / fx,  y = (v - cy) d / fy.

Depth unit: a PNG stores depth in sensor units; ``depth_scale`` (mm per unit, 1.0 for ICVL, 0.125
for a RealSense SR300-class camera) converts them to mm once, where the PNG is read
(``pipeline.icvl.decode_depth_png``); every later stage works in mm.

Intrinsics are data (per dataset, recorded in manifests and run configs), never literals inside
geometry functions. A camera can be given as a JSON file (``load_intrinsics_json``).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

from pipeline.errors import SdnetError


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels, the image size in pixels, and the depth unit (mm per stored
    depth value) of the camera's PNGs."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int = 320
    height: int = 240
    depth_scale: float = 1.0

    def __post_init__(self) -> None:
        for name in ("fx", "fy", "width", "height", "depth_scale"):
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
        """From a dict of the fields (``depth_scale`` may be absent: 1.0, as in older manifests)."""
        unknown = set(d) - set(FIELDS)
        if unknown:
            raise ValueError(f"intrinsics: unknown keys {sorted(unknown)} (known: {', '.join(FIELDS)})")
        return cls(**d)

    def mirrored(self) -> "Intrinsics":
        """The camera of the left-right mirrored image (u' = width - 1 - u)."""
        return replace(self, cx=self.width - 1 - self.cx)


FIELDS = tuple(f.name for f in fields(Intrinsics))


# The intrinsics most ICVL loaders use (and the synthetic generator renders with).
ICVL_INTRINSICS = Intrinsics(fx=241.42, fy=241.42, cx=160.0, cy=120.0)
# The intrinsics of the standard ICVL benchmark evaluation (published result files).
ICVL_BENCHMARK_INTRINSICS = Intrinsics(fx=240.99, fy=240.96, cx=160.0, cy=120.0)

# A RealSense SR300-class camera: VGA depth, f of about 476 px, depth in 1/8 mm units.
REALSENSE_INTRINSICS = Intrinsics(fx=476.0, fy=476.0, cx=319.5, cy=239.5, width=640, height=480,
                                  depth_scale=0.125)

CAMERAS = {"icvl": ICVL_INTRINSICS, "icvl-benchmark": ICVL_BENCHMARK_INTRINSICS,
           "realsense": REALSENSE_INTRINSICS}


def load_intrinsics_json(path: Path) -> Intrinsics:
    """A camera from a JSON file ``{"fx", "fy", "cx", "cy", "width", "height"[, "depth_scale"]}``
    (px, px, px, px, px, px, mm per depth unit). SdnetError naming the file for anything else."""
    path = Path(path)
    try:
        d = json.loads(path.read_text())
    except FileNotFoundError:
        raise SdnetError(f"{path}: intrinsics file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SdnetError(f"{path}: not a JSON file ({e})") from None
    if not isinstance(d, dict):
        raise SdnetError(f"{path}: expected a JSON object with {', '.join(FIELDS)}")
    missing = [k for k in ("fx", "fy", "cx", "cy", "width", "height") if k not in d]
    if missing:
        raise SdnetError(f"{path}: missing {', '.join(missing)} (a camera needs {', '.join(FIELDS)}; "
                         f"depth_scale, mm per depth unit, defaults to 1)")
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in d.values()):
        raise SdnetError(f"{path}: every value must be a number")
    if d["width"] != int(d["width"]) or d["height"] != int(d["height"]):
        raise SdnetError(f"{path}: width and height must be whole pixels")
    try:
        intr = Intrinsics.from_dict({**d, "width": int(d["width"]), "height": int(d["height"])})
        return with_overrides(intr)
    except (TypeError, ValueError, SdnetError) as e:
        raise SdnetError(f"{path}: {e}") from None


def with_overrides(intr: Intrinsics, **overrides) -> Intrinsics:
    """``intr`` with the given fields (fx, fy, cx, cy, width, height: px; depth_scale: mm per depth
    unit) replaced; None values are ignored. SdnetError for non-positive focal lengths, sizes or depth
    scale, or a principal point outside the image (one line, for the command-line flags)."""
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
