"""Compare result files in the standard format against a ground truth (``sdnet compare``).

Everything dataset-specific comes from the dataset's record (``pipeline.datasets``): the joint count and
skeleton, the evaluation kit's intrinsics and the test sequences. Predictions and ground truth are image
uvd [px, px, mm]; they are converted to camera xyz [mm] with one set of intrinsics (by default the
dataset's ``scoring_camera``: ICVL's benchmark fx=240.99, fy=240.96, cx=160, cy=120; NYU's kit
588.03, 587.07, 320, 240) and scored with ``eval.metrics.summarize``, which is the kit's mean 3-D
distance. Outputs: ``metrics.json`` (method -> summary, with ``per_sequence``: the errors within each
test sequence or subject), ``settings.json``, ``table.csv`` and the figures of ``eval.plots``, written
atomically.

Published numbers come in two kinds, kept apart everywhere (per dataset, ``PUBLISHED``):
  * ``files``: the benchmark's published result files (``DIR/published/``); their mean errors are
    recomputed here (the value each paper or the kit reported is shown beside it);
  * ``reported_only``: mean errors the papers reported without a result file here; with
    ``--with-reported`` they appear as rows marked "reported, not recomputed".
"""
from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from eval.metrics import fingertip_mean_error, sequence_errors, success_at, summarize
from eval.plots import write_metric_figures
from eval.results_io import GroundTruth, read_ground_truth, read_results
from eval.tables import text_table
from pipeline.camera import Intrinsics, uvd_to_xyz
from pipeline.datasets import DATASETS, ICVL, NYU, Dataset
from pipeline.errors import SdnetError
from pipeline.fsutil import atomic_output_dir, atomic_write_text, write_json
from pipeline.skeleton import Skeleton

SOURCE_RECOMPUTED = "recomputed"
SOURCE_REPORTED = "reported, not recomputed"


@dataclass(frozen=True)
class PublishedMethod:
    """A published result: ``reported_mm`` is the mean error its authors' file gives with the
    benchmark's intrinsics (or the paper reported); ``note`` qualifies it."""

    method: str
    reported_mm: float
    note: str = ""


# File name in DIR/published/ -> method (mean errors as the papers reported them).
PUBLISHED_FILES: dict[str, PublishedMethod] = {
    "CVPR14_LRF_Results.txt": PublishedMethod("LRF", 12.578, "the paper's reference [17]"),
    "IJCAI16_ICVL_DeepModel.txt": PublishedMethod("DeepModel", 11.561),
    "NEUCOM18_ICVL_Pose_REN.txt": PublishedMethod("Pose-REN", 6.791),
    "CVPR18_ICVL_V2V_PoseNet.txt": PublishedMethod("V2V-PoseNet", 6.284),
}

# The SDNet paper's numbers, the one place they are kept (reports, `make reproduce`, --with-reported).
# Table 1: mean Euclidean error on real ICVL (mm) per skeleton-difference weight w; w = 0 is the
# baseline CNN (joint loss only, no refinement).
PAPER_TABLE1_MM: dict[float, float] = {0.0: 12.6990, 0.125: 8.8209, 0.25: 8.7291, 0.5: 8.4002}
# Section 5.3: test-time per frame on a GTX 980 (ms), and what the refinement gains (mm, a range).
PAPER_RUNTIME_MS: dict[str, float] = {"cnn": 7.0, "refinement": 12.0}
PAPER_REFINEMENT_GAIN_MM: tuple[float, float] = (0.05, 0.15)

# Mean errors on ICVL reported in papers, with no result file here (from the papers and the
# SDNet paper's text and Table 1). Never recomputed; shown only with --with-reported.
REPORTED_ONLY: tuple[PublishedMethod, ...] = (
    PublishedMethod("SDNet (paper)", round(PAPER_TABLE1_MM[0.5], 2),
                    f"paper Table 1, skeleton-difference weight 0.5: {PAPER_TABLE1_MM[0.5]:.4f}"),
    PublishedMethod("SDNet baseline CNN (paper)", PAPER_TABLE1_MM[0.0], "paper Table 1"),
    PublishedMethod("Cascaded [16]", 9.8, "about; as quoted in the SDNet paper"),
    PublishedMethod("Guo baseline", 8.358),
    PublishedMethod("DeepPrior++", 8.1, "sequence A only"),
    PublishedMethod("REN-4x6x6", 7.628),
    PublishedMethod("REN-9x6x6", 7.305),
    PublishedMethod("DenseReg", 7.239),
    PublishedMethod("SHPR-Net", 7.219),
    PublishedMethod("HandPointNet", 6.935),
    PublishedMethod("CrossInfoNet", 6.732),
    PublishedMethod("Point-to-Point", 6.328),
    PublishedMethod("SRNet", 6.152),
    PublishedMethod("TriHorn-Net", 5.73),
)

