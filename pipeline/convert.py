"""Per-frame conversion of an ICVL tree to crop records: pure functions, used by the Beam job.

``plan_frames`` reads the label files (cheap, in the driver) and assigns splits; ``convert_frame``
turns one frame into serialized records or a rejection reason. Neither needs Beam, so both are
tested on in-memory frames.
"""
from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline import geometry
from pipeline.camera import Intrinsics, uvd_to_xyz, xyz_to_uvd
from pipeline.config import SINGLE_SEQUENCE_VAL_SHARE, DataConfig
from pipeline.errors import DepthImageError
from pipeline.icvl import (decode_depth_png, encode_depth_png, find_label_files, frame_index_of,
                           read_label_file, sequence_of)

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class FrameItem:
    """One labelled frame to convert. ``uvd`` (J, 3) [px, px, mm]; ``image`` is the PNG's full path."""

    image: str
    rel_path: str
    uvd: np.ndarray
    split: str
    sequence: str
    frame: int
    label_file: str = ""
    line: int = 0


@dataclass
class Plan:
    """What the job will do: the frames per split and the label lines rejected up front."""

    frames: list[FrameItem] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    val_sequences: list[str] = field(default_factory=list)
    label_files: list[str] = field(default_factory=list)
    val_from: str = ""  # where 'val' comes from, in words ('' when there is no val split)


_TIMESTAMP = re.compile(r"^\d{10,}$")


def is_prerotated_folder(sequence: str) -> bool:
    """ICVL's training originals live in timestamp folders ('201403121135'); its pre-rotated copies
    live in short-named folders. True for a folder that is not such a timestamp."""
    top = sequence.split("/")[0]
    return not _TIMESTAMP.match(top)


def choose_val_sequences(sequences: list[str], fraction: float) -> list[str]:
    """Deterministic hold-out of whole training sequences: the ceil(fraction * n) sequences whose
    name hashes lowest (at least one when fraction > 0 and there are two or more sequences)."""
    uniq = sorted(set(sequences))
    if fraction <= 0 or len(uniq) < 2:
        return []
    k = min(len(uniq) - 1, max(1, math.ceil(fraction * len(uniq))))
    return sorted(uniq, key=lambda s: hashlib.sha1(s.encode()).hexdigest())[:k]


def tail_val_frames(frames: list["FrameItem"], share: float = SINGLE_SEQUENCE_VAL_SHARE) -> list["FrameItem"]:
    """The contiguous block of frames at the end of one sequence held out as 'val': the last
    ceil(share * n) frames in frame order (at least 1, at most n - 1; none for a single frame)."""
    if len(frames) < 2:
        return []
    k = min(len(frames) - 1, max(1, math.ceil(share * len(frames))))
    return sorted(frames, key=lambda f: (f.frame, f.rel_path))[-k:]


def plan_frames(root: Path, cfg: DataConfig) -> Plan:
    """Read every label file under ``root`` and assign each frame a split.

    'val' holds whole training sequences (``choose_val_sequences``); when the training split has a
    single sequence, so none can be held out whole, the tail of that sequence is 'val' instead
    (``tail_val_frames``), recorded in ``Plan.val_from``. ``cfg.val_fraction`` 0: no 'val'.
    Bad label lines become rejections (not errors) naming the label file, the line and, when the
    line has one, the frame's image path; a root with no label files raises SdnetError.
    """
    plan = Plan()
    train, test = [], []
    for lf in find_label_files(root):
        plan.label_files.append(str(lf.path))
        records, errors = read_label_file(lf.path, strict=False)
        for e in errors:
            plan.rejected.append({"path": str(lf.depth_dir / e.image) if e.image else f"{e.source}:{e.line}",
                                  "split": lf.split_hint, "label_file": e.source, "line": e.line,
                                  "reason": e.reason})
        for r in records:
            seq = sequence_of(r.path)
            if lf.split_hint == "train" and cfg.skip_prerotated and is_prerotated_folder(seq):
                continue
            item = FrameItem(image=str(lf.depth_dir / r.path), rel_path=r.path, uvd=r.uvd,
                             split=lf.split_hint, sequence=seq, frame=frame_index_of(r.path),
                             label_file=str(lf.path), line=r.line)
            (train if lf.split_hint == "train" else test).append(item)
    plan.val_sequences = choose_val_sequences([f.sequence for f in train], cfg.val_fraction)
    val_seqs = set(plan.val_sequences)
    if val_seqs:
        val = {f.rel_path for f in train if f.sequence in val_seqs}
        plan.val_from = f"whole sequences: {', '.join(plan.val_sequences)}"
    elif cfg.val_fraction > 0 and len({f.sequence for f in train}) == 1:
        tail = tail_val_frames(train)
        val = {f.rel_path for f in tail}
        if tail:
            plan.val_from = (f"tail of {tail[0].sequence or '(top folder)'}: its last {len(tail)} of "
                             f"{len(train)} frames, from frame {tail[0].frame}")
    else:
        val = set()
    for f in train:
        plan.frames.append(f if f.rel_path not in val else _with_split(f, "val"))
    plan.frames.extend(test)
    return plan


