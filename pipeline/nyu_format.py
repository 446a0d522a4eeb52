"""The NYU Hand on-disk format: its facts (layout, camera, label file, evaluation joints) and its
pure readers and writers.

Layout::

    ROOT/train/depth_<cam>_<%07d>.png   cameras 1-3, index from 1; 640x480, 8-bit RGB:
                                        depth mm = (G << 8) | B, R unused, 0 = no depth
    ROOT/train/joint_data.mat           'joint_uvd', 'joint_xyz': (3 cameras, N, 36, 3)
    ROOT/test/...                       the same

``joint_uvd``: u, v pixels, d mm. ``joint_xyz``: mm with y pointing up, so v = cy - fy * y / z
(``pipeline.camera`` uses y down: flip y when converting). Everyone uses camera 1 (index 0) and
evaluates (and trains on) the 14 joints ``EVAL_JOINT_IDS`` of the 36, in that order.

Frames of this module's functions:
  * image uvd: as ``pipeline.camera`` (u right, v down, px; d mm along the optical axis);
  * NYU xyz: mm, x right, **y up**, z forward, as stored in ``joint_xyz`` (``xyz_to_uvd``,
    ``uvd_to_xyz``);
  * camera xyz: mm, x right, **y down**, z forward, the convention of ``pipeline.camera`` and the
    rest of sdnet (``eval_joints_camera_xyz``).

Reading a split mirrors ``pipeline.icvl`` + ``pipeline.convert`` for ICVL: ``list_split`` reads the
labels and lists the PNGs (cheap, in a driver), returning ``NyuRecord``s and ``NyuReject``s;
``frame_depth`` decodes one frame's PNG bytes into depth or a rejection reason (on a worker);
``read_split`` does both for a whole split. ``write_nyu_tree`` writes a split from arrays, through
``write_depth_frame`` (one frame's PNGs) and ``write_split_labels`` (joint_data.mat), which a job
that makes frames one at a time (``sdnet synth --dataset nyu``) calls itself.
"""
from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image, UnidentifiedImageError

from pipeline import camera as pinhole
from pipeline.camera import Intrinsics
from pipeline.errors import DepthImageError, LabelError, SdnetError
from pipeline.fsutil import atomic_output_dir, atomic_write_bytes
from pipeline.skeleton import NYU_EVAL_JOINT_NAMES

SPLITS = ("train", "test")
CAMERAS = (1, 2, 3)
DEPTH_PATTERN = "depth_{cam}_{index:07d}.png"  # index from 1
LABEL_FILE = "joint_data.mat"
LABEL_KEYS = ("joint_uvd", "joint_xyz")
NUM_LABEL_JOINTS = 36
WIDTH, HEIGHT = 640, 480
FRAMES = {"train": 72757, "test": 8252}

# The public loaders' camera (y down, as pipeline.camera): mm per unit 1.
INTRINSICS = Intrinsics(fx=588.036865, fy=587.075073, cx=320.0, cy=240.0, width=WIDTH, height=HEIGHT,
                        depth_scale=1.0)
# The evaluation kit converts its uvd label and result files to xyz with these (fy < 0 only flips y).
KIT_INTRINSICS = (588.03, -587.07, 320.0, 240.0)  # fx, fy, cx, cy

# The 14 evaluated joints: indices into the 36, in the kit's order (also the kit label file's order).
EVAL_JOINT_IDS = (0, 3, 6, 9, 12, 15, 18, 21, 24, 25, 27, 30, 31, 32)
EVAL_JOINT_NAMES = NYU_EVAL_JOINT_NAMES

# Test subjects: test frames [start, stop) (0-based, label order) and the public loaders' cube (mm).
TEST_SUBJECTS = (("subject_1", 0, 2440, 300.0), ("subject_2", 2440, 8252, 250.0))
# Every training frame is of subject 1 (issue 23: subject 1 in train and test, subject 2 in test only).
TRAIN_SUBJECT = "subject_1"

