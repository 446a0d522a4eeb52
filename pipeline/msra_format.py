"""The MSRA Hand 2015 on-disk format: its facts (layout, camera, crop cubes, faulty frames) and its
pure readers and writers.

Layout::

    ROOT/P0 .. P8/<gesture>/joint.txt            gestures 1-9, I, IP, L, MP, RP, T, TIP, Y
    ROOT/P0 .. P8/<gesture>/%06d_depth.bin       one per frame, index from 0

``joint.txt``: the first line is the frame count N, then N lines of 63 numbers, the 21 joints
(``pipeline.skeleton.MSRA_SKELETON`` order) x y z in mm of MSRA's file frame.

``%06d_depth.bin``: 6 little-endian int32 (img_width, img_height, left, top, right, bottom; right and
bottom exclusive), then little-endian float32 depth in mm of the box's (bottom - top) x (right - left)
pixels, row-major; the rest of the img_height x img_width (240 x 320) image is 0 (no depth).

Frames of this module's functions:
  * MSRA file xyz: mm, x right, **y up**, **z negative** in front of the camera, as stored in
    joint.txt; MSRA's loaders project it with z' = -z > 0: u = cx + fx x / z', v = cy - fy y / z'
    (``file_xyz_to_uvd``).
  * camera xyz: mm, x right, **y down**, z forward (> 0 in front), the convention of
    ``pipeline.camera`` and of every sdnet stage. The file frame turned by 180 degrees about the x axis:
    (x, y, z)_camera = (x, -y, -z)_file (``file_to_camera``, its own inverse, also ``camera_to_file``).
  * image uvd: as ``pipeline.camera`` (u right, v down, px; d = camera z, mm): ``xyz_to_uvd``,
    ``uvd_to_xyz`` (camera xyz).

Every array this module returns holds camera xyz; only joint.txt holds the file frame.

Reading a tree: ``list_tree`` reads every joint.txt and lists the .bin files (none is opened),
returning ``MsraRecord``s and ``MsraReject``s; ``read_frame`` decodes one frame's depth
(``decode_bin``). ``write_msra_tree`` writes one gesture folder from arrays (``encode_bin``,
``write_joint_file``), every file through a temporary file and a rename.
"""
from __future__ import annotations

import math
import os
import re
import struct
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

import numpy as np

from pipeline import camera as pinhole
from pipeline.camera import Intrinsics
from pipeline.errors import DepthImageError, LabelError, SdnetError
from pipeline.fsutil import atomic_write_bytes, atomic_write_text, check_output_dir
from pipeline.icvl import is_float
from pipeline.skeleton import MSRA_SKELETON

SUBJECTS = tuple(f"P{i}" for i in range(9))
GESTURES = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "I", "IP", "L", "MP", "RP", "T", "TIP", "Y")
LABEL_FILE = "joint.txt"
DEPTH_PATTERN = "{index:06d}_depth.bin"  # index from 0
_DEPTH_RE = re.compile(r"^(\d{6})_depth\.bin$")
NUM_JOINTS = MSRA_SKELETON.num_joints  # 21
VALUES_PER_LINE = 3 * NUM_JOINTS  # 63
WIDTH, HEIGHT = 320, 240
FIRST_FRAME_LINE = 2  # joint.txt line (1-based) of frame 0: line 1 is the count

# The public loaders' camera; depth is float mm (depth_scale 1).
INTRINSICS = Intrinsics(fx=241.42, fy=241.42, cx=160.0, cy=120.0, width=WIDTH, height=HEIGHT, depth_scale=1.0)

# Per-subject crop cube edge (mm) of the public code.
SUBJECT_CUBE_MM = {"P0": 200.0, "P1": 200.0, "P2": 200.0, "P3": 180.0, "P4": 180.0, "P5": 180.0,
                   "P6": 170.0, "P7": 160.0, "P8": 150.0}

# Frames with wrong labels (DeepPrior++'s list): (subject, gesture) -> frame indices (from 0, as in
# the %06d_depth.bin names).
FAULTY_FRAMES: Mapping[tuple[str, str], frozenset[int]] = MappingProxyType({
    ("P2", "TIP"): frozenset(range(172, 175)),
    ("P2", "MP"): frozenset([*range(173, 176), *range(345, 355), 356, 359, 360]),
    ("P3", "T"): frozenset([120, 489]),
    ("P8", "4"): frozenset([168]),
})