def _with_split(f: FrameItem, split: str) -> FrameItem:
    return FrameItem(f.image, f.rel_path, f.uvd, split, f.sequence, f.frame, f.label_file, f.line)


def frame_rng(seed: int, rel_path: str) -> np.random.Generator:
    """A generator that depends only on (seed, path): results do not depend on worker scheduling."""
    digest = hashlib.sha1(f"{seed}:{rel_path}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def rotation_angles(split: str, cfg: DataConfig) -> list[float]:
    """In-plane angles (degrees) of the copies made of one frame: K for 'train', else only 0."""
    if split != "train":
        return [0.0]
    return [k * 360.0 / cfg.rotations for k in range(cfg.rotations)]


def check_labels(uvd: np.ndarray, intr: Intrinsics) -> str | None:
    """A reason when labels cannot belong to this image (outside it, or non-positive depth)."""
    u, v, d = uvd[:, 0], uvd[:, 1], uvd[:, 2]
    if np.any(d <= 0):
        return "joint depth <= 0 mm"
    if np.any((u < 0) | (u > intr.width - 1) | (v < 0) | (v > intr.height - 1)):
        return f"joints outside the {intr.width}x{intr.height} image"
    return None


def make_records(depth: np.ndarray, item: FrameItem, cfg: DataConfig,
                 intr: Intrinsics) -> list[dict]:
    """All records (dicts for ``schema.encode_example``) of one decoded frame.

    Raises ``geometry.NoHandError`` when no hand is found, ValueError when a training frame's joints
    lie far outside the cube (the centre missed the hand). Test and val frames are kept whatever the
    centre: their error counts in the evaluation.
    """
    centre = geometry.hand_centre(depth, intr, cfg.cube_mm, cfg.centre)
    xyz = uvd_to_xyz(item.uvd, intr)
    depth_f = geometry.depth_with_inf_background(depth)  # shared by the K crops
    rng = frame_rng(cfg.seed, item.rel_path)
    out = []
    for angle in rotation_angles(item.split, cfg):
        cube, c_xyz = cfg.cube_mm, centre
        if item.split == "train":
            if cfg.scale_jitter > 0:
                cube = cfg.cube_mm * rng.uniform(1 - cfg.scale_jitter, 1 + cfg.scale_jitter)
            if cfg.centre_jitter_mm > 0:
                c_xyz = centre + rng.normal(0.0, cfg.centre_jitter_mm, size=3)
        joints = geometry.normalize_joints(item.uvd, c_xyz, cube, intr, angle)
        extent = np.abs(joints).max()
        if item.split == "train" and extent > cfg.max_joint_extent:
            raise ValueError(f"joints reach {extent:.2f} half-cubes from the hand centre (more than "
                             f"{cfg.max_joint_extent:g}): the centre missed the hand")
        c_uvd = xyz_to_uvd(c_xyz, intr)
        affine = geometry.crop_affine(c_uvd, cube, cfg.crop_size, intr, angle)
        crop = geometry.crop_depth(depth_f, affine, cfg.crop_size, c_xyz[2], cube)
        out.append({
            # zlib level 1: the shards are GZIP-compressed again, more effort buys little.
            "crop_png": encode_depth_png(geometry.quantize_crop(crop), compress_level=1),
            "joints": joints, "uvd": item.uvd, "xyz": xyz, "centre_xyz": c_xyz,
            "cube_mm": cube, "angle_deg": angle, "affine": affine, "crop_size": cfg.crop_size,
            "sequence": item.sequence, "frame": item.frame, "path": item.rel_path,
        })
    return out


def convert_frame(png_bytes: bytes | None, item: FrameItem, cfg: DataConfig,
                  intr: Intrinsics) -> tuple[list[dict], str | None]:
    """Decode and convert one frame: (records, None) or ([], reason). Never raises for bad data."""
    if png_bytes is None:
        return [], "depth image not found"
    reason = check_labels(item.uvd, intr)
    if reason:
        return [], reason
    try:
        depth = decode_depth_png(png_bytes, item.image, (intr.width, intr.height), intr.depth_scale)
        return make_records(depth, item, cfg, intr), None
    except DepthImageError as e:
        return [], str(e).split(": ", 1)[-1]
    except geometry.NoHandError as e:
        return [], f"no hand pixels in the depth band ({e})"
    except ValueError as e:
        return [], str(e)