# The 36 label joints as the release's joint_data.mat names them ('joint_names'): six points per
# finger, F1 (pinky), F2 (ring), F3 (middle), F4 (index), TH (thumb), knuckle 3 (distal) to 1
# (proximal), points A and B of each; then six palm points. EVAL_JOINT_IDS picks F*_KNU3_A (tips),
# F1-F4_KNU2_B (mids), TH_KNU3_B (thumb mid), TH_KNU2_B (thumb root), PALM_1, PALM_2 (wrist), PALM_3.
LABEL_FINGERS = ("F1", "F2", "F3", "F4", "TH")
LABEL_JOINT_NAMES = (tuple(f"{f}_KNU{k}_{ab}" for f in LABEL_FINGERS for k in (3, 2, 1) for ab in "AB")
                     + tuple(f"PALM_{i}" for i in range(1, 7)))
LABEL_NAMES_KEY = "joint_names"
# The descriptive text that opens a MATLAB v5 file (116 bytes, space-padded), as this module writes it.
MAT_HEADER = b"MATLAB 5.0 MAT-file, Platform: posix, written by sdnet (pipeline.nyu_format)"
_MAT_TEXT_BYTES = 116

# ----------------------------------------------------------------------------- depth PNGs

MAX_DEPTH_MM = (1 << 16) - 1  # the largest depth G and B can hold (mm)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPES = {0: "grayscale", 2: "RGB", 3: "palette", 4: "grayscale+alpha", 6: "RGBA"}


def _decode_rgb_depth(data: bytes, size: tuple[int, int] | None) -> tuple[np.ndarray | None, str | None]:
    """(depth (H, W) uint16 mm, None) or (None, reason) for NYU PNG bytes; ``size`` is (width,
    height) px, None for any."""
    if not data.startswith(_PNG_SIGNATURE):
        return None, "not a PNG file"
    if len(data) < 33 or data[12:16] != b"IHDR":
        return None, "unreadable PNG (truncated header)"
    bit_depth, colour = data[24], data[25]
    if (bit_depth, colour) != (8, 2):
        return None, (f"expected an 8-bit RGB depth PNG (NYU: mm = (G << 8) | B), got a {bit_depth}-bit "
                      f"{_COLOUR_TYPES.get(colour, f'colour type {colour}')} PNG")
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            rgb = np.asarray(img, dtype=np.uint8)  # (H, W, 3)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        return None, f"unreadable PNG ({e})"
    if size is not None and (rgb.shape[1], rgb.shape[0]) != tuple(size):
        return None, f"image is {rgb.shape[1]}x{rgb.shape[0]}, expected {size[0]}x{size[1]}"
    depth = (rgb[..., 1].astype(np.uint16) << 8) | rgb[..., 2]  # R unused
    return depth, None


def decode_depth_png(data: bytes, where: str, size: tuple[int, int] | None = (WIDTH, HEIGHT)) -> np.ndarray:
    """NYU depth PNG bytes read from ``where`` (named in messages) -> (H, W) uint16 depth in mm
    (0 = no depth): mm = (G << 8) | B of the 8-bit RGB pixels, R ignored.

    ``size``: the expected (width, height) px (NYU's 640x480; None accepts any). DepthImageError,
    one line naming ``where``, for bytes that are not a PNG, a truncated file, a PNG that is not
    8-bit RGB, or a wrong size."""
    depth, reason = _decode_rgb_depth(data, size)
    if reason:
        raise DepthImageError(f"{where}: {reason}")
    return depth