# NYU: the result files of the evaluation kit (DIR/published/) -> method, with the kit's mean (mm).
NYU_PUBLISHED_FILES: dict[str, PublishedMethod] = {
    "CVPR18_NYU_V2V_PoseNet.txt": PublishedMethod("V2V-PoseNet", 8.419, "the evaluation kit's mean"),
    "ECCV18_NYU_Point-to-Point.txt": PublishedMethod("Point-to-Point", 9.045, "the evaluation kit's mean"),
    "CVPR18_NYU_HandPointNet.txt": PublishedMethod("HandPointNet", 10.540, "the evaluation kit's mean"),
    "NEUCOM18_NYU_Pose_REN.txt": PublishedMethod("Pose-REN", 11.811, "the evaluation kit's mean"),
    "ICCVW17_NYU_DeepPrior++.txt": PublishedMethod("DeepPrior++", 12.238, "the evaluation kit's mean"),
}
# Best mean errors on NYU reported in papers, with no result file here (DESIGN.md).
NYU_REPORTED_ONLY: tuple[PublishedMethod, ...] = (
    PublishedMethod("TriHorn-Net", 7.68), PublishedMethod("AWR", 7.70), PublishedMethod("A2J", 8.61),
)


@dataclass(frozen=True)
class PublishedResults:
    """A dataset's published results: result files here (file name -> method) and reported-only ones."""

    files: dict[str, PublishedMethod]
    reported_only: tuple[PublishedMethod, ...]


# Per registered dataset (pipeline.datasets.DATASETS), by its name; a dataset without an entry has none.
PUBLISHED: dict[str, PublishedResults] = {
    ICVL.name: PublishedResults(PUBLISHED_FILES, REPORTED_ONLY),
    NYU.name: PublishedResults(NYU_PUBLISHED_FILES, NYU_REPORTED_ONLY),
}
NO_PUBLISHED = PublishedResults({}, ())


def published_results(dataset: Dataset) -> PublishedResults:
    """The published results known for ``dataset`` (none for a dataset without an entry)."""
    return PUBLISHED.get(dataset.name, NO_PUBLISHED)


TABLE_COLUMNS = ("rank", "method", "source", "mean_error_mm", "reported_mm", "fingertip_mm",
                 "max_frame_le_20mm_pct", "max_frame_le_40mm_pct", "bone_length_error_mm", "bone_length_sd_mm",
                 "jitter_mm", "frames", "note", "file")


@dataclass(frozen=True)
class PredSpec:
    """A method to compare: its display name and result file."""

    name: str
    path: Path


def _name_for_file(path: Path, published_files: dict[str, PublishedMethod]) -> str:
    published = published_files.get(path.name)
    return published.method if published else path.stem


def parse_pred_specs(specs: Sequence[str], published_files: dict[str, PublishedMethod] = PUBLISHED_FILES
                     ) -> list[PredSpec]:
    """``NAME=FILE``, a bare FILE (named from ``published_files``, ICVL's by default, or its stem) or a
    folder (each ``*.txt`` in it, sorted) -> PredSpecs. Duplicate names are refused."""
    out: list[PredSpec] = []
    for spec in specs:
        path = Path(spec)
        if "=" in spec and not path.exists():
            name, _, file = spec.partition("=")
            name = name.strip()
            if not name or not file:
                raise SdnetError(f"--pred {spec!r}: expected NAME=FILE")
            out.append(PredSpec(name, Path(file)))
        elif path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix == ".txt" and p.is_file())
            if not files:
                raise SdnetError(f"{path}: folder holds no .txt result files")
            out.extend(PredSpec(_name_for_file(p, published_files), p) for p in files)
        else:
            out.append(PredSpec(_name_for_file(path, published_files), path))
    seen: dict[str, Path] = {}
    for s in out:
        if s.name in seen:
            raise SdnetError(f"method name {s.name!r} is given twice ({seen[s.name]} and {s.path}); "
                             "use NAME=FILE to name them apart")
        seen[s.name] = s.path
    return out


