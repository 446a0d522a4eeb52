"""The dataset registry: every dataset sdnet knows, as a record of values (no code per dataset).

A ``Dataset`` holds what the stages need to know about a dataset: its skeleton, the camera of its
images, the camera its evaluation kit scores with, its test sequences (or subjects) in label order with
the cube used to crop each, and the file names of its benchmark ground truth. Stages take these values
from the record (through the manifest or the run); none of them names a dataset.

Frames: the cameras follow ``pipeline.camera`` (image uvd [px, px, mm]; camera xyz [mm], x right,
y down, z forward).
"""
from __future__ import annotations

from dataclasses import dataclass

from pipeline import nyu_format
from pipeline.camera import CAMERAS, Intrinsics
from pipeline.errors import SdnetError
from pipeline.skeleton import ICVL_SKELETON, NYU_SKELETON, Skeleton


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
      sequences_in_paths: True when a test image path names its sequence (its folder, ICVL's
        ``test_seq_1/...``), so the sequences of a ground truth come from its image paths; False when
        the paths do not tell them apart (NYU's ``test/depth_1_...``) and they are the frame ranges of
        ``test_sequences``.
      test_label_file: the benchmark's ground truth in the result format (one line of J x u v d per test
        frame, in label order).
      test_list_file: the image path of every line of ``test_label_file``.
      test_label_files: the dataset's own test label files, when they are a ground truth too (ICVL's
        ``test_seq_1.txt``, ``test_seq_2.txt``: image path + J x u v d a line), in order; else empty.
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

    def __post_init__(self) -> None:
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
)

DATASETS: dict[str, Dataset] = {d.name: d for d in (ICVL, NYU)}
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