def encode_depth_png(depth_mm: np.ndarray, compress_level: int = 6) -> bytes:
    """PNG bytes (8-bit RGB, NYU's encoding) of a (H, W) integer depth map in mm, 0 = no depth:
    G = mm >> 8, B = mm & 255, R = 0. Lossless for 0..65535 mm (``decode_depth_png`` is its
    inverse); deterministic bytes. ValueError for another shape, a non-integer dtype or a value out
    of range."""
    depth = np.asarray(depth_mm)
    if depth.ndim != 2 or depth.size == 0:
        raise ValueError(f"depth must be a non-empty 2-D array, got shape {depth.shape}")
    if not np.issubdtype(depth.dtype, np.integer):
        raise ValueError(f"depth must hold whole mm (an integer array), got {depth.dtype}")
    if depth.min() < 0 or depth.max() > MAX_DEPTH_MM:
        raise ValueError(f"depth must lie in 0..{MAX_DEPTH_MM} mm, got {depth.min()}..{depth.max()}")
    mm = depth.astype(np.uint16)
    rgb = np.zeros(mm.shape + (3,), np.uint8)  # (H, W, 3)
    rgb[..., 1] = mm >> 8
    rgb[..., 2] = mm & 0xFF
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def read_depth_png(path: Path, size: tuple[int, int] | None = (WIDTH, HEIGHT)) -> np.ndarray:
    """An NYU depth PNG file as (H, W) uint16 mm (``decode_depth_png``); DepthImageError naming
    the file when it is missing or bad."""
    path = Path(path)
    if not path.is_file():
        raise DepthImageError(f"{path}: depth image not found")
    return decode_depth_png(path.read_bytes(), str(path), size)


def frame_depth(data: bytes | None, size: tuple[int, int] | None = (WIDTH, HEIGHT)
                ) -> tuple[np.ndarray | None, str | None]:
    """One frame's PNG bytes (None: the file could not be read) -> (depth (H, W) uint16 mm, None)
    or (None, reason): the per-frame step of a batch job, which reports rejections instead of
    raising (as ``pipeline.convert.convert_frame`` for ICVL)."""
    if data is None:
        return None, "depth image not found"
    return _decode_rgb_depth(data, size)


# ----------------------------------------------------------------------------- joint_data.mat

def _camera_index(camera: int) -> int:
    if camera not in CAMERAS:
        raise SdnetError(f"NYU camera must be one of {', '.join(map(str, CAMERAS))}, got {camera}")
    return CAMERAS.index(camera)


def read_label_arrays(path: Path) -> dict[str, np.ndarray]:
    """``joint_uvd`` and ``joint_xyz`` of a joint_data.mat, each (3 cameras, N, 36, 3) float64
    (uvd: px, px, mm; xyz: mm, y up). LabelError, one line naming the file, for a missing or
    unreadable file, a missing key, a wrong shape or different frame counts."""
    path = Path(path)
    if not path.is_file():
        raise LabelError(f"{path}: label file not found")
    try:
        mat = scipy.io.loadmat(str(path), variable_names=list(LABEL_KEYS))
    except NotImplementedError:  # scipy's answer to a MATLAB v7.3 (HDF5) file
        raise LabelError(f"{path}: a MATLAB v7.3 (HDF5) file; NYU's {LABEL_FILE} is a v5 MAT file") from None
    except (OSError, ValueError, TypeError, scipy.io.matlab.MatReadError) as e:
        raise LabelError(f"{path}: not a readable MAT file ({e})") from None
    out = {}
    expected = f"({len(CAMERAS)}, N, {NUM_LABEL_JOINTS}, 3)"
    for key in LABEL_KEYS:
        if key not in mat:
            raise LabelError(f"{path}: no '{key}' (NYU's {LABEL_FILE} holds {' and '.join(LABEL_KEYS)})")
        a = mat[key]
        if not np.issubdtype(a.dtype, np.number) or a.ndim != 4 or a.shape[0] != len(CAMERAS) \
                or a.shape[2:] != (NUM_LABEL_JOINTS, 3):
            raise LabelError(f"{path}: '{key}' is {a.dtype} of shape {a.shape}, expected numbers of shape {expected}")
        out[key] = a.astype(np.float64)
    n_uvd, n_xyz = out["joint_uvd"].shape[1], out["joint_xyz"].shape[1]
    if n_uvd != n_xyz:
        raise LabelError(f"{path}: 'joint_uvd' holds {n_uvd} frames, 'joint_xyz' {n_xyz}")
    return out