def score(gt_uvd: np.ndarray, preds_uvd: dict[str, np.ndarray], intr: Intrinsics, sequences=None, *,
          skeleton: Skeleton) -> tuple[dict[str, dict], dict[str, float]]:
    """Per method, its ``eval.metrics.summarize`` summary (on ``skeleton``) and its fingertip mean
    error (mm).

    uvd (N, J, 3) [px, px, mm] is converted to camera xyz [mm] with ``intr`` first; ``sequences`` (N,)
    the test sequence of each frame (for the plausibility's bone-length sd and jitter), or None. Each
    summary also holds ``per_sequence`` (``eval.metrics.sequence_errors``; None without sequences).
    """
    gt_xyz = uvd_to_xyz(gt_uvd, intr)  # (N, J, 3) mm
    summaries, tips = {}, {}
    for name, uvd in preds_uvd.items():
        pred_xyz = uvd_to_xyz(uvd, intr)  # (N, J, 3) mm
        summaries[name] = {
            **summarize(pred_xyz, gt_xyz, skeleton=skeleton, sequences=sequences),
            "per_sequence": None if sequences is None else sequence_errors(pred_xyz, gt_xyz, sequences)}
        tips[name] = fingertip_mean_error(pred_xyz, gt_xyz, skeleton)
    return summaries, tips


def table_rows(metrics: dict[str, dict], files: dict[str, Path] | None = None,
               with_reported: bool = False, fingertips: dict[str, float] | None = None,
               published: PublishedResults = PUBLISHED[ICVL.name]) -> list[dict]:
    """Rows of the comparison table, sorted by mean error (recomputed, else reported), ranked.

    Recomputed rows carry the published value of their file (``published.files``, ICVL's by default)
    in ``reported_mm`` when it is known; with ``with_reported`` the ``published.reported_only``
    methods are added, marked as not recomputed. ``fingertips`` holds optional fingertip mean errors
    (mm) per method.
    """
    files = files or {}
    fingertips = fingertips or {}
    rows = []
    for name, m in metrics.items():
        path = files.get(name)
        known = published.files.get(path.name) if path is not None else None
        rows.append({
            "method": name,
            "source": SOURCE_RECOMPUTED,
            "mean_error_mm": m["mean_error_mm"],
            "reported_mm": known.reported_mm if known else None,
            "fingertip_mm": fingertips.get(name),
            "max_frame_le_20mm_pct": 100.0 * success_at(m, "max_frame", 20.0),
            "max_frame_le_40mm_pct": 100.0 * success_at(m, "max_frame", 40.0),
            **{k: m.get(k) for k in ("bone_length_error_mm", "bone_length_sd_mm", "jitter_mm")},
            "frames": m["frames"],
            "note": known.note if known else "",
            "file": str(path) if path is not None else "",
        })
    if with_reported:
        for r in published.reported_only:
            rows.append({"method": r.method, "source": SOURCE_REPORTED, "mean_error_mm": None,
                         "reported_mm": r.reported_mm, "fingertip_mm": None,
                         "max_frame_le_20mm_pct": None, "max_frame_le_40mm_pct": None,
                         "bone_length_error_mm": None, "bone_length_sd_mm": None, "jitter_mm": None,
                         "frames": None, "note": r.note, "file": ""})

    def key(row):
        value = row["mean_error_mm"] if row["mean_error_mm"] is not None else row["reported_mm"]
        return (value, row["source"] != SOURCE_RECOMPUTED, row["method"])

    rows.sort(key=key)
    for i, row in enumerate(rows, start=1):
        row["rank"] = i
    return [{c: row[c] for c in TABLE_COLUMNS} for row in rows]


# The terminal table's columns: row key -> header; decimals of its floats.
_TABLE_HEADERS = {"rank": "#", "method": "method", "mean_error_mm": "mean err (mm)",
                  "reported_mm": "reported (mm)", "fingertip_mm": "tips (mm)",
                  "max_frame_le_20mm_pct": "max<=20mm (%)", "max_frame_le_40mm_pct": "max<=40mm (%)",
                  "bone_length_error_mm": "bone err (mm)", "bone_length_sd_mm": "bone sd (mm)",
                  "jitter_mm": "jitter (mm)", "frames": "frames", "source": "source"}
_TABLE_DECIMALS = {"max_frame_le_20mm_pct": 1, "max_frame_le_40mm_pct": 1}


