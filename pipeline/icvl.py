"""The ICVL on-disk format: label files, 16-bit depth PNGs and the tree layout.

Layout::

    ROOT/Training/labels.txt                      <rel path> u1 v1 d1 ... uJ vJ dJ (ICVL: J = 16)
    ROOT/Training/Depth/<folder>/image_NNNN.png   16-bit depth in mm, 320x240
    ROOT/Testing/test_seq_K.txt                   same line format, paths relative to Testing/Depth
    ROOT/Testing/Depth/test_seq_K/image_NNNN.png

Label u, v are pixels, d is mm. Depth pixels equal to 0 or 32001 are background/invalid.

Other cameras store depth in other units (e.g. 0.125 mm): ``decode_depth_png(..., depth_scale=S)``
converts S mm per unit to whole mm once, on reading, so every later stage sees ICVL's convention.
"""
from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from pipeline.errors import DepthImageError, LabelError, SdnetError

BACKGROUND_VALUES = (0, 32001)
ICVL_BACKGROUND = 32001
# No depth camera sees a hand scene whose typical (median) depth lies outside this range (mm): a
# frame that does is read with the wrong depth unit.
SENSIBLE_MEDIAN_MM = (50.0, 10000.0)


def fields_per_line(num_joints: int) -> int:
    """Fields of a label line of a ``num_joints``-joint skeleton: the image path, then J x u v d."""
    return 1 + 3 * int(num_joints)


@dataclass(frozen=True)
class LabelRecord:
    """One label line: ``path`` relative to its Depth folder, ``uvd`` (J, 3) float64 [px, px, mm]."""

    path: str
    uvd: np.ndarray
    source: str = ""
    line: int = 0


class LabelLineError(LabelError):
    """A malformed label line. ``source``: the label file; ``line``: its 1-based line number;
    ``image``: the frame's image path relative to the Depth folder (the line's first field when it
    names a PNG, else ''); ``reason``: what is wrong. The message is ``source:line: reason``."""

    def __init__(self, source: str, line: int, reason: str, image: str = ""):
        super().__init__(f"{source}:{line}: {reason}")
        self.source, self.line, self.reason, self.image = source, line, reason, image


