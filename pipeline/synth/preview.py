"""A montage of depth frames with the labelled skeleton drawn on them, for a person to look at.

Frames come from the generator (in memory) or from any ICVL tree on disk (synthetic or real).
Each cell is a crop around the hand (or, with ``whole``, the whole frame): depth coloured (near =
dark), background white, bones coloured per finger.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from pipeline.camera import Intrinsics, xyz_to_uvd
from pipeline.icvl import background_mask, find_label_files, read_depth_png, read_label_file
from pipeline.skeleton import ICVL_SKELETON
from pipeline.synth.frames import SPLIT_CODES, is_scene, render_frame_mm, rng_for
from pipeline.synth.poses import GESTURES, sample_frame, sample_subject
from pipeline.synth.scene import SCENE_MOTION, sample_scene
from pipeline.synth.sensor import SensorModel, quantize

_FINGER_COLOURS = ("#e41a1c", "#ff7f00", "#4daf4a", "#377eb8", "#984ea3")


def synthetic_preview_frames(seed: int, n: int, intr: Intrinsics, sensor: SensorModel,
                             scene_fraction: float = 0.0, scene_sensor: SensorModel | None = None,
                             ) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """``n`` independent frames, cycling through the gestures, each of a new subject, a share
    ``scene_fraction`` of them in scenes (seen by ``scene_sensor``, default ``sensor``): (depth
    (H, W) uint16 mm, background 32001, joints uvd (16, 3), title)."""
    code = SPLIT_CODES["preview"]
    out = []
    for i in range(n):
        gesture = GESTURES[i % len(GESTURES)]
        scene = is_scene(i, scene_fraction)
        subject = sample_subject(rng_for(seed, code, i, 0))
        joints = sample_frame(rng_for(seed, code, i, 1), subject, intr, gesture,
                              **({"motion": SCENE_MOTION} if scene else {}))  # (J, 3)
        around = sample_scene(rng_for(seed, code, i, 3), joints, subject.shape, intr) if scene else None
        seen_by = scene_sensor if scene and scene_sensor is not None else sensor
        depth = quantize(render_frame_mm(joints, subject.shape, intr, seen_by, rng_for(seed, code, i, 2), around))
        out.append((depth, xyz_to_uvd(joints, intr), gesture + (" scene" if scene else "")))
    return out


def tree_depth_scale(root: Path) -> float:
    """The depth unit (mm per stored value) of a tree written by ``sdnet synth`` (its synth.json),
    1.0 for any other tree."""
    try:
        return float(json.loads((Path(root) / "synth.json").read_text())["intrinsics"].get("depth_scale", 1.0))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return 1.0


def tree_preview_frames(root: Path, n: int, depth_scale: float | None = None,
                        ) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """``n`` frames spread evenly over the label files of the ICVL tree at ``root``, read with
    ``depth_scale`` mm per stored value (None: the tree's own, ``tree_depth_scale``)."""
    if depth_scale is None:
        depth_scale = tree_depth_scale(root)
    records = []
    for lf in find_label_files(Path(root)):
        recs, _ = read_label_file(lf.path, ICVL_SKELETON.num_joints, strict=False)
        records += [(lf.depth_dir, r) for r in recs]
    if not records:
        return []
    picks = np.linspace(0, len(records) - 1, min(n, len(records))).round().astype(int)
    out = []
    for i in picks:
        depth_dir, rec = records[i]
        out.append((read_depth_png(depth_dir / rec.path, depth_scale=depth_scale), rec.uvd,
                    rec.path.replace("image_", "").removesuffix(".png")))
    return out


def hand_window(uvd: np.ndarray, shape: tuple[int, int], pad: float = 0.35) -> tuple[int, int, int, int]:
    """A square pixel window (u0, u1, v0, v1) around joints uvd (J, 3), padded by ``pad`` of its size."""
    lo, hi = uvd[:, :2].min(0), uvd[:, :2].max(0)
    centre, half = 0.5 * (lo + hi), 0.5 * (hi - lo).max() * (1 + 2 * pad) + 8
    u0, v0 = (centre - half).astype(int)
    u1, v1 = (centre + half).astype(int)
    return max(u0, 0), min(u1, shape[1]), max(v0, 0), min(v1, shape[0])


def plot_frame(ax, depth: np.ndarray, uvd: np.ndarray, title: str = "", whole: bool = False) -> None:
    """Draw one depth frame (H, W) uint16 mm cropped around its joints uvd (J, 3) on ``ax``
    (colours over 160 mm from the nearest pixel); ``whole``: the whole frame (over 800 mm)."""
    u0, u1, v0, v1 = (0, depth.shape[1], 0, depth.shape[0]) if whole else hand_window(uvd, depth.shape)
    crop = depth[v0:v1, u0:u1].astype(np.float64)
    crop[background_mask(depth[v0:v1, u0:u1])] = np.nan
    near = np.nanpercentile(crop, 0.1) if np.isfinite(crop).any() else 0.0
    ax.imshow(crop, cmap="viridis", vmin=near, vmax=near + (800 if whole else 160),
              extent=(u0 - .5, u1 - .5, v1 - .5, v0 - .5), interpolation="nearest")
    for f, chain in enumerate(ICVL_SKELETON.part_chains):
        pts = uvd[list(chain)]
        ax.plot(pts[:, 0], pts[:, 1], "-", color=_FINGER_COLOURS[f], lw=1.2)
        ax.plot(pts[1:, 0], pts[1:, 1], "o", color=_FINGER_COLOURS[f], ms=2.0)
    ax.plot(uvd[0, 0], uvd[0, 1], "o", color="k", ms=2.5)
    ax.set_title(f"{title}  {uvd[0, 2]:.0f} mm", fontsize=7)
    ax.set_xticks([]); ax.set_yticks([])


def montage_png(frames: list[tuple[np.ndarray, np.ndarray, str]], columns: int = 6,
                whole: bool = False) -> bytes:
    """PNG bytes of a montage of (depth, uvd, title) frames (``whole``: whole frames, not crops)."""
    rows = max(1, -(-len(frames) // columns))
    aspect = frames[0][0].shape[1] / frames[0][0].shape[0] if whole and frames else 1.0
    fig = Figure(figsize=(1.7 * aspect * columns, 1.85 * rows))
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (depth, uvd, title) in zip(axes.flat, frames):
        ax.axis("on")
        plot_frame(ax, depth, uvd, title, whole)
    fig.tight_layout(pad=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()