def format_table(rows: list[dict]) -> str:
    """The table as aligned text for the terminal (mm with 3 decimals, percentages with 1, '-' where a
    value does not apply)."""
    lines = [text_table(rows, _TABLE_HEADERS, _TABLE_DECIMALS)]
    if any(row["source"] == SOURCE_REPORTED for row in rows):
        lines.append("rows with source 'reported, not recomputed' quote the papers; "
                     "'reported (mm)' beside a recomputed row is its published value")
    return "\n".join(lines)


def format_sequence_table(metrics: dict[str, dict]) -> str | None:
    """Each method's mean error within every test sequence (subject), as aligned text (mm, 3 decimals),
    methods in ``metrics`` order; None when no method has a per-sequence split."""
    split = {name: m["per_sequence"] for name, m in metrics.items() if m.get("per_sequence")}
    if not split:
        return None
    names = list(dict.fromkeys(seq for per in split.values() for seq in per))
    rows = [{"method": method, **{seq: per[seq]["mean_error_mm"] for seq in per}} for method, per in split.items()]
    headers = {"method": "method", **{seq: f"{seq} (mm)" for seq in names}}
    frames = ", ".join(f"{seq} {next(iter(split.values()))[seq]['frames']}" for seq in names)
    return f"mean error per test sequence (frames: {frames})\n" + text_table(rows, headers)


