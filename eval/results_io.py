"""The standard result format of hand-pose evaluations, and ground truth in either of its two forms.

Result format (predictions, and the benchmark's ground-truth file): one line per frame, in the order
of the test label files (``test_seq_1.txt`` then ``test_seq_2.txt`` for ICVL), J joints x (u v d)
separated by spaces: u, v in pixels, d in mm (image uvd; see ``pipeline.camera``). J is the dataset's
joint count (``num_joints``, a required argument: 16 for ICVL, 14 for NYU's evaluation kit).

Ground truth may also be given as ICVL label files (``<relative path> u1 v1 d1 ... u16 v16 d16``);
``read_ground_truth`` tells them apart by the field count of the first line (48 or 49).

Every problem is an SdnetError with one line naming the file, the line and the problem.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from pipeline.datasets import ICVL
from pipeline.errors import SdnetError
from pipeline.fsutil import atomic_write_text
from pipeline.icvl import read_label_file, sequence_of


def _lines(path: Path, num_joints: int | None) -> list[tuple[int, str]]:
    """(1-based line number, text) of a file, without trailing blank lines; errors if missing/empty
    (``num_joints``: of a result file, for the message; None for another file, an image list)."""
    path = Path(path)
    if not path.is_file():
        raise SdnetError(f"{path}: file not found")
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = list(enumerate(f.read().splitlines(), start=1))
    while lines and not lines[-1][1].strip():
        lines.pop()
    if not lines:
        expected = f"one line of {3 * num_joints} values per frame" if num_joints else "one line per frame"
        raise SdnetError(f"{path}: file is empty (expected {expected})")
    return lines


def parse_result_line(text: str, source: str, lineno: int, num_joints: int) -> np.ndarray:
    """One result line of ``num_joints`` x (u v d) -> (J, 3) float64 image uvd [px, px, mm];
    SdnetError naming ``source:lineno``."""
    where = f"{source}:{lineno}"
    fields = text.split()
    values_per_frame = 3 * num_joints
    if not fields:
        raise SdnetError(f"{where}: empty line (every line is one frame; frames must not be skipped)")
    if len(fields) != values_per_frame:
        hint = (" (a label file with an image path? predictions use the result format without paths)"
                if len(fields) == values_per_frame + 1 else "")
        raise SdnetError(f"{where}: expected {values_per_frame} values ({num_joints} joints x u v d), "
                         f"got {len(fields)}{hint}")
    values = []
    for i, field in enumerate(fields, start=1):
        try:
            v = float(field)
        except ValueError:
            raise SdnetError(f"{where}: field {i} is not a number: {field[:40]!r}") from None
        if not math.isfinite(v):
            raise SdnetError(f"{where}: field {i} is {field!r} (NaN or infinite values are not allowed)")
        values.append(v)
    return np.asarray(values, dtype=np.float64).reshape(num_joints, 3)


def read_results(path: Path, expected_frames: int | None = None,
                 expected_source: str = "the ground truth", *, num_joints: int) -> np.ndarray:
    """Read a result file of ``num_joints`` joints a line -> (N, J, 3) image uvd [px, px, mm].

    With ``expected_frames``, a different frame count is an error naming both counts and
    ``expected_source`` (e.g. the ground-truth file).
    """
    path = Path(path)
    lines = _lines(path, num_joints)
    frames = np.stack([parse_result_line(text, str(path), n, num_joints) for n, text in lines])  # (N, J, 3)
    if expected_frames is not None and len(frames) != expected_frames:
        raise SdnetError(f"{path}: has {len(frames)} frames (lines) but {expected_source} has "
                         f"{expected_frames}; one line per test frame, in label-file order, is required")
    return frames


def format_result_line(uvd: np.ndarray) -> str:
    """One frame (J, 3) image uvd -> a result line (3 decimals, as the benchmark files), no newline."""
    return " ".join(f"{v:.3f}" for v in np.asarray(uvd, dtype=np.float64).reshape(-1))


def write_results(path: Path, uvd: np.ndarray, num_joints: int) -> None:
    """Atomically write (N, J, 3) image uvd [px, px, mm], J = ``num_joints``, in the result format, one
    frame per line."""
    uvd = np.asarray(uvd, dtype=np.float64)
    if uvd.ndim != 3 or uvd.shape[1:] != (num_joints, 3) or uvd.shape[0] == 0:
        raise SdnetError(f"{path}: expected predictions of shape (N, {num_joints}, 3), got {uvd.shape}")
    if not np.all(np.isfinite(uvd)):
        frame = int(np.argwhere(~np.isfinite(uvd))[0, 0])
        raise SdnetError(f"{path}: refusing to write NaN or infinite predictions (first in frame {frame})")
    atomic_write_text(Path(path), "".join(format_result_line(f) + "\n" for f in uvd))


@dataclass(frozen=True)
class GroundTruth:
    """Ground-truth joints (N, J, 3) image uvd [px, px, mm] in file order, with their origin.

    ``paths`` holds each frame's image path when the ground truth came from label files, else None.
    """

    uvd: np.ndarray
    sources: tuple[str, ...]
    paths: tuple[str, ...] | None

    @property
    def frames(self) -> int:
        return int(self.uvd.shape[0])

    @property
    def description(self) -> str:
        return "the ground truth " + " + ".join(self.sources)

    @property
    def sequences(self) -> tuple[str, ...] | None:
        """The test sequence of every frame (the folder of its image path), or None without paths."""
        return None if self.paths is None else tuple(sequence_of(p) for p in self.paths)


def _field_count(path: Path, num_joints: int) -> int:
    for _, text in _lines(path, num_joints):
        if text.strip():
            return len(text.split())
    return 0  # not reached: _lines refuses all-blank files


def read_image_list(path: Path, frames: int) -> tuple[str, ...]:
    """The image paths of a list file (one per line, e.g. the benchmark's icvl_test_list.txt), which
    must hold ``frames`` of them; SdnetError naming the file otherwise."""
    names = [text.strip() for _, text in _lines(path, None) if text.strip()]
    if len(names) != frames:
        raise SdnetError(f"{path}: {len(names)} image paths, but the ground truth has {frames} frames")
    return tuple(names)


def read_ground_truth(paths: Path | Sequence[Path], list_path: Path | None = None,
                      *, num_joints: int) -> GroundTruth:
    """Read ground truth of ``num_joints`` joints a frame from one or more files, concatenated in the
    given order.

    Each file is either in the result format (3 J values a line) or an ICVL label file (an image path
    plus 48 values a line, for ICVL's 16 joints only), detected by the field count of its first line.
    Mixing kinds is refused. ``list_path``: the image path of every frame (``read_image_list``) for
    result-format files, which carry none; label files carry their own.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise SdnetError("no ground-truth file given")
    values_per_frame = 3 * num_joints
    labels_apply = num_joints == ICVL.num_joints  # ICVL label files hold ICVL's joints
    blocks, names, kinds = [], [], set()
    for path in paths:
        count = _field_count(path, num_joints)
        if count == values_per_frame:
            kinds.add("results")
            blocks.append(read_results(path, num_joints=num_joints))
        elif labels_apply and count == values_per_frame + 1:
            kinds.add("labels")
            records, _ = read_label_file(path, num_joints, strict=True)
            names.extend(r.path for r in records)
            blocks.append(np.stack([r.uvd for r in records]))
        else:
            label_form = (f" or an image path plus {values_per_frame} values (ICVL label file)"
                          if labels_apply else "")
            raise SdnetError(f"{path}:1: expected {values_per_frame} values ({num_joints} joints x u v d, "
                             f"result format){label_form}, got {count} fields")
    if len(kinds) > 1:
        raise SdnetError("ground truth mixes result files and label files: "
                         + ", ".join(str(p) for p in paths))
    uvd = np.concatenate(blocks, axis=0)  # (N, J, 3)
    if kinds == {"labels"}:
        frame_paths = tuple(names)
    else:
        frame_paths = read_image_list(Path(list_path), uvd.shape[0]) if list_path is not None else None
    return GroundTruth(uvd=uvd, sources=tuple(str(p) for p in paths), paths=frame_paths)
