"""The HANDS 2017 challenge (BigHand2.2M frames) on-disk format: its facts (layout, camera) and its
pure readers and writers.

Layout::

    ROOT/training/images/image_D%08d.png       16-bit grayscale depth in mm, 640x480, 0 = no depth
    ROOT/training/Training_Annotation.txt      one line per frame: the image's file name, then 63
                                               numbers, the 21 joints x y z (mm)

The joints are in ``pipeline.skeleton.HANDS2017_SKELETON`` order (wrist, the five MCPs, then per
finger PIP-DIP-TIP). The frame number is the file name's %08d (from 1 in the release).

Frames: the annotation's xyz is camera xyz as ``pipeline.camera`` has it (mm, x right, **y down**,
z forward > 0): u = cx + fx x / z, v = cy + fy y / z, d = z (``xyz_to_uvd``, ``uvd_to_xyz``), so
every array here is the file's, unconverted. Image uvd: px, px (v down), mm.

Depth PNGs are read and written by ``pipeline.icvl``'s 16-bit PNG functions (``read_frame``,
``decode_depth``, ``write_hands2017_tree``). ``list_tree`` reads the annotation file and lists the
images (none is opened), returning ``Hands2017Record``s and ``Hands2017Reject``s.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from pipeline import camera as pinhole
from pipeline.camera import Intrinsics
from pipeline.errors import LabelError, SdnetError
from pipeline.fsutil import atomic_write_bytes, atomic_write_text, check_output_dir
from pipeline.icvl import decode_depth_png, encode_depth_png, is_float, read_depth_png
from pipeline.skeleton import HANDS2017_SKELETON

TRAIN_DIR = Path("training")
IMAGES_DIR = TRAIN_DIR / "images"
ANNOTATION_FILE = TRAIN_DIR / "Training_Annotation.txt"
IMAGE_PATTERN = "image_D{index:08d}.png"
_IMAGE_RE = re.compile(r"^image_D(\d{8})\.png$")
NUM_JOINTS = HANDS2017_SKELETON.num_joints  # 21
FIELDS_PER_LINE = 1 + 3 * NUM_JOINTS  # the file name, then 63 numbers
WIDTH, HEIGHT = 640, 480
MAX_DEPTH_MM = (1 << 16) - 1

# The challenge's camera (y down, as pipeline.camera); PNG depth in whole mm.
INTRINSICS = Intrinsics(fx=475.065948, fy=475.065857, cx=315.944855, cy=245.287079, width=WIDTH, height=HEIGHT,
                        depth_scale=1.0)


# ----------------------------------------------------------------------------- geometry

def xyz_to_uvd(xyz: np.ndarray, intr: Intrinsics = INTRINSICS) -> np.ndarray:
    """Camera xyz (..., 3) [mm, y down, z > 0], the annotation's own frame -> image uvd (..., 3)
    [px, px, mm]: u = cx + fx x / z, v = cy + fy y / z, d = z."""
    return pinhole.xyz_to_uvd(xyz, intr)


def uvd_to_xyz(uvd: np.ndarray, intr: Intrinsics = INTRINSICS) -> np.ndarray:
    """Image uvd (..., 3) [px, px, mm] -> camera xyz (..., 3) [mm]; the inverse of ``xyz_to_uvd``."""
    return pinhole.uvd_to_xyz(uvd, intr)


# ----------------------------------------------------------------------------- file names

def image_name(index: int) -> str:
    """'image_D%08d.png' of frame ``index`` (>= 0; the release numbers from 1)."""
    if not 0 <= index <= 99_999_999:
        raise ValueError(f"a HANDS 2017 frame number has 8 digits, got {index}")
    return IMAGE_PATTERN.format(index=index)


def frame_index_of(name: str) -> int | None:
    """The frame number of 'image_D%08d.png', None for any other name."""
    m = _IMAGE_RE.match(name)
    return int(m.group(1)) if m else None


def image_indices(folder: Path) -> set[int]:
    """The frame numbers of the image_D%08d.png files in ``folder`` (empty when it does not exist)."""
    if not Path(folder).is_dir():
        return set()
    with os.scandir(folder) as entries:
        return {int(m.group(1)) for e in entries if (m := _IMAGE_RE.match(e.name)) and e.is_file()}


# ----------------------------------------------------------------------------- the annotation file

@dataclass(frozen=True)
class AnnotationLine:
    """One good annotation line: ``name`` 'image_D%08d.png', ``index`` its frame number, ``xyz``
    (21, 3) float64 camera xyz [mm, y down] in ``HANDS2017_SKELETON`` order; ``source`` the file,
    ``line`` its line number (from 1)."""

    name: str
    index: int
    xyz: np.ndarray
    source: str
    line: int


@dataclass(frozen=True)
class Hands2017Reject:
    """A frame (or, with ``line`` 0, the tree as a whole) left out, and why: the keys of a data job's
    ``rejected.jsonl`` (``to_dict``). ``path``: the frame's image (the annotation file when the line
    names none); ``label_file``: the annotation file; ``line``: its line (from 1)."""

    path: str
    label_file: str
    line: int
    reason: str

    def to_dict(self) -> dict:
        return {"path": self.path, "label_file": self.label_file, "line": self.line, "reason": self.reason}


def parse_annotation_line(text: str) -> tuple[str, np.ndarray | None, str | None]:
    """(first field, xyz (21, 3) float64 camera mm, None) or (first field, None, reason) for one line.
    Reasons: a wrong field count, a file name that is not image_D%08d.png, a non-number, NaN, joints
    behind the camera (z <= 0 mm)."""
    fields = text.split()
    name = fields[0] if fields else ""
    if len(fields) != FIELDS_PER_LINE:
        return name, None, (f"expected {FIELDS_PER_LINE} fields (file name + {NUM_JOINTS} joints x x y z mm), "
                            f"got {len(fields)}")
    if frame_index_of(name) is None:
        return name, None, f"file name {name[:40]!r} is not image_DNNNNNNNN.png"
    try:
        values = [float(x) for x in fields[1:]]
    except ValueError:
        bad = next(x for x in fields[1:] if not is_float(x))
        return name, None, f"non-numeric value {bad!r}"
    if not all(math.isfinite(v) for v in values):
        return name, None, "NaN or infinite value"
    xyz = np.asarray(values, dtype=np.float64).reshape(NUM_JOINTS, 3)
    behind = int(np.sum(xyz[:, 2] <= 0))
    if behind:
        return name, None, f"{behind} joints behind the camera (z <= 0 mm)"
    return name, xyz, None


def read_annotation_file(path: Path) -> tuple[list[AnnotationLine], list[Hands2017Reject]]:
    """Read a Training_Annotation.txt: (good lines in file order, rejected lines).

    Blank lines are skipped. A bad line (``parse_annotation_line``) or a second line for the same
    image is a reject whose reason names the file and line; its ``path`` is the image the line names
    (in ``images/`` beside the file), or the file itself when it names none. LabelError naming the file
    when it is missing, unreadable or holds no line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise LabelError(f"{path}: annotation file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise LabelError(f"{path}: unreadable annotation file ({e})") from None
    images = path.parent / IMAGES_DIR.name
    good, rejects, seen = [], [], {}
    for lineno, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        name, xyz, reason = parse_annotation_line(text)
        if reason is None and name in seen:
            reason = f"a second line for {name} (first: line {seen[name]})"
        if reason:
            where = str(images / name) if frame_index_of(name) is not None else str(path)
            rejects.append(Hands2017Reject(where, str(path), lineno, f"{path}:{lineno}: {reason}"))
            continue
        seen[name] = lineno
        good.append(AnnotationLine(name, frame_index_of(name), xyz, str(path), lineno))
    if not good and not rejects:
        raise LabelError(f"{path}: annotation file is empty")
    return good, rejects


def format_annotation_line(name: str, xyz: np.ndarray) -> str:
    """One annotation line (no newline): ``name``, then the 63 numbers of joints (21, 3) camera xyz
    [mm], tab-separated, each the shortest text that reads back to the same float32."""
    values = np.asarray(xyz, dtype=np.float32).reshape(-1)
    return "\t".join([name, *(np.format_float_positional(v, unique=True, trim="-") for v in values)])


def write_annotation_file(path: Path, names: Sequence[str], xyz: np.ndarray) -> None:
    """Write a Training_Annotation.txt: one line per frame, ``names[i]`` (image_D%08d.png) then the
    joints ``xyz[i]`` (N, 21, 3) camera xyz [mm, y down, z > 0], float32 precision; the inverse of
    ``read_annotation_file``. Written through a temporary file and a rename. ValueError for another
    shape, non-finite values, or a name that is not image_D%08d.png."""
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.ndim != 3 or xyz.shape[1:] != (NUM_JOINTS, 3):
        raise ValueError(f"xyz must be (N, {NUM_JOINTS}, 3), got {xyz.shape}")
    if len(names) != len(xyz):
        raise ValueError(f"{len(names)} file names for {len(xyz)} joint frames")
    if not np.all(np.isfinite(xyz)):
        raise ValueError("xyz must be finite")
    bad = [n for n in names if frame_index_of(n) is None]
    if bad:
        raise ValueError(f"file names must be image_DNNNNNNNN.png, got {bad[0]!r}")
    atomic_write_text(Path(path), "".join(format_annotation_line(n, j) + "\n" for n, j in zip(names, xyz)))


# ----------------------------------------------------------------------------- a tree

@dataclass(frozen=True)
class Hands2017Record:
    """One labelled frame: ``name`` 'image_D%08d.png', ``image`` its full path, ``index`` the frame
    number of the name, ``xyz`` (21, 3) camera xyz [mm, y down] in ``HANDS2017_SKELETON`` order,
    ``uvd`` (21, 3) [px, px, mm], ``label_file`` and ``line`` (from 1) of its annotation."""

    name: str
    image: str
    index: int
    xyz: np.ndarray
    uvd: np.ndarray
    label_file: str
    line: int


@dataclass(frozen=True)
class Hands2017Listing:
    """What a tree holds: the usable ``records`` (annotation order), the ``rejected`` lines (line
    order; line 0 first: images named by no line), the number of non-blank annotation lines
    (``label_frames``) and of image_D*.png files (``image_frames``)."""

    records: tuple[Hands2017Record, ...]
    rejected: tuple[Hands2017Reject, ...]
    label_frames: int
    image_frames: int


def list_tree(root: Path, intr: Intrinsics = INTRINSICS) -> Hands2017Listing:
    """Read ``ROOT/training/Training_Annotation.txt`` and list ``ROOT/training/images`` (no image is
    opened). Each annotation line becomes a record or a rejection: a bad line
    (``read_annotation_file``) or a missing image. Images without a line are one rejection of line 0.
    SdnetError when ``root`` is not a directory; LabelError naming the annotation file when it is
    missing, unreadable or empty."""
    root = Path(root)
    if not root.is_dir():
        raise SdnetError(f"{root}: HANDS 2017 root is not a directory")
    label = root / ANNOTATION_FILE
    lines, rejected = read_annotation_file(label)
    label_frames = len(lines) + len(rejected)
    named = {entry.index for entry in lines} | {frame_index_of(Path(r.path).name) for r in rejected}
    on_disk = image_indices(root / IMAGES_DIR)
    records = []
    for entry in lines:
        image = str(root / IMAGES_DIR / entry.name)
        if entry.index not in on_disk:
            rejected.append(Hands2017Reject(image, str(label), entry.line, "depth image not found"))
            continue
        records.append(Hands2017Record(entry.name, image, entry.index, entry.xyz, xyz_to_uvd(entry.xyz, intr),
                                       str(label), entry.line))
    rejected.sort(key=lambda r: r.line)
    unlabelled = len(on_disk - named)
    if unlabelled:
        rejected.insert(0, Hands2017Reject(str(root / IMAGES_DIR), str(label), 0,
                                           f"{unlabelled} image_D*.png files named by no annotation line"))
    return Hands2017Listing(tuple(records), tuple(rejected), label_frames, len(on_disk))


def decode_depth(data: bytes, where: str, intr: Intrinsics = INTRINSICS) -> np.ndarray:
    """PNG bytes read from ``where`` (named in messages) -> depth (H, W) uint16 mm
    (``pipeline.icvl.decode_depth_png``; DepthImageError for a bad PNG or a size other than
    ``intr.width`` x ``intr.height``)."""
    return decode_depth_png(data, where, (intr.width, intr.height), intr.depth_scale)


def read_frame(record: Hands2017Record, intr: Intrinsics = INTRINSICS) -> np.ndarray:
    """The depth (H, W) uint16 mm of a listed frame; DepthImageError naming its PNG when bad."""
    return read_depth_png(Path(record.image), (intr.width, intr.height), intr.depth_scale)


# ----------------------------------------------------------------------------- writing a tree

def depth_png_bytes(depth_mm: np.ndarray, intr: Intrinsics = INTRINSICS, compress_level: int = 6) -> bytes:
    """16-bit PNG bytes of a depth map (H, W) of whole mm (an integer array, 0..65535; 0 = no depth;
    H x W = ``intr.height`` x ``intr.width``), through ``pipeline.icvl.encode_depth_png``. ValueError
    otherwise."""
    depth = np.asarray(depth_mm)
    if depth.shape != (intr.height, intr.width):
        raise ValueError(f"depth map is {depth.shape}, expected ({intr.height}, {intr.width})")
    if not np.issubdtype(depth.dtype, np.integer):
        raise ValueError(f"depth must hold whole mm (an integer array), got {depth.dtype}")
    if depth.min() < 0 or depth.max() > MAX_DEPTH_MM:
        raise ValueError(f"depth must lie in 0..{MAX_DEPTH_MM} mm, got {depth.min()}..{depth.max()}")
    return encode_depth_png(depth.astype(np.uint16), compress_level)


def write_hands2017_tree(root: Path, depth_frames, xyz: np.ndarray, start_index: int = 1,
                         intr: Intrinsics = INTRINSICS, overwrite: bool = False, compress_level: int = 6) -> Path:
    """Write ``ROOT/training/`` in the HANDS 2017 format; returns that folder.

    ``depth_frames``: N depth maps (H, W) of whole mm (``depth_png_bytes``), written as
    images/image_D%08d.png numbered from ``start_index``; ``xyz`` (N, 21, 3): camera xyz [mm, y down,
    z > 0] in ``HANDS2017_SKELETON`` order, written as Training_Annotation.txt. Every file is written
    through a temporary file and a rename, the images first and the annotation file last (a new tree whose
    writing fails part-way has no annotation file). An existing non-empty ``training/`` is refused
    (SdnetError) unless ``overwrite``; then image_D*.png files not written now are removed.
    ValueError for arrays of the wrong shape or dtype (checked before anything is written) or values."""
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.ndim != 3 or xyz.shape[1:] != (NUM_JOINTS, 3):
        raise ValueError(f"xyz must be (N, {NUM_JOINTS}, 3), got {xyz.shape}")
    if len(depth_frames) != len(xyz):
        raise ValueError(f"{len(depth_frames)} depth maps for {len(xyz)} joint frames")
    for i, depth in enumerate(depth_frames):
        if np.shape(depth) != (intr.height, intr.width) or not np.issubdtype(np.asarray(depth).dtype, np.integer):
            raise ValueError(f"depth map {i} is {np.shape(depth)} {np.asarray(depth).dtype}, expected "
                             f"({intr.height}, {intr.width}) whole mm (an integer array)")
    folder = Path(root) / TRAIN_DIR
    check_output_dir(folder, overwrite)
    images = Path(root) / IMAGES_DIR
    indices = [start_index + i for i in range(len(xyz))]
    names = [image_name(i) for i in indices]  # ValueError before anything is written
    for name, depth in zip(names, depth_frames):
        atomic_write_bytes(images / name, depth_png_bytes(depth, intr, compress_level))
    write_annotation_file(Path(root) / ANNOTATION_FILE, names, xyz)
    for stale in sorted(image_indices(images) - set(indices)):
        (images / image_name(stale)).unlink()
    return folder