def parse_label_line(line: str, num_joints: int, source: str = "<labels>", lineno: int = 0) -> LabelRecord:
    """Parse one ICVL label line of ``num_joints`` joints (the dataset's skeleton: ICVL's 16); raises
    LabelLineError naming ``source:lineno`` on any problem."""
    fields = line.split()
    image = fields[0] if fields and fields[0].lower().endswith(".png") else ""

    def bad_line(reason: str) -> LabelLineError:
        return LabelLineError(source, lineno, reason, image)

    expected = fields_per_line(num_joints)
    if len(fields) != expected:
        raise bad_line(f"expected {expected} fields (path + {num_joints}x u v d), got {len(fields)}")
    try:
        values = [float(x) for x in fields[1:]]
    except ValueError:
        bad = next(x for x in fields[1:] if not is_float(x))
        raise bad_line(f"non-numeric value {bad!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise bad_line("NaN or infinite value")
    uvd = np.asarray(values, dtype=np.float64).reshape(num_joints, 3)
    return LabelRecord(path=fields[0], uvd=uvd, source=source, line=lineno)


def is_float(text: str) -> bool:
    """True when ``text`` reads as a Python float (label fields of the text label formats)."""
    try:
        float(text)
        return True
    except ValueError:
        return False


def format_label_line(path: str, uvd: np.ndarray) -> str:
    """Format one label line as ICVL does (3 decimals, trailing space), without the newline."""
    uvd = np.asarray(uvd, dtype=np.float64).reshape(-1)
    return path + " " + " ".join(f"{v:.3f}" for v in uvd) + " "


def read_label_file(path: Path, num_joints: int,
                    strict: bool = True) -> tuple[list[LabelRecord], list[LabelLineError]]:
    """Read a label file of ``num_joints`` joints a line (the dataset's skeleton). Blank lines are skipped.

    With ``strict`` the first bad line raises LabelLineError; otherwise bad lines are returned as errors
    (for batch jobs that report rejected items). A missing or empty file always raises SdnetError.
    """
    path = Path(path)
    if not path.is_file():
        raise SdnetError(f"{path}: label file not found")
    records, errors = [], []
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                records.append(parse_label_line(line, num_joints, str(path), lineno))
            except LabelLineError as e:
                if strict:
                    raise
                errors.append(e)
    if not records and not errors:
        raise SdnetError(f"{path}: label file is empty")
    return records, errors


def write_depth_png(path_or_file, depth: np.ndarray, compress_level: int = 6) -> None:
    """Write a (H, W) uint16 depth map in mm as a 16-bit grayscale PNG (deterministic bytes)."""
    depth = np.asarray(depth)
    if depth.dtype != np.uint16 or depth.ndim != 2:
        raise ValueError("depth must be a 2-D uint16 array")
    Image.fromarray(depth).save(path_or_file, format="PNG", compress_level=compress_level)


def encode_depth_png(depth: np.ndarray, compress_level: int = 6) -> bytes:
    """PNG bytes of a (H, W) uint16 array (``compress_level`` 0-9: zlib effort)."""
    buf = io.BytesIO()
    write_depth_png(buf, depth, compress_level)
    return buf.getvalue()


def read_depth_png(path: Path, expect_size: tuple[int, int] | None = None,
                   depth_scale: float = 1.0) -> np.ndarray:
    """Read a 16-bit depth PNG as (H, W) uint16 mm (stored units times ``depth_scale`` mm/unit).

    ``expect_size`` is (width, height). Raises DepthImageError naming the file for a missing,
    truncated or non-PNG file, a bit depth other than 16, a wrong size, or depth values that make no
    sense at the given scale.
    """
    path = Path(path)
    if not path.is_file():
        raise DepthImageError(f"{path}: depth image not found")
    return decode_depth_png(path.read_bytes(), str(path), expect_size, depth_scale)


def decode_depth_png(data: bytes, name: str, expect_size: tuple[int, int] | None = None,
                     depth_scale: float = 1.0) -> np.ndarray:
    """Decode PNG bytes read from ``name`` (used in messages) as (H, W) uint16 depth in mm.

    ``depth_scale``: mm per stored unit; values other than 1.0 go through ``depth_units_to_mm`` and
    ``check_depth_range``."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format != "PNG":
                raise DepthImageError(f"{name}: not a PNG file ({img.format})")
            if img.mode not in ("I;16", "I;16B", "I;16L"):
                raise DepthImageError(
                    f"{name}: expected a 16-bit grayscale depth PNG, got mode {img.mode}")
            img.load()
            depth = np.asarray(img, dtype=np.uint16)
    except DepthImageError:
        raise
    except UnidentifiedImageError:
        raise DepthImageError(f"{name}: not an image file (not a PNG)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise DepthImageError(f"{name}: unreadable PNG ({e})") from None
    if expect_size is not None and (depth.shape[1], depth.shape[0]) != tuple(expect_size):
        raise DepthImageError(
            f"{name}: image is {depth.shape[1]}x{depth.shape[0]}, expected {expect_size[0]}x{expect_size[1]}")
    if depth_scale != 1.0:
        depth = depth_units_to_mm(depth, depth_scale)
    check_depth_range(depth, name, depth_scale)
    return depth


def depth_units_to_mm(raw: np.ndarray, depth_scale: float) -> np.ndarray:
    """Stored depth (H, W) uint16 in units of ``depth_scale`` mm -> (H, W) uint16 whole mm.

    0 stays 0 (no depth); values beyond 32000 mm become 0 too (32001 and up are ICVL's background
    code)."""
    mm = np.rint(raw.astype(np.float64) * depth_scale)
    mm[(raw == 0) | (mm > ICVL_BACKGROUND - 1)] = 0
    return mm.astype(np.uint16)


def check_depth_range(depth: np.ndarray, name: str, depth_scale: float = 1.0) -> None:
    """DepthImageError when the median valid depth (mm) of a frame lies outside
    ``SENSIBLE_MEDIAN_MM``: the depth unit is wrong. Frames without valid pixels pass."""
    valid = depth[~background_mask(depth)]
    if valid.size == 0:
        return
    median = float(np.median(valid))
    lo, hi = SENSIBLE_MEDIAN_MM
    if not lo <= median <= hi:
        raise DepthImageError(
            f"{name}: median depth {median / 1000:.3g} m at {depth_scale:g} mm per depth unit makes no "
            f"sense for a depth camera; give the camera's depth unit with --depth-scale MM_PER_UNIT "
            f"(e.g. 0.125 for 1/8-mm units, 0.1, 1)")


def background_mask(depth: np.ndarray) -> np.ndarray:
    """True where a raw ICVL depth pixel is background or invalid (0 or 32001)."""
    mask = depth == BACKGROUND_VALUES[0]
    for value in BACKGROUND_VALUES[1:]:
        mask |= depth == value
    return mask


# ----------------------------------------------------------------------------- tree layout

TRAIN_LABELS = Path("Training/labels.txt")
TRAIN_DEPTH = Path("Training/Depth")
TEST_DIR = Path("Testing")
TEST_DEPTH = Path("Testing/Depth")
_TEST_LABEL_RE = re.compile(r"^test_seq_(\d+)\.txt$")


@dataclass(frozen=True)
class LabelFile:
    """A label file of an ICVL tree: ``split_hint`` is 'train' or 'test', ``depth_dir`` the folder
    its paths are relative to."""

    path: Path
    depth_dir: Path
    split_hint: str


def find_label_files(root: Path) -> list[LabelFile]:
    """Label files of an ICVL tree, training first, then test sequences in number order.

    Raises SdnetError when the root holds none.
    """
    root = Path(root)
    if not root.is_dir():
        raise SdnetError(f"{root}: ICVL root is not a directory")
    found = []
    if (root / TRAIN_LABELS).exists():
        found.append(LabelFile(root / TRAIN_LABELS, root / TRAIN_DEPTH, "train"))
    tests = []
    if (root / TEST_DIR).is_dir():
        for p in (root / TEST_DIR).iterdir():
            m = _TEST_LABEL_RE.match(p.name)
            if m:
                tests.append((int(m.group(1)), p))
    for _, p in sorted(tests):
        found.append(LabelFile(p, root / TEST_DEPTH, "test"))
    if not found:
        raise SdnetError(
            f"{root}: no ICVL label files (expected {TRAIN_LABELS} or {TEST_DIR}/test_seq_K.txt)")
    return found


def sequence_of(rel_path: str) -> str:
    """The sequence (folder) of a label path, e.g. 'test_seq_1' for 'test_seq_1/image_0000.png'."""
    parts = rel_path.replace("\\", "/").split("/")
    return "/".join(parts[:-1]) if len(parts) > 1 else ""


_TIMESTAMP = re.compile(r"^\d{10,}$")


def is_prerotated_folder(sequence: str) -> bool:
    """ICVL's training originals live in timestamp folders ('201403121135'); its pre-rotated copies
    live in short-named folders. True for a folder that is not such a timestamp."""
    top = sequence.split("/")[0]
    return not _TIMESTAMP.match(top)


def frame_index_of(rel_path: str) -> int:
    """The frame number of 'image_NNNN.png' (-1 when the name carries none)."""
    m = re.search(r"(\d+)\.png$", rel_path)
    return int(m.group(1)) if m else -1
