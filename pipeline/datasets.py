"""The dataset registry: every dataset sdnet knows, as a record of values (no stage names a dataset).

A ``Dataset`` holds what the stages need to know about a dataset: its skeleton, the camera of its
images, the camera its evaluation kit scores with, its test sequences (or subjects) in label order with
the cube used to crop each, and the file names of its benchmark ground truth. Stages take these values
from the record (through the manifest or the run); none of them names a dataset.

A dataset's on-disk layout is values too: ``list_tree`` (read a tree's labels and list its frames,
cheap, in the driver of ``sdnet data``) and ``decode_depth`` (one frame's depth file bytes to depth in
mm, on a worker) are the format module's functions (``pipeline.icvl``, ``pipeline.nyu_format``,
``pipeline.msra_format``, ``pipeline.hands2017_format``) behind one signature, so ``sdnet data``
converts any registered tree without naming its dataset.

How a tree's frames become test frames is the dataset's: ICVL and NYU have test folders; MSRA is
evaluated leave one subject out (``Dataset.fold_subjects``: the data cut names its test subject,
``DataConfig.test_subject``); HANDS 2017's test labels are hidden, so the last
``HANDS2017_TEST_SHARE`` of its labelled training frames (frame-number order) are the test split.
Each dataset keeps its own joint order (``Dataset.skeleton``).

Frames: the cameras follow ``pipeline.camera`` (image uvd [px, px, mm]; camera xyz [mm], x right,
y down, z forward).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from pipeline import hands2017_format, icvl, msra_format, nyu_format
from pipeline.camera import CAMERAS, Intrinsics
from pipeline.errors import SdnetError
from pipeline.skeleton import HANDS2017_SKELETON, ICVL_SKELETON, MSRA_SKELETON, NYU_SKELETON, Skeleton


@dataclass(frozen=True)
class FrameItem:
    """One labelled frame to convert. ``uvd`` (J, 3) [px, px, mm] in the dataset's joint order;
    ``image``: the PNG's full path; ``rel_path``: its path relative to the tree's depth folder (unique
    in the tree); ``sequence``: its sequence (ICVL: the folder) or subject (NYU); ``frame``: its
    number; ``cube_mm``: the side (mm) of its crop cube when the dataset fixes one (a test subject's,
    NYU), 0 for the experiment's (``DataConfig.cube_mm``)."""

    image: str
    rel_path: str
    uvd: np.ndarray
    split: str
    sequence: str
    frame: int
    label_file: str = ""
    line: int = 0
    cube_mm: float = 0.0