def table_csv(rows: list[dict]) -> str:
    """The table as CSV text (empty cells where a value does not apply)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(TABLE_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else (f"{v:.6f}" if isinstance(v, float) else v))
                         for k, v in row.items()})
    return buf.getvalue()


def load_inputs(gt_paths: Sequence[Path], specs: Sequence[PredSpec], list_path: Path | None = None,
                num_joints: int = ICVL.num_joints) -> tuple[GroundTruth, dict[str, np.ndarray]]:
    """Read and validate the ground truth (with its image list, when given) and every prediction file
    (``num_joints`` joints a line; frame counts must match)."""
    gt = read_ground_truth(gt_paths, list_path, num_joints=num_joints)
    preds = {s.name: read_results(s.path, expected_frames=gt.frames, expected_source=gt.description,
                                  num_joints=num_joints) for s in specs}
    return gt, preds


def ground_truth_sequences(gt: GroundTruth, dataset: Dataset) -> tuple[str, ...] | None:
    """The test sequence of every ground-truth frame: from its image paths when the dataset's paths name
    their sequence (``Dataset.sequences_in_paths``), else from the dataset's frame ranges (the whole
    test set in label order only); None when neither applies."""
    if dataset.sequences_in_paths:
        return gt.sequences
    return dataset.frame_sequences(gt.frames)


def _no_sequences_note(gt: GroundTruth, dataset: Dataset) -> str:
    """Why a ground truth has no test sequences (one line, for the log)."""
    if dataset.sequences_in_paths:
        return ("no image paths for the ground truth (give --list): bone-length sd, jitter and the "
                "per-sequence errors are left out")
    return (f"the ground truth has {gt.frames} frames, not the {dataset.test_frames} of {dataset.name}'s test "
            "set: its test sequences are unknown, so bone-length sd, jitter and the per-sequence errors are "
            "left out")


def run_compare(gt_paths: Sequence[Path], pred_specs: Sequence[str], out: Path, intr: Intrinsics,
                camera_name: str = "custom", with_reported: bool = False, overwrite: bool = False,
                log=None, list_path: Path | None = None, dataset: Dataset = ICVL
                ) -> tuple[list[dict], dict[str, dict]]:
    """The whole of ``sdnet compare`` on ``dataset`` (its joints, skeleton, test sequences and published
    results): read, score, then write every output into ``out`` atomically.

    All inputs are validated before anything is written. Returns the table rows and metrics.json's
    content (method -> summary, in table order).
    """
    log = log or sys.stderr
    published = published_results(dataset)
    specs = parse_pred_specs(pred_specs, published.files)
    if not specs:
        raise SdnetError("no prediction file given (--pred NAME=FILE)")
    gt, preds = load_inputs(gt_paths, specs, list_path, dataset.num_joints)
    sequences = ground_truth_sequences(gt, dataset)
    if sequences is None:
        print(f"[compare] {_no_sequences_note(gt, dataset)}", file=log, flush=True)
    print(f"[compare] {dataset.name}: {len(specs)} method(s), {gt.frames} frames; camera {camera_name} "
          f"(fx={intr.fx}, fy={intr.fy}, cx={intr.cx}, cy={intr.cy})", file=log, flush=True)
    metrics, tips = score(gt.uvd, preds, intr, sequences, skeleton=dataset.skeleton)
    files = {s.name: s.path for s in specs}
    rows = table_rows(metrics, files, with_reported, tips, published)
    ordered = {row["method"]: metrics[row["method"]] for row in rows if row["method"] in metrics}
    settings = {
        "dataset": dataset.name,
        "ground_truth": list(gt.sources),
        "image_list": None if list_path is None else str(list_path),
        "frames": gt.frames,
        "predictions": {s.name: str(s.path) for s in specs},
        "camera": camera_name,
        "intrinsics": intr.to_dict(),
        "units": "errors in mm (camera xyz); success curves are fractions of frames (joints for "
                 "'joint') with error <= each threshold in thresholds_mm",
    }
    with atomic_output_dir(Path(out), overwrite=overwrite) as tmp:
        write_json(tmp / "metrics.json", ordered)
        write_json(tmp / "settings.json", settings)
        atomic_write_text(tmp / "table.csv", table_csv(rows))
        write_metric_figures(tmp, ordered, dataset.skeleton)
    return rows, ordered


PUBLISHED_SUBDIR = "published"


@dataclass(frozen=True)
class PublishedDir:
    """A benchmark folder found by ``find_published``: its dataset, ground-truth files (in order), folder
    of result files and image list (None when absent or when the ground truth is label files)."""

    dataset: Dataset
    ground_truth: tuple[Path, ...]
    folder: Path
    image_list: Path | None


def ground_truth_names(dataset: Dataset) -> tuple[tuple[str, ...], ...]:
    """The file-name sets that are a ground truth of ``dataset``, preferred first (none for a dataset
    without a benchmark ground-truth file)."""
    names = [(dataset.test_label_file,)] if dataset.test_label_file else []
    if dataset.test_label_files:
        names.append(dataset.test_label_files)
    return tuple(names)


def find_published(bench_dir: Path, datasets: Sequence[Dataset] = tuple(DATASETS.values())) -> PublishedDir | None:
    """The benchmark folder ``bench_dir`` of the first of ``datasets`` whose ground truth it holds, or
    None when the ground truth or the result files are missing.

    ``bench_dir`` holds a dataset's real test labels (``Dataset.test_label_file``, else its
    ``test_label_files``: ICVL's ``icvl_test_groundtruth_label.txt`` or ``test_seq_1.txt`` and
    ``test_seq_2.txt``; NYU's ``nyu_test_groundtruth_label.txt``), optionally its image list
    (``Dataset.test_list_file``), and the published result files in ``published/`` (the layout of the
    benchmark folders of the project's shared data).
    """
    bench_dir = Path(bench_dir)
    folder = bench_dir / PUBLISHED_SUBDIR
    if not folder.is_dir() or not any(p.suffix == ".txt" for p in folder.iterdir()):
        return None
    for dataset in datasets:
        for names in ground_truth_names(dataset):
            paths = tuple(bench_dir / n for n in names)
            if all(p.is_file() for p in paths):
                listing = bench_dir / dataset.test_list_file
                return PublishedDir(dataset, paths, folder, listing if listing.is_file() and len(paths) == 1 else None)
    return None


def score_published(gt_paths: Sequence[Path], folder: Path, intr: Intrinsics, list_path: Path | None = None,
                    dataset: Dataset = ICVL) -> dict:
    """Score every result file of ``folder`` against ``gt_paths`` as ``sdnet compare`` does on
    ``dataset``.

    Returns a JSON-ready dict: ``rows`` (``table_rows``, sorted by mean error, with the published
    value beside each recomputed one), ``metrics`` (method -> ``summarize`` result), ``dataset``,
    ``ground_truth``, ``frames`` and ``intrinsics``. Errors in mm (camera xyz through ``intr``).
    """
    published = published_results(dataset)
    specs = parse_pred_specs([str(folder)], published.files)
    gt, preds = load_inputs(gt_paths, specs, list_path, dataset.num_joints)
    metrics, tips = score(gt.uvd, preds, intr, ground_truth_sequences(gt, dataset), skeleton=dataset.skeleton)
    rows = table_rows(metrics, {s.name: s.path for s in specs}, fingertips=tips, published=published)
    return {"dataset": dataset.name, "ground_truth": [str(p) for p in gt_paths], "frames": gt.frames,
            "intrinsics": intr.to_dict(), "rows": rows, "metrics": {r["method"]: metrics[r["method"]] for r in rows}}