# ----------------------------------------------------------------------------- depth .bin

BIN_HEADER = struct.Struct("<6i")  # img_width, img_height, left, top, right, bottom
BIN_HEADER_BYTES = BIN_HEADER.size  # 24
EMPTY_BOX = (0, 0, 0, 0)  # (left, top, right, bottom) of an image without depth: no payload


def depth_box(depth_mm: np.ndarray) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) px, right and bottom exclusive: the tight box of the non-zero pixels
    of a depth map (H, W); ``EMPTY_BOX`` (0, 0, 0, 0) when every pixel is 0."""
    nonzero = np.asarray(depth_mm) != 0
    rows, cols = np.flatnonzero(nonzero.any(axis=1)), np.flatnonzero(nonzero.any(axis=0))
    if rows.size == 0:
        return EMPTY_BOX
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def encode_bin(depth_mm: np.ndarray) -> bytes:
    """The %06d_depth.bin bytes of a depth map (H, W) in mm (float or integer; 0 = no depth): the
    header (W, H and the tight box of the non-zero pixels, ``depth_box``), then the box's depth as
    float32, row-major. An image without depth gets the empty box (0, 0, 0, 0) and no payload (24
    bytes). Float64 depth is rounded to float32. ValueError for a non-2-D or empty array, or depth
    that is negative or not finite."""
    depth = np.asarray(depth_mm)
    if depth.ndim != 2 or depth.size == 0:
        raise ValueError(f"depth must be a non-empty 2-D (H, W) array, got shape {depth.shape}")
    if not (np.issubdtype(depth.dtype, np.integer) or np.issubdtype(depth.dtype, np.floating)):
        raise ValueError(f"depth must be a float or integer array (mm), got {depth.dtype}")
    if not np.all(np.isfinite(depth)):
        raise ValueError("depth must be finite")
    if depth.min() < 0:
        raise ValueError(f"depth must be >= 0 mm, got {depth.min()}")
    left, top, right, bottom = depth_box(depth)
    height, width = depth.shape
    crop = depth[top:bottom, left:right].astype("<f4")
    return BIN_HEADER.pack(width, height, left, top, right, bottom) + crop.tobytes()


def decode_bin(data: bytes, where: str, size: tuple[int, int] | None = (WIDTH, HEIGHT)) -> np.ndarray:
    """%06d_depth.bin bytes read from ``where`` (named in messages) -> depth (img_height, img_width)
    float32 mm, 0 = no depth: the box pasted into a zero image at [top:bottom, left:right]. A box of
    zero width or height (e.g. ``EMPTY_BOX``) carries no payload and gives an all-zero image.

    ``size``: the expected (width, height) px (MSRA's 320x240; None accepts any). DepthImageError,
    one line naming ``where``, for a header shorter than 24 bytes, an image size that is not positive
    or not ``size``, a box outside the image (or inverted), a payload whose length does not match the
    box, or depth that is negative or not finite."""
    if len(data) < BIN_HEADER_BYTES:
        raise DepthImageError(f"{where}: truncated header: {len(data)} bytes, a depth .bin starts with "
                              f"{BIN_HEADER_BYTES} (6 int32: width, height, left, top, right, bottom)")
    width, height, left, top, right, bottom = BIN_HEADER.unpack_from(data)
    if width <= 0 or height <= 0:
        raise DepthImageError(f"{where}: header gives a {width}x{height} image, not a positive size")
    if size is not None and (width, height) != tuple(size):
        raise DepthImageError(f"{where}: header gives a {width}x{height} image, expected {size[0]}x{size[1]}")
    if not (0 <= left <= right <= width and 0 <= top <= bottom <= height):
        raise DepthImageError(f"{where}: box left={left} top={top} right={right} bottom={bottom} lies outside "
                              f"the {width}x{height} image (or is inverted)")
    box_w, box_h = right - left, bottom - top
    payload = len(data) - BIN_HEADER_BYTES
    if payload != 4 * box_w * box_h:
        raise DepthImageError(f"{where}: {payload} bytes of depth after the header, the header's {box_w}x{box_h} "
                              f"px box needs {4 * box_w * box_h} (float32 per pixel): truncated or not a "
                              f"depth .bin")
    crop = np.frombuffer(data, dtype="<f4", offset=BIN_HEADER_BYTES).reshape(box_h, box_w)
    if crop.size and not np.all(np.isfinite(crop)):
        raise DepthImageError(f"{where}: NaN or infinite depth")
    if crop.size and crop.min() < 0:
        raise DepthImageError(f"{where}: negative depth ({float(crop.min()):g} mm)")
    depth = np.zeros((height, width), np.float32)
    depth[top:bottom, left:right] = crop
    return depth


def read_bin(path: Path, size: tuple[int, int] | None = (WIDTH, HEIGHT)) -> np.ndarray:
    """The depth (H, W) float32 mm of a %06d_depth.bin file (``decode_bin``); DepthImageError naming
    the file when it is missing, unreadable or bad."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DepthImageError(f"{path}: depth file not found") from None
    except OSError as e:
        raise DepthImageError(f"{path}: unreadable depth file ({e.strerror or e})") from None
    return decode_bin(data, str(path), size)


def depth_file_name(index: int) -> str:
    """'%06d_depth.bin' of frame ``index`` (from 0)."""
    if index < 0:
        raise ValueError(f"MSRA frame indices start at 0, got {index}")
    return DEPTH_PATTERN.format(index=index)


def depth_indices(folder: Path) -> set[int]:
    """The frame indices of the %06d_depth.bin files in a gesture folder."""
    with os.scandir(folder) as entries:
        return {int(m.group(1)) for e in entries if (m := _DEPTH_RE.match(e.name)) and e.is_file()}


# ----------------------------------------------------------------------------- geometry

def file_to_camera(xyz: np.ndarray) -> np.ndarray:
    """MSRA file xyz (..., 3) [mm, y up, z < 0 in front] <-> camera xyz (..., 3) [mm, y down, z > 0]:
    y and z negated (a half turn about x; its own inverse). A new float64 array."""
    out = np.array(xyz, dtype=np.float64)
    out[..., 1:] = -out[..., 1:]
    return out


camera_to_file = file_to_camera


def xyz_to_uvd(xyz: np.ndarray, intr: Intrinsics = INTRINSICS) -> np.ndarray:
    """Camera xyz (..., 3) [mm, y down, z > 0] -> image uvd (..., 3) [px, px, mm]:
    u = cx + fx x / z, v = cy + fy y / z, d = z."""
    return pinhole.xyz_to_uvd(xyz, intr)


def uvd_to_xyz(uvd: np.ndarray, intr: Intrinsics = INTRINSICS) -> np.ndarray:
    """Image uvd (..., 3) [px, px, mm] -> camera xyz (..., 3) [mm, y down]; the inverse of ``xyz_to_uvd``."""
    return pinhole.uvd_to_xyz(uvd, intr)


def file_xyz_to_uvd(xyz_file: np.ndarray, intr: Intrinsics = INTRINSICS) -> np.ndarray:
    """MSRA file xyz (..., 3) [mm, y up, z < 0] -> image uvd (..., 3) [px, px, mm], MSRA's own
    formula: with z' = -z, u = cx + fx x / z', v = cy - fy y / z', d = z'. Equal to
    ``xyz_to_uvd(file_to_camera(xyz_file))``."""
    xyz = np.asarray(xyz_file, dtype=np.float64)
    z = -xyz[..., 2]
    return np.stack([xyz[..., 0] * intr.fx / z + intr.cx, intr.cy - xyz[..., 1] * intr.fy / z, z], axis=-1)


def behind_camera_reason(xyz: np.ndarray) -> str | None:
    """A reason when joints camera xyz (J, 3) [mm] are not all in front of the camera (z > 0 mm),
    else None."""
    z = np.asarray(xyz, dtype=np.float64)[..., 2]
    behind = int(np.sum(~(z > 0)))
    return f"{behind} joints behind the camera (camera z <= 0 mm, joint.txt z >= 0)" if behind else None


# ----------------------------------------------------------------------------- joint.txt

@dataclass(frozen=True)
class MsraReject:
    """A frame (or, with ``line`` 0 or 1, a gesture folder as a whole) left out, and why: the keys of a
    data job's ``rejected.jsonl`` (``to_dict``). ``path``: the frame's .bin (the label file, or the
    folder, for a whole folder); ``label_file``: its joint.txt; ``line``: the joint.txt line (from 1;
    frame k is line k + 2, the count line 1; 0 for the folder)."""

    path: str
    label_file: str
    line: int
    reason: str

    @property
    def frame(self) -> int:
        """The frame index (from 0) of the rejected line; -1 for a whole-folder reject."""
        return self.line - FIRST_FRAME_LINE if self.line >= FIRST_FRAME_LINE else -1

    def to_dict(self) -> dict:
        return {"path": self.path, "label_file": self.label_file, "line": self.line, "reason": self.reason}


def parse_joint_line(line: str) -> tuple[np.ndarray | None, str | None]:
    """(xyz (21, 3) float64 mm in the file frame, None) or (None, reason) for one joint.txt frame line."""
    fields = line.split()
    if len(fields) != VALUES_PER_LINE:
        return None, f"expected {VALUES_PER_LINE} numbers ({NUM_JOINTS} joints x x y z mm), got {len(fields)}"
    try:
        values = [float(x) for x in fields]
    except ValueError:
        bad = next(x for x in fields if not is_float(x))
        return None, f"non-numeric value {bad!r}"
    if not all(math.isfinite(v) for v in values):
        return None, "NaN or infinite value"
    return np.asarray(values, dtype=np.float64).reshape(NUM_JOINTS, 3), None


def read_joint_file(path: Path) -> tuple[np.ndarray, list[MsraReject]]:
    """Read a joint.txt: (xyz (M, 21, 3) float64 camera xyz [mm, x right, y down, z forward], rejects).

    M is the number of frame lines the file holds (trailing blank lines ignored); row k is frame k
    (line k + 2), converted from the file frame by ``file_to_camera`` (y and z negated, so a joint in
    front of the camera has z > 0). A bad line (not 63 numbers, a non-number, NaN) is a reject naming
    the file and line, and its row is NaN; a count line that disagrees with M is a reject of line 1
    (every present line is still read). No geometric check here (``list_tree`` rejects joints behind
    the camera). LabelError naming the file when it is missing, unreadable, or its first line is not a
    non-negative integer."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise LabelError(f"{path}: joint file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise LabelError(f"{path}: unreadable joint file ({e})") from None
    try:
        count = int(lines[0].strip()) if lines else None
    except ValueError:
        count = None
    if count is None or count < 0:
        first = repr(lines[0][:40]) if lines else "missing (empty file)"
        raise LabelError(f"{path}:1: expected the frame count (a non-negative integer), got {first}")
    frames = lines[1:]
    while frames and not frames[-1].strip():
        frames.pop()
    rejects = []
    if count != len(frames):
        rejects.append(MsraReject(str(path), str(path), 1, f"{path}:1: the count line says {count} frames, "
                                                           f"the file holds {len(frames)} joint lines"))
    xyz = np.full((len(frames), NUM_JOINTS, 3), np.nan)
    for k, line in enumerate(frames):
        joints, reason = parse_joint_line(line)
        if reason:
            lineno = k + FIRST_FRAME_LINE
            rejects.append(MsraReject(str(path), str(path), lineno, f"{path}:{lineno}: {reason}"))
        else:
            xyz[k] = file_to_camera(joints)
    return xyz, rejects


def format_joint_line(xyz_file: np.ndarray) -> str:
    """One joint.txt frame line (no newline) of joints (21, 3) in the file frame [mm]: 63 numbers,
    each the shortest text that reads back to the same float32."""
    values = np.asarray(xyz_file, dtype=np.float32).reshape(-1)
    return " ".join(np.format_float_positional(v, unique=True, trim="-") for v in values)


def write_joint_file(path: Path, xyz: np.ndarray) -> None:
    """Write a joint.txt of joints ``xyz`` (N, 21, 3) camera xyz [mm, y down, z > 0 in front]: the
    count N, then one line per frame in the file frame (``camera_to_file``: y and z negated), float32
    precision. The inverse of ``read_joint_file``; written through a temporary file and a rename.
    ValueError for another shape or non-finite values."""
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.ndim != 3 or xyz.shape[1:] != (NUM_JOINTS, 3):
        raise ValueError(f"xyz must be (N, {NUM_JOINTS}, 3), got {xyz.shape}")
    if not np.all(np.isfinite(xyz)):
        raise ValueError("xyz must be finite")
    lines = [str(len(xyz))] + [format_joint_line(camera_to_file(frame)) for frame in xyz]
    atomic_write_text(Path(path), "\n".join(lines) + "\n")


# ----------------------------------------------------------------------------- a tree

@dataclass(frozen=True)
class MsraRecord:
    """One labelled frame of a tree.

    ``path``: its %06d_depth.bin (full path); ``frame``: its index (from 0; joint.txt line
    frame + 2); ``xyz`` (21, 3): camera xyz [mm, y down, z > 0] in ``MSRA_SKELETON`` order; ``uvd``
    (21, 3): image [px, px, mm]; ``cube_mm``: the subject's crop cube edge (mm); ``faulty``: the frame
    is in ``FAULTY_FRAMES`` (listed only with ``keep_faulty``)."""

    subject: str
    gesture: str
    frame: int
    path: str
    xyz: np.ndarray
    uvd: np.ndarray
    cube_mm: float
    label_file: str
    faulty: bool = False

    @property
    def line(self) -> int:
        """The frame's joint.txt line (from 1)."""
        return self.frame + FIRST_FRAME_LINE


@dataclass(frozen=True)
class MsraListing:
    """What a tree holds: the usable ``records`` (subject, gesture, frame order), the ``rejected``
    frames and folders, the gesture ``folders`` read ((subject, gesture) pairs, ``SUBJECTS`` x
    ``GESTURES`` order: a tree may hold any subset), and the number of joint lines read
    (``label_frames``) and .bin files found (``depth_frames``)."""

    records: tuple[MsraRecord, ...]
    rejected: tuple[MsraReject, ...]
    folders: tuple[tuple[str, str], ...]
    label_frames: int
    depth_frames: int

    @property
    def subjects(self) -> tuple[str, ...]:
        """The subjects with at least one gesture folder read, in ``SUBJECTS`` order."""
        return tuple(s for s in SUBJECTS if any(f[0] == s for f in self.folders))


def gesture_folders(root: Path) -> list[tuple[str, str]]:
    """The (subject, gesture) folders present under ``root``, in ``SUBJECTS`` x ``GESTURES`` order;
    other names are ignored."""
    root = Path(root)
    return [(s, g) for s in SUBJECTS if (root / s).is_dir() for g in GESTURES if (root / s / g).is_dir()]


def list_tree(root: Path, keep_faulty: bool = False, intr: Intrinsics = INTRINSICS,
              faulty: Mapping[tuple[str, str], frozenset[int]] = FAULTY_FRAMES) -> MsraListing:
    """Read every ``ROOT/<subject>/<gesture>/joint.txt`` and list the .bin files (no depth is read).

    Each frame line becomes a record or a rejection: a bad joint line (``read_joint_file``), a frame
    of ``faulty`` (unless ``keep_faulty``: then a record with ``faulty`` True), a missing .bin, or
    joints behind the camera. Folder-level rejections: a gesture folder without joint.txt (line 0), a
    count line that disagrees with the lines (line 1), .bin files numbered beyond the labels (line 0).
    SdnetError when ``root`` is not a directory or holds no gesture folder; LabelError naming the file
    for a joint.txt that cannot be read at all."""
    root = Path(root)
    if not root.is_dir():
        raise SdnetError(f"{root}: MSRA root is not a directory")
    folders = gesture_folders(root)
    if not folders:
        raise SdnetError(f"{root}: no MSRA gesture folders (expected ROOT/P0..P8/<gesture>/ with {LABEL_FILE})")
    records, rejected, read, label_frames, depth_frames = [], [], [], 0, 0
    for subject, gesture in folders:
        folder = root / subject / gesture
        label = folder / LABEL_FILE
        on_disk = depth_indices(folder)
        depth_frames += len(on_disk)
        if not label.is_file():
            rejected.append(MsraReject(str(folder), str(label), 0, f"{label}: not found; gesture folder skipped"))
            continue
        read.append((subject, gesture))
        recs, rejs, n = _list_folder(folder, subject, gesture, on_disk, keep_faulty, intr,
                                     faulty.get((subject, gesture), frozenset()))
        records += recs
        rejected += rejs
        label_frames += n
    return MsraListing(tuple(records), tuple(rejected), tuple(read), label_frames, depth_frames)


def _list_folder(folder: Path, subject: str, gesture: str, on_disk: set[int], keep_faulty: bool,
                 intr: Intrinsics, faulty: frozenset[int]) -> tuple[list[MsraRecord], list[MsraReject], int]:
    """The records, the rejections and the number of joint lines of one gesture folder (``list_tree``)."""
    label = str(folder / LABEL_FILE)
    xyz, line_rejects = read_joint_file(folder / LABEL_FILE)
    bad_lines = {r.line: r for r in line_rejects}
    records, rejected = [], [r for r in line_rejects if r.line < FIRST_FRAME_LINE]
    for frame, joints in enumerate(xyz):
        bin_path = str(folder / depth_file_name(frame))
        line = frame + FIRST_FRAME_LINE
        is_faulty = frame in faulty
        if line in bad_lines:
            rejected.append(replace(bad_lines[line], path=bin_path))
            continue
        reason = ("faulty label (FAULTY_FRAMES)" if is_faulty and not keep_faulty
                  else "depth file not found" if frame not in on_disk
                  else behind_camera_reason(joints))
        if reason:
            rejected.append(MsraReject(bin_path, label, line, reason))
            continue
        records.append(MsraRecord(subject, gesture, frame, bin_path, joints, xyz_to_uvd(joints, intr),
                                  SUBJECT_CUBE_MM[subject], label, is_faulty))
    unlabelled = sorted(i for i in on_disk if i >= len(xyz))
    if unlabelled:
        rejected.append(MsraReject(str(folder), label, 0, f"{len(unlabelled)} depth files without a joint line "
                                                          f"(frames {unlabelled[0]}..{unlabelled[-1]})"))
    return records, rejected, len(xyz)


def read_frame(record: MsraRecord, intr: Intrinsics = INTRINSICS) -> np.ndarray:
    """The depth (H, W) float32 mm of a listed frame; DepthImageError naming its .bin when bad."""
    return read_bin(Path(record.path), (intr.width, intr.height))


# ----------------------------------------------------------------------------- writing a tree

def write_msra_tree(root: Path, subject: str, gesture: str, depth_frames, xyz: np.ndarray,
                    intr: Intrinsics = INTRINSICS, overwrite: bool = False) -> Path:
    """Write one gesture folder, ``ROOT/<subject>/<gesture>/``, in MSRA's format; returns the folder.

    ``depth_frames``: N depth maps (H, W) in mm (float or integer; 0 = no depth; H x W =
    ``intr.height`` x ``intr.width``), written as 000000_depth.bin ... (``encode_bin``: float32, the
    tight box of the non-zero pixels). ``xyz`` (N, 21, 3): camera xyz [mm, y down, z > 0] in
    ``MSRA_SKELETON`` order, written as joint.txt in the file frame (``write_joint_file``).

    Every file is written through a temporary file and a rename, the .bin files first and joint.txt
    last (a new folder whose writing fails part-way has no joint.txt). An existing non-empty folder is
    refused (SdnetError) unless ``overwrite``; then .bin files numbered N and beyond are removed.
    SdnetError for an unknown subject or gesture; ValueError for arrays of the wrong shape (checked
    before anything is written) or values (``encode_bin``)."""
    if subject not in SUBJECTS:
        raise SdnetError(f"MSRA subject must be one of {', '.join(SUBJECTS)}, got {subject!r}")
    if gesture not in GESTURES:
        raise SdnetError(f"MSRA gesture must be one of {', '.join(GESTURES)}, got {gesture!r}")
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.ndim != 3 or xyz.shape[1:] != (NUM_JOINTS, 3):
        raise ValueError(f"xyz must be (N, {NUM_JOINTS}, 3), got {xyz.shape}")
    if len(depth_frames) != len(xyz):
        raise ValueError(f"{len(depth_frames)} depth maps for {len(xyz)} joint frames")
    for index, depth in enumerate(depth_frames):
        if np.shape(depth) != (intr.height, intr.width):
            raise ValueError(f"depth map {index} is {np.shape(depth)}, expected ({intr.height}, {intr.width})")
    folder = Path(root) / subject / gesture
    check_output_dir(folder, overwrite)
    for index, depth in enumerate(depth_frames):
        atomic_write_bytes(folder / depth_file_name(index), encode_bin(depth))
    write_joint_file(folder / LABEL_FILE, xyz)
    for stale in sorted(i for i in depth_indices(folder) if i >= len(xyz)):
        (folder / depth_file_name(stale)).unlink()
    return folder