@dataclass
class TreeListing:
    """What a dataset's reader found in a tree: its labelled ``frames`` (split 'train' or 'test',
    label order), the frames or label lines ``rejected`` up front (dicts of ``rejected.jsonl``: path,
    split, label_file, line, reason), the ``label_files`` read, and ``test_cubes_mm`` (test sequence
    or test subject -> crop cube side, mm: NYU's subjects, MSRA's test subject) when the dataset fixes
    the test frames' cubes."""

    frames: list[FrameItem] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    label_files: list[str] = field(default_factory=list)
    test_cubes_mm: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class EvalSequence:
    """One test sequence (or subject) of a dataset: its test frames ``[start, stop)`` (0-based, in the
    order of the benchmark's label file) and the side of the 3-D crop cube (mm) loaders use for it."""

    name: str
    start: int
    stop: int
    cube_mm: float

    @property
    def frames(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class Dataset:
    """A dataset as values.

    Attributes:
      name: the registry key (``--dataset``).
      skeleton: joints in label order, bones, parts and layers.
      camera: the intrinsics of the dataset's depth images (image size and depth unit included), as
        the public loaders use them.
      scoring_camera: the intrinsics the community's evaluation kit converts uvd result files to xyz
        with (y down: a kit focal length of negative sign only mirrors y, which no distance sees).
      scoring_camera_name: how results name ``scoring_camera`` (settings.json's ``camera``).
      test_sequences: the test set's sequences (ICVL) or subjects (NYU), contiguous and in label order:
        the groups of the per-sequence errors and of the plausibility's bone-length sd and jitter.
        Empty when the benchmark's test set is not a fixed list of frames known here: MSRA (a fold's
        test set is its test subject's frames found in the tree; the kit's per-subject frame counts
        are not recorded here) and HANDS 2017 (test labels hidden; sdnet tests on held-out training
        frames). A data dir's test split is then described by its manifest (``test_subject``,
        ``test_cubes_mm``) and its records' sequences.
      sequences_in_paths: True when a test image path names its sequence (its folder, ICVL's
        ``test_seq_1/...``), so the sequences of a ground truth come from its image paths; False when
        the paths do not tell them apart (NYU's ``test/depth_1_...``) and they are the frame ranges of
        ``test_sequences``.
      test_label_file: the benchmark's ground truth in the result format (one line of J x u v d per test
        frame, in label order); "" when sdnet knows no such file (MSRA, HANDS 2017).
      test_list_file: the image path of every line of ``test_label_file`` ("" when none).
      test_label_files: the dataset's own test label files, when they are a ground truth too (ICVL's
        ``test_seq_1.txt``, ``test_seq_2.txt``: image path + J x u v d a line), in order; else empty.
      list_tree: ``list_tree(dataset, root, intr, skip_prerotated, test_subject) -> TreeListing``: the
        labels of a tree in this layout (``intr``: the camera whose image bounds the labels must lie in;
        ``skip_prerotated``: leave out pre-rotated training copies where the layout has them;
        ``test_subject``: the held-out subject of a ``fold_subjects`` dataset, "" = none: every frame
        'train', as a reader of the tree's images (eval's refinement, predict's scoring) needs).
      decode_depth: ``decode_depth(file_bytes, where, intr) -> (H, W) uint16 depth in mm`` (0: no
        depth); DepthImageError naming ``where`` for bytes that are not such an image of ``intr``'s size.
      tree_help: the layout in a few words (``sdnet data --help``).
      fold_subjects: the subjects of a leave-one-subject-out protocol (MSRA's P0..P8), empty for a
        dataset with its own test split. When set, a data cut must name one of them as its
        ``DataConfig.test_subject``: that subject's frames are 'test', the others' 'train'.
      image_hand: the chirality of the labelled hand as the dataset's images show it: 'right' when its
        fingers flex toward +n, n = (index root - palm) x (pinky root - palm) in camera axes (x right,
        y down, z away), as a right hand seen by a camera does; 'left' for the mirror image. Measured
        on the test labels (``eval.metrics.flex_side``): NYU's flex toward +n, ICVL's toward -n (its
        images are a right hand's mirror image), so a model trained on ICVL sees a user's right hand
        mirrored (``pipeline.predictor``). MSRA and HANDS 2017: 'right' as recorded (right hands; not
        measured here, no labels of theirs are at hand).
    """

    name: str
    skeleton: Skeleton
    camera: Intrinsics
    scoring_camera: Intrinsics
    scoring_camera_name: str
    test_sequences: tuple[EvalSequence, ...]
    sequences_in_paths: bool
    test_label_file: str
    test_list_file: str
    test_label_files: tuple[str, ...] = ()
    list_tree: Callable[..., TreeListing] | None = None
    decode_depth: Callable[[bytes, str, Intrinsics], np.ndarray] | None = None
    tree_help: str = ""
    fold_subjects: tuple[str, ...] = ()
    image_hand: str = "right"

    def __post_init__(self) -> None:
        if self.image_hand not in ("right", "left"):
            raise ValueError(f"{self.name}: image_hand must be 'right' or 'left', got {self.image_hand!r}")
        start = 0
        for s in self.test_sequences:
            if s.start != start or s.stop <= s.start:
                raise ValueError(f"{self.name}: test sequences must be contiguous from frame 0 "
                                 f"(got {s.name} = [{s.start}, {s.stop}))")
            start = s.stop

    @property
    def num_joints(self) -> int:
        return self.skeleton.num_joints

    @property
    def test_frames(self) -> int:
        """Frames of the whole test set (the benchmark's ground-truth lines)."""
        return self.test_sequences[-1].stop if self.test_sequences else 0

    def frame_sequences(self, frames: int) -> tuple[str, ...] | None:
        """The test sequence name of each of ``frames`` frames in label order, from the frame ranges of
        ``test_sequences``; None when ``frames`` is not the whole test set (the ranges do not apply)."""
        if frames != self.test_frames:
            return None
        return tuple(s.name for s in self.test_sequences for _ in range(s.frames))

    def cube_of_frame(self, index: int) -> float:
        """The crop cube (mm) of test frame ``index`` (0-based, label order)."""
        for s in self.test_sequences:
            if s.start <= index < s.stop:
                return s.cube_mm
        raise ValueError(f"{self.name}: test frame {index} is outside 0..{self.test_frames - 1}")


    def list_frames(self, root: Path, intr: Intrinsics, skip_prerotated: bool = False,
                    test_subject: str = "") -> TreeListing:
        """The labelled frames of the tree at ``root`` in this dataset's layout (``list_tree``);
        ``test_subject``: the held-out subject of a leave-one-subject-out dataset ("" = none). SdnetError
        for a ``test_subject`` the dataset does not split by."""
        if self.list_tree is None:
            raise SdnetError(f"{self.name}: sdnet cannot read trees of this dataset")
        if test_subject and test_subject not in self.fold_subjects:
            raise SdnetError(f"{self.name}: test subject {test_subject!r} is not one of "
                             f"{', '.join(self.fold_subjects) or 'its subjects (it has its own test split)'}")
        return self.list_tree(self, Path(root), intr, skip_prerotated, test_subject)


# ----------------------------------------------------------------------------- the layouts' readers

def _icvl_decode(data: bytes, where: str, intr: Intrinsics) -> np.ndarray:
    """An ICVL depth PNG (16-bit grayscale, ``intr.depth_scale`` mm per unit) -> uint16 mm."""
    return icvl.decode_depth_png(data, where, (intr.width, intr.height), intr.depth_scale)


def _icvl_list(dataset: Dataset, root: Path, intr: Intrinsics, skip_prerotated: bool,
               test_subject: str = "") -> TreeListing:
    """Every label file of an ICVL tree (``icvl.find_label_files``): frames in label order, the bad
    label lines as rejections naming the file, the line and, when the line has one, the image path.
    Pre-rotated training copies (short-named folders, ``icvl.is_prerotated_folder``) are left out with
    ``skip_prerotated``. The crops use the experiment's cube (no per-sequence cube). ICVL has its own
    test split: ``test_subject`` is not used."""
    out = TreeListing()
    for lf in icvl.find_label_files(root):
        out.label_files.append(str(lf.path))
        records, errors = icvl.read_label_file(lf.path, dataset.num_joints, strict=False)
        for e in errors:
            out.rejected.append({"path": str(lf.depth_dir / e.image) if e.image else f"{e.source}:{e.line}",
                                 "split": lf.split_hint, "label_file": e.source, "line": e.line,
                                 "reason": e.reason})
        for r in records:
            seq = icvl.sequence_of(r.path)
            if lf.split_hint == "train" and skip_prerotated and icvl.is_prerotated_folder(seq):
                continue
            out.frames.append(FrameItem(image=str(lf.depth_dir / r.path), rel_path=r.path, uvd=r.uvd,
                                        split=lf.split_hint, sequence=seq, frame=icvl.frame_index_of(r.path),
                                        label_file=str(lf.path), line=r.line))
    return out


def _nyu_decode(data: bytes, where: str, intr: Intrinsics) -> np.ndarray:
    """An NYU depth PNG (8-bit RGB, mm = (G << 8) | B) -> uint16 mm; its unit is always 1 mm."""
    return nyu_format.decode_depth_png(data, where, (intr.width, intr.height))


def nyu_test_subjects(root: Path, dataset: Dataset) -> tuple[tuple[str, int, int, float], ...]:
    """The test subjects of an NYU tree as (name, start, stop, cube mm) rows: those its ``synth.json``
    records (``test_subjects``: a synthetic tree, smaller than NYU's; the same subjects, in the same
    order, over fewer frames), else the registry's (the real NYU Hand test set). SdnetError naming the
    file when synth.json is not valid JSON or names other subjects."""
    path = Path(root) / "synth.json"
    if path.is_file():
        try:
            rows = json.loads(path.read_text()).get("test_subjects")
        except (json.JSONDecodeError, AttributeError) as e:
            raise SdnetError(f"{path}: not valid JSON ({e})") from None
        if rows:
            subjects = tuple((str(n), int(a), int(b), float(c)) for n, a, b, c in rows)
            known = [seq.name for seq in dataset.test_sequences]
            if [row[0] for row in subjects] != known:
                raise SdnetError(f"{path}: test_subjects {[row[0] for row in subjects]} are not "
                                 f"{dataset.name}'s test subjects {known}")
            return subjects
    return tuple((s.name, s.start, s.stop, s.cube_mm) for s in dataset.test_sequences)


def _nyu_list(dataset: Dataset, root: Path, intr: Intrinsics, skip_prerotated: bool,
              test_subject: str = "") -> TreeListing:
    """An NYU tree's train/ and test/ (``nyu_format.list_split``, camera 1, the 14 evaluated joints):
    every training frame is of one sequence (the training subject: one recording, so validation is
    its tail), every test frame of its subject (``nyu_test_subjects``), cropped with that subject's
    cube. Rejections: missing PNGs, label/PNG count mismatches, NaN joints, joints outside ``intr``'s
    image. SdnetError when the tree has neither split folder. (NYU has no pre-rotated copies, and its
    own test split: ``test_subject`` is not used.)"""
    root = Path(root)
    splits = [s for s in nyu_format.SPLITS if (root / s).is_dir()]
    if not root.is_dir() or not splits:
        raise SdnetError(f"{root}: not an NYU Hand tree (expected train/ or test/ with "
                         f"{nyu_format.LABEL_FILE} and depth_1_*.png)")
    subjects = nyu_test_subjects(root, dataset)
    cubes = {name: cube for name, _, _, cube in subjects}
    out = TreeListing(test_cubes_mm=dict(cubes) if "test" in splits else {})
    for split in splits:
        listing = nyu_format.list_split(root, split, 1, intr, subjects)
        out.label_files.append(str(root / split / nyu_format.LABEL_FILE))
        out.rejected.extend(r.to_dict() for r in listing.rejected)
        for rec in listing.records:
            if split == "test" and not rec.subject:
                out.rejected.append({"path": rec.image, "split": split, "label_file": rec.source,
                                     "line": rec.index, "reason": "test frame of no test subject"})
                continue
            out.frames.append(FrameItem(image=rec.image, rel_path=f"{split}/{rec.path}", uvd=rec.uvd,
                                        split=split, sequence=rec.subject, frame=rec.index,
                                        label_file=rec.source, line=rec.index,
                                        cube_mm=cubes[rec.subject] if split == "test" else 0.0))
    return out


def _msra_decode(data: bytes, where: str, intr: Intrinsics) -> np.ndarray:
    """An MSRA %06d_depth.bin (6 int32 header, then float32 mm of the hand's box; ``msra_format.decode_bin``)
    -> (H, W) uint16 mm (``intr.depth_scale`` mm per stored unit), rounded to whole mm: sdnet's raw
    depth, which the refinement compares in integral mm. 0 = no depth."""
    depth = msra_format.decode_bin(data, where, (intr.width, intr.height)) * np.float32(intr.depth_scale)
    return np.minimum(np.rint(depth), np.iinfo(np.uint16).max).astype(np.uint16)


def _msra_rel_path(root: Path, path: str) -> str:
    """``path`` (a frame's .bin, a gesture folder, a joint.txt) relative to ``root``, with '/'."""
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return Path(path).as_posix()


def _msra_split(rel_path: str, test_subject: str) -> str:
    """'test' for a path under the test subject's folder (``P3/...``), else 'train'."""
    return "test" if test_subject and rel_path.split("/", 1)[0] == test_subject else "train"


def _msra_list(dataset: Dataset, root: Path, intr: Intrinsics, skip_prerotated: bool,
               test_subject: str = "") -> TreeListing:
    """An MSRA tree (``msra_format.list_tree``: every ``P*/<gesture>/joint.txt``, joints in MSRA's
    order, camera xyz y down), split leave one subject out: frames of ``test_subject`` are 'test',
    cropped with that subject's cube (``msra_format.SUBJECT_CUBE_MM``, also ``test_cubes_mm``), the
    other subjects' 'train' with the experiment's cube ("" = no test subject: every frame 'train').
    A frame's sequence is its gesture folder (``P3/TIP``), its ``rel_path`` ``P3/TIP/000012_depth.bin``.

    Rejections: the format layer's (missing .bin, a frame of ``msra_format.FAULTY_FRAMES``, a bad
    joint line, a count line that disagrees, joints behind the camera, .bin files without a line)
    and joints outside ``intr``'s image (``nyu_format.check_joints``). SdnetError naming the root when
    it is not an MSRA tree or does not hold ``test_subject``. (No pre-rotated copies.)"""
    root = Path(root)
    listing = msra_format.list_tree(root, intr=intr, faulty=msra_format.FAULTY_FRAMES)
    if test_subject and test_subject not in listing.subjects:
        raise SdnetError(f"{root}: test subject {test_subject} is not in this MSRA tree (it holds "
                         f"{', '.join(listing.subjects) or 'no subject with a joint.txt'})")
    out = TreeListing(label_files=[str(root / s / g / msra_format.LABEL_FILE) for s, g in listing.folders],
                      test_cubes_mm={test_subject: msra_format.SUBJECT_CUBE_MM[test_subject]} if test_subject else {})
    for rej in listing.rejected:
        out.rejected.append({**rej.to_dict(), "split": _msra_split(_msra_rel_path(root, rej.path), test_subject)})
    for rec in listing.records:
        rel = _msra_rel_path(root, rec.path)
        split = _msra_split(rel, test_subject)
        reason = nyu_format.check_joints(rec.uvd, intr.width, intr.height)
        if reason:
            out.rejected.append({"path": rec.path, "split": split, "label_file": rec.label_file,
                                 "line": rec.line, "reason": reason})
            continue
        out.frames.append(FrameItem(image=rec.path, rel_path=rel, uvd=rec.uvd, split=split,
                                    sequence=f"{rec.subject}/{rec.gesture}", frame=rec.frame,
                                    label_file=rec.label_file, line=rec.line,
                                    cube_mm=rec.cube_mm if split == "test" else 0.0))
    return out


# HANDS 2017: the share of a tree's labelled frames, the last in frame-number order, that is the test
# split (the challenge's test labels are hidden), and the one sequence its frames are given (the
# annotation file does not mark BigHand's recordings).
HANDS2017_TEST_SHARE = 0.05
HANDS2017_SEQUENCE = "training"


def tail_count(n: int, share: float) -> int:
    """How many of ``n`` frames a tail of ``share`` holds: ceil(share * n), at least 1 and at most
    n - 1 (0 for fewer than two frames or ``share`` 0)."""
    if n < 2 or share <= 0:
        return 0
    return min(n - 1, max(1, math.ceil(share * n)))


def _hands2017_decode(data: bytes, where: str, intr: Intrinsics) -> np.ndarray:
    """A HANDS 2017 depth PNG (16-bit grayscale mm) -> (H, W) uint16 mm (``hands2017_format.decode_depth``)."""
    return hands2017_format.decode_depth(data, where, intr)


def _hands2017_list(dataset: Dataset, root: Path, intr: Intrinsics, skip_prerotated: bool,
                    test_subject: str = "") -> TreeListing:
    """A HANDS 2017 tree's training frames (``hands2017_format.list_tree``, joints in its order). Its
    test labels are hidden, so the last ``HANDS2017_TEST_SHARE`` of the usable frames in frame-number
    order (``tail_count``: one contiguous block, at least one frame of two) are 'test', the rest
    'train'; every frame is of the one sequence ``HANDS2017_SEQUENCE`` (so 'val' is the tail of the
    training frames, before the test block), cropped with the experiment's cube. ``rel_path``:
    ``training/images/image_D%08d.png``. Rejections: the format layer's (bad or repeated annotation
    lines, joints behind the camera, missing images, images without a line) and joints outside
    ``intr``'s image. SdnetError naming the file when the tree has no annotation file (e.g. the test
    release, whose labels are hidden). ``test_subject`` is not used."""
    root = Path(root)
    label = root / hands2017_format.ANNOTATION_FILE
    if not label.is_file():
        raise SdnetError(f"{label}: not found: not a labelled HANDS 2017 tree (expected "
                         f"{hands2017_format.ANNOTATION_FILE} and {hands2017_format.IMAGES_DIR}/image_DNNNNNNNN.png)")
    listing = hands2017_format.list_tree(root, intr)
    kept, dropped = [], []
    for rec in listing.records:
        reason = nyu_format.check_joints(rec.uvd, intr.width, intr.height)
        if reason:
            dropped.append({"path": rec.image, "label_file": rec.label_file, "line": rec.line, "reason": reason})
        else:
            kept.append(rec)
    kept.sort(key=lambda r: r.index)
    n_test = tail_count(len(kept), HANDS2017_TEST_SHARE)
    first_test = kept[len(kept) - n_test].index if n_test else None

    def split_of(index: int | None) -> str:
        return "test" if first_test is not None and index is not None and index >= first_test else "train"

    out = TreeListing(label_files=[str(label)])
    for rej in [r.to_dict() for r in listing.rejected] + dropped:
        out.rejected.append({**rej, "split": split_of(hands2017_format.frame_index_of(Path(rej["path"]).name))})
    for rec in kept:
        out.frames.append(FrameItem(image=rec.image, rel_path=(hands2017_format.IMAGES_DIR / rec.name).as_posix(),
                                    uvd=rec.uvd, split=split_of(rec.index), sequence=HANDS2017_SEQUENCE,
                                    frame=rec.index, label_file=rec.label_file, line=rec.line))
    return out


def kit_camera(fx: float, fy: float, cx: float, cy: float, width: int, height: int) -> Intrinsics:
    """The intrinsics of an evaluation kit's uvd -> xyz conversion x = (u - cx) d / fx,
    y = (v - cy) d / fy, z = d (px, mm), in sdnet's y-down frame: a negative ``fy`` (y up) is taken
    by its magnitude. That mirrors every point's y and so keeps every distance the kit measures."""
    return Intrinsics(fx=fx, fy=abs(fy), cx=cx, cy=cy, width=width, height=height)


# ICVL: the two test sequences of 702 and 894 frames (test_seq_1.txt, test_seq_2.txt), cube 250 mm
# (DESIGN.md, standard preprocessing); scored with the ICVL benchmark's intrinsics.
ICVL = Dataset(
    name="icvl",
    skeleton=ICVL_SKELETON,
    camera=CAMERAS["icvl"],
    scoring_camera=CAMERAS["icvl-benchmark"],
    scoring_camera_name="icvl-benchmark",
    test_sequences=(EvalSequence("test_seq_1", 0, 702, 250.0), EvalSequence("test_seq_2", 702, 1596, 250.0)),
    sequences_in_paths=True,
    test_label_file="icvl_test_groundtruth_label.txt",
    test_list_file="icvl_test_list.txt",
    test_label_files=("test_seq_1.txt", "test_seq_2.txt"),
    list_tree=_icvl_list,
    decode_depth=_icvl_decode,
    tree_help="ICVL: Training/labels.txt, Testing/test_seq_K.txt, 16-bit depth PNGs under */Depth/",
    image_hand="left",
)

# NYU Hand: camera 1, the kit's 14 joints; test subjects 1 (frames 0-2439, also in training) and 2
# (2440-8251), cubes 300 and 250 mm (pipeline.nyu_format holds the facts).
NYU = Dataset(
    name="nyu",
    skeleton=NYU_SKELETON,
    camera=nyu_format.INTRINSICS,
    scoring_camera=kit_camera(*nyu_format.KIT_INTRINSICS, width=nyu_format.WIDTH, height=nyu_format.HEIGHT),
    scoring_camera_name="nyu-kit",
    test_sequences=tuple(EvalSequence(name, start, stop, cube) for name, start, stop, cube
                         in nyu_format.TEST_SUBJECTS),
    sequences_in_paths=False,
    test_label_file="nyu_test_groundtruth_label.txt",
    test_list_file="nyu_test_list.txt",
    list_tree=_nyu_list,
    decode_depth=_nyu_decode,
    tree_help="NYU Hand: train/ and test/, each joint_data.mat and depth_1_NNNNNNN.png (RGB-encoded mm)",
)

# MSRA Hand 2015: leave one subject out over P0..P8 (data.test_subject), that subject's cube
# (pipeline.msra_format holds the facts); the kit's per-subject frame counts are not recorded here, so
# no fixed test frame ranges: a data dir's test split is its test subject's frames in the tree. The kit
# scores with the loaders' camera (its v = cy - fy y / z is y up: the same distances).
MSRA = Dataset(
    name="msra",
    skeleton=MSRA_SKELETON,
    camera=msra_format.INTRINSICS,
    scoring_camera=msra_format.INTRINSICS,
    scoring_camera_name="msra",
    test_sequences=(),
    sequences_in_paths=True,  # P3/TIP/000012_depth.bin: the sequence is its gesture folder
    test_label_file="",
    test_list_file="",
    list_tree=_msra_list,
    decode_depth=_msra_decode,
    tree_help="MSRA Hand 2015: P0..P8/<gesture>/joint.txt and %06d_depth.bin (float32 mm of the hand's box); "
              "leave one subject out: --test-subject P0..P8 is the test split, with its cube",
    fold_subjects=msra_format.SUBJECTS,
)

# HANDS 2017: the challenge's camera; test labels hidden, so the test split is held-out training frames.
HANDS2017 = Dataset(
    name="hands2017",
    skeleton=HANDS2017_SKELETON,
    camera=hands2017_format.INTRINSICS,
    scoring_camera=hands2017_format.INTRINSICS,
    scoring_camera_name="hands2017",
    test_sequences=(),
    sequences_in_paths=False,
    test_label_file="",
    test_list_file="",
    list_tree=_hands2017_list,
    decode_depth=_hands2017_decode,
    tree_help="HANDS 2017: training/Training_Annotation.txt and training/images/image_D%08d.png (16-bit mm); "
              f"test labels hidden: the last {HANDS2017_TEST_SHARE:.0%} of the frames (frame-number order) are "
              "the test split",
)

DATASETS: dict[str, Dataset] = {d.name: d for d in (ICVL, NYU, MSRA, HANDS2017)}
DEFAULT_DATASET = ICVL.name


def get_dataset(name: str) -> Dataset:
    """The registered dataset ``name``; SdnetError (one line, listing the known names) otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        raise SdnetError(f"unknown dataset {name!r} (known: {', '.join(sorted(DATASETS))})") from None


def dataset_of(name: str, skeleton: dict | None = None, where: str = "the data") -> Dataset:
    """The registered dataset a manifest or a run names (its ``dataset``), checked against the skeleton it
    recorded (``Skeleton.to_dict()``; None: not checked). SdnetError with one line naming ``where`` when
    the name is unknown or the recorded skeleton is not the registry's (made by another sdnet: remake it)."""
    if name not in DATASETS:
        raise SdnetError(f"{where}: unknown dataset {name!r} (known: {', '.join(sorted(DATASETS))})")
    ds = DATASETS[name]
    if skeleton is not None and not ds.skeleton.matches(skeleton):
        raise SdnetError(f"{where}: recorded a {name} skeleton that differs from this sdnet's "
                         f"({len(skeleton.get('joint_names', []))} joints, expected {ds.num_joints}); remake it")
    return ds