def read_joint_data(path: Path, camera: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(uvd, xyz) of ``camera`` (1-3) from a joint_data.mat: each (N, 36, 3) float64 in label order;
    uvd [px, px, mm], xyz [mm] NYU's frame (y up). LabelError naming the file (``read_label_arrays``)."""
    c = _camera_index(camera)
    arrays = read_label_arrays(path)
    return arrays["joint_uvd"][c], arrays["joint_xyz"][c]


def _per_camera(a: np.ndarray, name: str) -> np.ndarray:
    """(N, 36, 3) -> (3, N, 36, 3) copies; (3, N, 36, 3) as is."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 3:
        a = np.broadcast_to(a, (len(CAMERAS),) + a.shape)
    if a.ndim != 4 or a.shape[0] != len(CAMERAS) or a.shape[2:] != (NUM_LABEL_JOINTS, 3):
        raise ValueError(f"{name} must be (N, {NUM_LABEL_JOINTS}, 3) or ({len(CAMERAS)}, N, "
                         f"{NUM_LABEL_JOINTS}, 3), got {a.shape}")
    return np.ascontiguousarray(a)


def write_joint_data(path: Path, uvd: np.ndarray, xyz: np.ndarray) -> None:
    """Write a joint_data.mat (MATLAB v5, scipy.io.savemat) in NYU's layout: ``joint_uvd`` and
    ``joint_xyz`` (3 cameras, N, 36, 3) float64 and ``joint_names`` (the 36 ``LABEL_JOINT_NAMES``).

    ``uvd`` [px, px, mm] and ``xyz`` [mm, NYU's frame: y up] are (N, 36, 3), written as the labels
    of all three cameras (cameras 2 and 3 are then copies of camera 1, not other viewpoints), or
    (3, N, 36, 3), one block per camera. Written through a temporary file and a rename; the same
    arrays give the same bytes (the header's text is fixed, ``MAT_HEADER``, not scipy's creation time)."""
    uvd3, xyz3 = _per_camera(uvd, "uvd"), _per_camera(xyz, "xyz")
    if uvd3.shape != xyz3.shape:
        raise ValueError(f"uvd {uvd3.shape} and xyz {xyz3.shape} differ in shape")
    names = np.empty((1, NUM_LABEL_JOINTS), dtype=object)
    names[0, :] = LABEL_JOINT_NAMES
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"joint_uvd": uvd3, "joint_xyz": xyz3, LABEL_NAMES_KEY: names}, format="5")
    data = bytearray(buf.getvalue())
    data[:_MAT_TEXT_BYTES] = MAT_HEADER.ljust(_MAT_TEXT_BYTES)
    atomic_write_bytes(Path(path), bytes(data))


# ----------------------------------------------------------------------------- geometry

def flip_y(xyz: np.ndarray) -> np.ndarray:
    """NYU xyz (..., 3) [mm, y up] <-> camera xyz (..., 3) [mm, y down]: y negated (its own inverse)."""
    out = np.array(xyz, dtype=np.float64)
    out[..., 1] = -out[..., 1]
    return out


def xyz_to_uvd(xyz: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """NYU xyz (..., 3) [mm, x right, y up, z forward > 0] -> image uvd (..., 3) [px, px, mm]:
    u = cx + fx x / z, v = cy - fy y / z, d = z (``intr``: fx, fy > 0, as ``INTRINSICS``)."""
    return pinhole.xyz_to_uvd(flip_y(xyz), intr)


def uvd_to_xyz(uvd: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """Image uvd (..., 3) [px, px (v down), mm] -> NYU xyz (..., 3) [mm, y up]:
    x = (u - cx) d / fx, y = (cy - v) d / fy, z = d. The inverse of ``xyz_to_uvd``."""
    return flip_y(pinhole.uvd_to_xyz(uvd, intr))


def eval_joints(joints: np.ndarray) -> np.ndarray:
    """The 14 evaluated joints (..., 14, K) of per-joint values (..., 36, K), in ``EVAL_JOINT_IDS``
    order (``EVAL_JOINT_NAMES``: the kit's order). Any frame: uvd stays uvd, xyz stays xyz."""
    joints = np.asarray(joints)
    if joints.ndim < 2 or joints.shape[-2] != NUM_LABEL_JOINTS:
        raise ValueError(f"expected (..., {NUM_LABEL_JOINTS}, K) joints, got shape {joints.shape}")
    return joints[..., list(EVAL_JOINT_IDS), :]


def eval_joints_camera_xyz(joint_xyz: np.ndarray) -> np.ndarray:
    """NYU ``joint_xyz`` (..., 36, 3) [mm, y up] -> the 14 evaluated joints (..., 14, 3) in camera
    xyz [mm, x right, y DOWN, z forward], the frame of ``pipeline.camera`` and of every sdnet stage
    (so ``pipeline.camera.xyz_to_uvd(out, INTRINSICS)`` gives their uvd)."""
    return flip_y(eval_joints(joint_xyz))


def check_joints(uvd: np.ndarray, width: int, height: int) -> str | None:
    """A reason when joints uvd (J, 3) [px, px, mm] cannot belong to a ``width`` x ``height`` px
    image (non-finite, depth <= 0 mm, or outside it), else None."""
    uvd = np.asarray(uvd, dtype=np.float64)
    if not np.all(np.isfinite(uvd)):
        return "NaN or infinite joint value"
    u, v, d = uvd[:, 0], uvd[:, 1], uvd[:, 2]
    if np.any(d <= 0):
        return "joint depth <= 0 mm"
    outside = (u < 0) | (u > width - 1) | (v < 0) | (v > height - 1)
    if np.any(outside):
        return f"{int(outside.sum())} joints outside the {width}x{height} image"
    return None


# ----------------------------------------------------------------------------- a split

@dataclass(frozen=True)
class NyuRecord:
    """One labelled frame of a split.

    ``path``: the PNG's name relative to the split folder ('depth_1_0000001.png'); ``image``: its
    full path; ``uvd`` (14, 3) [px, px, mm]: the evaluated joints in ``EVAL_JOINT_IDS`` order;
    ``index``: the frame number (from 1, the PNG's %07d; its label row is index - 1);
    ``subject``: 'subject_1' or 'subject_2' ('' outside the given subject ranges); ``source``:
    the label file."""

    path: str
    image: str
    uvd: np.ndarray
    split: str
    index: int
    subject: str
    source: str

    @property
    def row(self) -> int:
        """The frame's 0-based row in joint_data.mat (and in the kit's label file for 'test')."""
        return self.index - 1


@dataclass(frozen=True)
class NyuReject:
    """A frame (or, with ``line`` 0, the split as a whole) left out, and why: the keys of the data
    job's ``rejected.jsonl`` (``to_dict``). ``path``: the PNG, or the label file for the split;
    ``line``: the frame number (from 1)."""

    path: str
    split: str
    label_file: str
    line: int
    reason: str

    def to_dict(self) -> dict:
        return {"path": self.path, "split": self.split, "label_file": self.label_file,
                "line": self.line, "reason": self.reason}


@dataclass(frozen=True)
class SplitListing:
    """What a split holds: its usable ``records`` (frame order), the ``rejected`` frames (by line),
    the number of labelled frames of the camera (``label_frames``) and of its PNGs (``image_frames``)."""

    records: tuple[NyuRecord, ...]
    rejected: tuple[NyuReject, ...]
    label_frames: int
    image_frames: int


def depth_file_name(index: int, camera: int = 1) -> str:
    """'depth_<camera>_<%07d>.png' of frame ``index`` (from 1)."""
    if index < 1:
        raise ValueError(f"NYU frame numbers start at 1, got {index}")
    return DEPTH_PATTERN.format(cam=camera, index=index)


def depth_indices(folder: Path, camera: int = 1) -> set[int]:
    """The frame numbers of the depth_<camera>_%07d.png files in ``folder``."""
    pattern = re.compile(rf"^depth_{camera}_(\d{{7}})\.png$")
    with os.scandir(folder) as entries:
        return {int(m.group(1)) for e in entries if (m := pattern.match(e.name)) and e.is_file()}


def subject_of(split: str, row: int, subjects=TEST_SUBJECTS) -> str:
    """The subject of label row ``row`` (0-based) of ``split``: every 'train' frame is
    ``TRAIN_SUBJECT``; 'test' frames by the ``subjects`` ranges ((name, start, stop, cube) rows,
    NYU's own by default); '' for a row in none."""
    if split == "train":
        return TRAIN_SUBJECT
    return next((name for name, start, stop, _ in subjects if start <= row < stop), "")


def list_split(root: Path, split: str, camera: int = 1, intr: Intrinsics = INTRINSICS,
               subjects=TEST_SUBJECTS) -> SplitListing:
    """Read ``ROOT/<split>/joint_data.mat`` and list the split's depth PNGs (no image is opened):
    the cheap first step of a job, as ``pipeline.convert.plan_frames`` for ICVL.

    Frames are the label rows of ``camera``; each becomes a record (the 14 evaluated joints' uvd)
    or a rejection: 'depth image not found' (no PNG), a NaN joint, a joint depth <= 0 or joints
    outside the ``intr.width`` x ``intr.height`` image. When the labels and the PNGs disagree
    (labels without a PNG, or PNGs numbered beyond the labels), one rejection of line 0 names the
    label file and both counts; the split is still read. SdnetError for an unknown split, a missing
    folder; LabelError for a missing or malformed label file (nothing can be read without it)."""
    if split not in SPLITS:
        raise SdnetError(f"NYU split must be one of {', '.join(SPLITS)}, got {split!r}")
    folder = Path(root) / split
    if not folder.is_dir():
        raise SdnetError(f"{folder}: NYU split folder not found (expected ROOT/{split}/ with {LABEL_FILE})")
    label = folder / LABEL_FILE
    uvd36, _ = read_joint_data(label, camera)  # (N, 36, 3)
    uvd14 = eval_joints(uvd36)  # (N, 14, 3)
    n = len(uvd14)
    on_disk = depth_indices(folder, camera)
    rejected = []
    missing = n - len(on_disk & set(range(1, n + 1)))
    unlabelled = len({i for i in on_disk if i > n})
    if missing or unlabelled:
        rejected.append(NyuReject(
            str(label), split, str(label), 0,
            f"label count mismatch: {LABEL_FILE} holds {n} frames of camera {camera}, the folder "
            f"{len(on_disk)} depth_{camera}_*.png files ({missing} labels without a PNG, "
            f"{unlabelled} PNGs without a label)"))
    records = []
    for row in range(n):
        index = row + 1
        name = depth_file_name(index, camera)
        image = str(folder / name)
        reason = ("depth image not found" if index not in on_disk
                  else check_joints(uvd14[row], intr.width, intr.height))
        if reason:
            rejected.append(NyuReject(image, split, str(label), index, reason))
            continue
        records.append(NyuRecord(name, image, uvd14[row], split, index,
                                 subject_of(split, row, subjects), str(label)))
    return SplitListing(tuple(records), tuple(rejected), n, len(on_disk))


def read_frame(record: NyuRecord, intr: Intrinsics = INTRINSICS) -> np.ndarray:
    """The depth (H, W) uint16 mm of a listed frame; DepthImageError naming its PNG when bad."""
    return read_depth_png(Path(record.image), (intr.width, intr.height))


def read_split(root: Path, split: str, camera: int = 1, intr: Intrinsics = INTRINSICS,
               subjects=TEST_SUBJECTS) -> SplitListing:
    """``list_split``, then every listed PNG decoded once (the whole split is read: a check of a
    tree, not a loader): a frame whose PNG is unreadable, truncated, not 8-bit RGB or not
    ``intr.width`` x ``intr.height`` moves to the rejections with the reason."""
    listing = list_split(root, split, camera, intr, subjects)
    records, rejected = [], list(listing.rejected)
    for rec in listing.records:
        _, reason = frame_depth(_read_bytes(Path(rec.image)), (intr.width, intr.height))
        if reason:
            rejected.append(NyuReject(rec.image, split, rec.source, rec.index, reason))
        else:
            records.append(rec)
    rejected.sort(key=lambda r: r.line)
    return SplitListing(tuple(records), tuple(rejected), listing.label_frames, listing.image_frames)


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


# ----------------------------------------------------------------------------- writing a split

def write_nyu_tree(root: Path, split: str, depth_mm, uvd: np.ndarray, intr: Intrinsics = INTRINSICS,
                   all_cameras: bool = False, overwrite: bool = False, compress_level: int = 6) -> Path:
    """Write one split of an NYU tree, ``ROOT/<split>/``, from arrays; returns the split folder.

    ``depth_mm``: N depth maps (H, W) of whole mm (an (N, H, W) integer array or a sequence of
    them), 0 = no depth, H x W = ``intr.height`` x ``intr.width``; written as
    depth_1_0000001.png ... (``encode_depth_png``). ``uvd`` (N, 36, 3) [px, px, mm]: all 36 label
    joints of camera 1 in NYU's label order; joint_data.mat gets them as ``joint_uvd`` and their
    ``uvd_to_xyz(uvd, intr)`` as ``joint_xyz`` (NYU's frame, y up).

    NYU has three cameras; this writer has one view. joint_data.mat always holds the three camera
    blocks NYU's layout has, and blocks 2 and 3 are plain copies of camera 1. With ``all_cameras``
    depth_2_*.png and depth_3_*.png are written too, as byte copies of camera 1's PNGs (not other
    viewpoints); without it only camera 1's PNGs exist.

    The split appears complete or not at all (written beside it, then renamed); an existing non-empty
    split folder is refused (SdnetError) unless ``overwrite``. ValueError for arrays of the wrong
    shape."""
    if split not in SPLITS:
        raise SdnetError(f"NYU split must be one of {', '.join(SPLITS)}, got {split!r}")
    uvd = np.asarray(uvd, dtype=np.float64)
    if uvd.ndim != 3 or uvd.shape[1:] != (NUM_LABEL_JOINTS, 3):
        raise ValueError(f"uvd must be (N, {NUM_LABEL_JOINTS}, 3), got {uvd.shape}")
    if len(depth_mm) != len(uvd):
        raise ValueError(f"{len(depth_mm)} depth maps for {len(uvd)} label rows")
    cameras = CAMERAS if all_cameras else CAMERAS[:1]
    with atomic_output_dir(Path(root) / split, overwrite) as tmp:
        for row, depth in enumerate(depth_mm):
            write_depth_frame(tmp, row + 1, depth, intr, cameras, compress_level)
        write_split_labels(tmp, uvd, intr)
    return Path(root) / split


def write_depth_frame(folder: Path, index: int, depth_mm: np.ndarray, intr: Intrinsics = INTRINSICS,
                      cameras: tuple[int, ...] = CAMERAS[:1], compress_level: int = 6) -> None:
    """Write frame ``index``'s (from 1) depth map (H, W) of whole mm (0 = no depth; H x W =
    ``intr.height`` x ``intr.width``) into a split folder as depth_<cam>_<%07d>.png for each of
    ``cameras`` (byte copies): one frame of ``write_nyu_tree``, for writers that make frames one at
    a time (the split then appears whole only if its caller writes it aside and renames it)."""
    depth = np.asarray(depth_mm)
    if depth.shape != (intr.height, intr.width):
        raise ValueError(f"depth map {index - 1} is {depth.shape}, expected ({intr.height}, {intr.width})")
    png = encode_depth_png(depth, compress_level)
    for cam in cameras:
        (Path(folder) / depth_file_name(index, cam)).write_bytes(png)


def write_split_labels(folder: Path, uvd: np.ndarray, intr: Intrinsics = INTRINSICS) -> None:
    """A split folder's joint_data.mat from the 36 label joints (N, 36, 3) [px, px, mm] of camera 1
    in label order: ``joint_uvd`` as given, ``joint_xyz`` their ``uvd_to_xyz(uvd, intr)`` (NYU's
    frame, y up), cameras 2 and 3 copies (``write_joint_data``)."""
    write_joint_data(Path(folder) / LABEL_FILE, uvd, uvd_to_xyz(uvd, intr))
