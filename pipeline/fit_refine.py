"""``sdnet fit-refine``: fit a run's refinement once, on its training and validation splits.

Writes into the run directory (``pipeline.rundir``), so that ``sdnet eval`` and ``sdnet predict`` only read:
  RUN/prior.json   the bone-length mixture, fitted by EM on the *training* split's ground truth (camera mm)
  RUN/refine.json  the RefineConfig of lowest mean error on (part of) the *validation* split, with the
                   search table (every grid cell's validation error, mm)
The test split is never read. The validation depth frames come from the source tree recorded in the
data manifest (they are needed for the background term); once fitted, the run no longer needs them.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from models.prior import fit_bone_prior
from models.refine_search import choose_refine_params
from pipeline.camera import Intrinsics
from pipeline.config import RefineConfig, RefineFitConfig, to_dict
from pipeline.errors import SdnetError
from pipeline.fsutil import write_json
from pipeline.inference import hand_band, load_depth_frames, predict_split
from pipeline.input import check_manifest, make_dataset, read_manifest
from pipeline.rundir import RunDir, check_data_for_run, load_model, load_run_config, run_dataset
from pipeline.skeleton import Skeleton


def training_poses(data_dir: Path, limit: int) -> np.ndarray:
    """(N, J, 3) camera-mm ground truth of the unrotated training records (at most ``limit``)."""
    out, n = [], 0
    for _, _, meta in make_dataset(data_dir, "train", 256, with_meta=True):
        keep = meta["angle_deg"].numpy() == 0.0
        xyz = meta["xyz"].numpy()[keep]
        out.append(xyz)
        n += len(xyz)
        if n >= limit:
            break
    if not out or n == 0:
        raise SdnetError(f"{data_dir}: no training records to fit the bone prior on")
    return np.concatenate(out)[:limit].astype(np.float64)


def fit_prior(data_dir: Path, limit: int, skeleton: Skeleton):
    """The bone-length mixture (models.prior.BonePrior) of (at most ``limit`` of) the training split's
    poses, one per bone of ``skeleton`` (the run's)."""
    return fit_bone_prior(training_poses(data_dir, limit), skeleton)


def choose_refine_config(model, data_dir: Path, manifest: dict, intr: Intrinsics, prior,
                         grid: dict, max_frames: int, dataset) -> dict:
    """The refine.json record: the grid cell of lowest mean error on the first ``max_frames`` validation
    records (CNN predictions of ``model``), or the defaults when the data has no validation split.
    ``dataset``: the run's (``rundir.run_dataset``): its skeleton and depth decoding."""
    grid_doc = {k: list(v) for k, v in grid.items()}
    if not manifest["counts"].get("val"):
        return {"config": to_dict(RefineConfig()), "note": "no validation split: defaults used",
                "val_unrefined_mm": None, "val_refined_mm": None, "grid": grid_doc, "table": []}
    preds = predict_split(model, data_dir, "val", intr, dataset.skeleton, limit=max_frames)
    depth = load_depth_frames(manifest, "val", preds.path, intr, dataset)
    search = choose_refine_params(
        preds.pred_xyz, preds.gt_xyz, depth, hand_band(preds.centre_xyz, preds.cube_mm), intr,
        prior, grid, dataset.skeleton, sequence_ids=preds.sequence, frame_idx=preds.frame)
    return {"config": to_dict(search.best), "note": f"chosen on {len(preds)} val frames",
            "val_unrefined_mm": search.unrefined_error_mm, "val_refined_mm": search.best_error_mm,
            "grid": grid_doc, "table": list(search.table)}


def fit_refinement(run_dir: Path, data_dir: Path, fit: RefineFitConfig, progress: bool = True) -> dict:
    """Fit RUN/prior.json on DATA's training split and choose RUN/refine.json on its validation split
    (replacing both when present) as ``fit`` says (the run's ``refine`` section: grid, frames); returns
    the refine.json record. ``data_dir`` must be the data the run was trained on (same crop size and cube)."""
    run = RunDir(run_dir)
    manifest = read_manifest(data_dir)
    check_manifest(manifest, where=str(data_dir))
    check_data_for_run(run_dir, manifest, data_dir)
    intr = Intrinsics.from_dict(manifest["intrinsics"])
    model = load_model(run_dir)
    dataset = run_dataset(load_run_config(run_dir))
    t0 = time.perf_counter()
    prior = fit_prior(data_dir, fit.max_fit_poses, dataset.skeleton)
    record = choose_refine_config(model, data_dir, manifest, intr, prior, fit.grid(), fit.val_frames, dataset)
    record["seconds"] = round(time.perf_counter() - t0, 1)
    write_json(run.prior, prior.to_dict())
    write_json(run.refine, record)
    if progress:
        print(refine_summary(record, run.refine), file=sys.stderr)
    return record


def refine_summary(record: dict, refine_path: Path) -> str:
    """The one line ``fit_refinement`` prints about a refine.json ``record``: the validation errors (mm)
    without and with the chosen refinement, and a warning when even the best grid cell does not lower
    the error (the search has no identity cell: the report then scores both, and --no-refine skips it)."""
    if record["val_refined_mm"] is None:
        return f"refinement: {record['note']} -> {refine_path}"
    line = (f"refinement: validation error {record['val_unrefined_mm']:.2f} mm (CNN) -> "
            f"{record['val_refined_mm']:.2f} mm refined, {record['note']} ({record.get('seconds', 0):.0f} s) "
            f"-> prior.json, {refine_path.name}")
    if record["val_refined_mm"] >= record["val_unrefined_mm"]:
        line += "; warning: no grid cell lowers the validation error (compare with --no-refine)"
    return line
