"""The frames ``sdnet predict`` reads from a path, in frame order.

  * one depth PNG (decoded as the run's dataset stores depth);
  * a folder of PNGs: one sequence, frames in natural name order ("image_2" before "image_10"),
    sequence id = the folder's name, frame index = position;
  * an ICVL tree (``Training/labels.txt``, ``Testing/test_seq_K.txt``): the frames each label file
    lists, in file order; only the paths are read from the labels, never the joints. Sequence id =
    '<Depth folder>/<sequence folder>', frame index = position within the sequence;
  * an NYU Hand tree (``train/`` and/or ``test/`` holding ``joint_data.mat`` and ``depth_1_*.png``,
    ``pipeline.nyu_format``): camera 1's frames in frame-number order; sequence id = the subject
    (training frames: the training subject; test frames: the tree's test subjects,
    ``datasets.nyu_test_subjects``), frame index = position within it.
Trees are told apart by their layout; ``TREE_DATASETS`` names the dataset (registry name) of each tree
kind, whose depth encoding and joints the run must have.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from pipeline import nyu_format
from pipeline.datasets import ICVL, NYU, nyu_test_subjects
from pipeline.errors import SdnetError
from pipeline.icvl import find_label_files

TREE_DATASETS = {"icvl-tree": ICVL.name, "nyu-tree": NYU.name}  # tree kind -> its dataset (registry name)


@dataclasses.dataclass(frozen=True)
class FrameRef:
    """One input frame: its PNG ``path``, ``sequence`` id, ``index`` (position in the sequence,
    frame order) and ``name`` (unique stem of its overlay file)."""

    path: Path
    sequence: str
    index: int
    name: str


def natural_key(name: str) -> list:
    """Sort key putting 'image_2' before 'image_10' (digit runs compare as numbers)."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def _is_icvl_tree(path: Path) -> bool:
    try:
        find_label_files(path)
    except SdnetError:
        return False
    return True


def _nyu_splits(path: Path) -> list[str]:
    """The split folders of an NYU tree at ``path`` (those holding joint_data.mat), [] for another folder."""
    return [s for s in nyu_format.SPLITS if (path / s / nyu_format.LABEL_FILE).is_file()]


def _nyu_frames(path: Path, splits: list[str], split: str) -> list[FrameRef]:
    """Camera 1's depth frames of the NYU tree at ``path`` (see the module docstring)."""
    frames = []
    subjects = nyu_test_subjects(path, NYU)
    for s in splits:
        if split != "all" and s != split:
            continue
        positions: dict[str, int] = {}
        for row, number in enumerate(sorted(nyu_format.depth_indices(path / s, 1))):
            seq = nyu_format.subject_of(s, row, subjects) or f"{s}_other"
            index = positions.get(seq, 0)
            positions[seq] = index + 1
            name = nyu_format.depth_file_name(number, 1)
            frames.append(FrameRef(path / s / name, seq, index, f"{s}__{Path(name).stem}"))
    return frames


def _label_paths(label_file: Path) -> list[str]:
    """The frame paths (first field of each non-blank line) of an ICVL label file."""
    with open(label_file, encoding="utf-8", errors="replace") as f:
        return [line.split(maxsplit=1)[0] for line in f if line.strip()]


def collect_frames(path: Path, split: str = "all") -> tuple[str, list[FrameRef]]:
    """The frames under ``path`` and its kind: 'png', 'folder', 'icvl-tree' or 'nyu-tree'.

    ``split`` ('all', 'train', 'test') filters the label files of an ICVL tree and the split folders of
    an NYU tree. Raises SdnetError for a missing path, a folder without PNGs or a tree without frames
    of ``split``.
    """
    path = Path(path)
    if path.is_file():
        return "png", [FrameRef(path, path.parent.name, 0, path.stem)]
    if not path.is_dir():
        raise SdnetError(f"{path}: no such file or folder")
    if _is_icvl_tree(path):
        frames, names = [], set()
        for lf in find_label_files(path):
            if split != "all" and lf.split_hint != split:
                continue
            positions: dict[str, int] = {}
            for rel in _label_paths(lf.path):
                folder = "/".join(rel.replace("\\", "/").split("/")[:-1])
                seq = f"{lf.depth_dir.relative_to(path).as_posix()}/{folder}".rstrip("/")
                index = positions.get(seq, 0)
                positions[seq] = index + 1
                stem = _unique(re.sub(r"[^\w.-]+", "__", f"{seq}/{Path(rel).stem}"), names)
                frames.append(FrameRef(lf.depth_dir / rel, seq, index, stem))
        if not frames:
            raise SdnetError(f"{path}: the ICVL tree lists no frames for split '{split}'")
        return "icvl-tree", frames
    nyu_splits = _nyu_splits(path)
    if nyu_splits:
        frames = _nyu_frames(path, nyu_splits, split)
        if not frames:
            raise SdnetError(f"{path}: the NYU tree has no depth_1_*.png frames for split '{split}'")
        return "nyu-tree", frames
    pngs = sorted((p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".png"),
                  key=lambda p: natural_key(p.name))
    if not pngs:
        raise SdnetError(f"{path}: no PNG files in this folder (and no ICVL label files)")
    names: set[str] = set()
    seq = path.resolve().name
    return "folder", [FrameRef(p, seq, i, _unique(p.stem, names)) for i, p in enumerate(pngs)]


def _unique(name: str, used: set[str]) -> str:
    out, k = name, 1
    while out in used:
        out, k = f"{name}_{k}", k + 1
    used.add(out)
    return out
