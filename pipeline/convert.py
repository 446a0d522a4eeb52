"""Per-frame conversion of a labelled tree (any registered dataset) to crop records: pure functions,
used by the Beam job.

``plan_frames`` reads the tree's labels through its dataset's reader (``Dataset.list_frames``, cheap, in
the driver) and assigns splits; ``convert_frame`` turns one frame into records or a rejection reason,
decoding the PNG with the dataset's ``decode_depth``; the dataset is ``DataConfig.dataset``. Neither
needs Beam, so both are tested on in-memory frames.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline import geometry
from pipeline.camera import Intrinsics, uvd_to_xyz, xyz_to_uvd
from pipeline.config import SINGLE_SEQUENCE_VAL_SHARE, DataConfig
from pipeline.datasets import FrameItem, get_dataset
from pipeline.errors import DepthImageError
from pipeline.icvl import encode_depth_png

# FrameItem is the registry's (a dataset's reader lists them), re-exported for the job and the tests.
__all__ = ["FrameItem", "Plan", "SPLITS", "convert_frame", "make_records", "plan_frames"]

SPLITS = ("train", "val", "test")


@dataclass
class Plan:
    """What the job will do: the frames per split and the label lines rejected up front."""

    frames: list[FrameItem] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    val_sequences: list[str] = field(default_factory=list)
    label_files: list[str] = field(default_factory=list)
    val_from: str = ""  # where 'val' comes from, in words ('' when there is no val split)
    test_cubes_mm: dict[str, float] = field(default_factory=dict)  # the dataset's test cubes, if it fixes them


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


def plan_frames(root: Path, cfg: DataConfig, intr: Intrinsics | None = None) -> Plan:
    """Read the labels of the tree at ``root`` (of the dataset ``cfg.dataset``, through its reader) and
    assign each frame a split.

    'val' holds whole training sequences (``choose_val_sequences``); when the training split has a
    single sequence, so none can be held out whole (NYU's one training recording, a synthetic tree),
    the tail of that sequence is 'val' instead (``tail_val_frames``), recorded in ``Plan.val_from``.
    ``cfg.val_fraction`` 0: no 'val'. The reader assigns 'train' and 'test' (a leave-one-subject-out
    dataset by ``cfg.test_subject``). Bad labels become rejections (not errors) naming the label file,
    the line and, when known, the frame's image path; ``intr``: the camera whose image the labels must
    lie in (None: the dataset's). A root with no label files raises SdnetError.
    """
    plan = Plan()
    dataset = get_dataset(cfg.dataset)
    listing = dataset.list_frames(root, intr or dataset.camera, cfg.skip_prerotated, cfg.test_subject)
    plan.label_files = list(listing.label_files)
    plan.rejected = list(listing.rejected)
    plan.test_cubes_mm = dict(listing.test_cubes_mm)
    train = [f for f in listing.frames if f.split == "train"]
    test = [f for f in listing.frames if f.split != "train"]
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
    return dataclasses.replace(f, split=split)


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


def frame_centre(depth: np.ndarray, cube_mm: float, cfg: DataConfig, intr: Intrinsics, locator=None) -> np.ndarray:
    """The label-free hand centre (3,) camera xyz mm of a raw frame (H, W) uint16 mm: ``cfg.centre``'s
    rule, or with centre method 'learned' the ``locator`` (``pipeline.locator.Locator``) about which
    ``geometry.located_centre`` cuts (the frame's hand as the dataset's images show it). Raises
    NoHandError."""
    if cfg.centre.method != "learned":
        return geometry.hand_centre(depth, intr, cube_mm, cfg.centre)
    if locator is None:
        raise ValueError("centre method learned: no localizer was loaded")
    return geometry.located_centre(locator, depth, intr, get_dataset(cfg.dataset).image_hand, cube_mm, cfg.centre)[0]


def make_records(depth: np.ndarray, item: FrameItem, cfg: DataConfig,
                 intr: Intrinsics, locator=None) -> list[dict]:
    """All records (dicts for ``schema.encode_example``) of one decoded frame.

    The crop cube is the frame's own (``item.cube_mm``: a test subject's, when the dataset fixes it)
    or else the experiment's ``cfg.cube_mm`` (mm). Raises ``geometry.NoHandError`` when no hand is
    found, ValueError when a training frame's joints lie far outside the cube (the centre missed the
    hand). Test and val frames are kept whatever the centre: their error counts in the evaluation.
    ``locator``: the learned localizer of centre method 'learned' (``frame_centre``).
    """
    nominal = item.cube_mm or cfg.cube_mm
    centre = frame_centre(depth, nominal, cfg, intr, locator)
    xyz = uvd_to_xyz(item.uvd, intr)
    depth_f = geometry.depth_with_inf_background(depth)  # shared by the K crops
    rng = frame_rng(cfg.seed, item.rel_path)
    out = []
    for angle in rotation_angles(item.split, cfg):
        cube, c_xyz = nominal, centre
        if item.split == "train":
            if cfg.scale_jitter > 0:
                cube = nominal * rng.uniform(1 - cfg.scale_jitter, 1 + cfg.scale_jitter)
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
                  intr: Intrinsics, locator=None) -> tuple[list[dict], str | None]:
    """Decode (``cfg.dataset``'s ``decode_depth``) and convert one frame: (records, None) or ([], reason).
    ``locator``: for centre method 'learned' (``frame_centre``). Never raises for bad data."""
    if png_bytes is None:
        return [], "depth image not found"
    reason = check_labels(item.uvd, intr)
    if reason:
        return [], reason
    try:
        depth = get_dataset(cfg.dataset).decode_depth(png_bytes, item.image, intr)
        return make_records(depth, item, cfg, intr, locator), None
    except DepthImageError as e:
        return [], str(e).split(": ", 1)[-1]
    except geometry.LowConfidence as e:
        return [], f"no hand: {e}"
    except geometry.NoHandError as e:
        return [], f"no hand pixels in the depth band ({e})"
    except ValueError as e:
        return [], str(e)
