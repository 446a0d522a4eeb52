"""The refinement stage of a run: fit the bone prior, choose the weights on 'val', refine a split.

Artifacts in the run dir (written once, reused by eval and predict):
  RUN/prior.json   the bone-length mixture, fitted by EM on the *training* split's ground truth
  RUN/refine.json  the RefineConfig chosen on the *validation* split, with the search table
The test split is never used to fit or choose anything.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from pipeline.camera import Intrinsics, xyz_to_uvd
from pipeline.config import RefineConfig, from_dict, to_dict
from pipeline.errors import SdnetError
from pipeline.fsutil import write_json
from pipeline.inference import (PRIOR_FILE, REFINE_FILE, SplitPredictions, hand_band,
                                load_depth_frames, predict_split)

# Searched on the validation split (every combination; about 1-2 ms per frame each). The window
# matters: phi_D centres a joint in a finger only when the window is about a finger wide.
DEFAULT_GRID = {
    "radius_mm": (4.0, 8.0, 12.0),
    "gamma_d": (0.0, 0.004, 0.01),
    "gamma_m": (0.0, 0.05),
    "window": (2, 4),
}
MAX_FIT_POSES = 20000
MAX_VAL_FRAMES = 600


def training_poses(data_dir: Path, limit: int = MAX_FIT_POSES) -> np.ndarray:
    """(N, J, 3) camera-mm ground truth of the unrotated training records (at most ``limit``)."""
    from pipeline.input import make_dataset

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


def ensure_prior(run_dir: Path, data_dir: Path):
    """RUN/prior.json, fitted on the training split when absent."""
    from models.prior import BonePrior, fit_bone_prior

    path = Path(run_dir) / PRIOR_FILE
    if path.is_file():
        try:
            return BonePrior.from_dict(json.loads(path.read_text()))
        except (ValueError, KeyError, json.JSONDecodeError) as e:
            raise SdnetError(f"{path}: not a valid bone prior ({e})") from None
    prior = fit_bone_prior(training_poses(data_dir))
    write_json(path, prior.to_dict())
    return prior


def refine_split(preds: SplitPredictions, depth: np.ndarray, intr: Intrinsics, prior,
                 cfg: RefineConfig) -> tuple[np.ndarray, float]:
    """Refined (N, J, 3) image uvd of ``preds`` and the refinement's ms per frame."""
    from models.refine import refine_poses

    t0 = time.perf_counter()
    xyz = refine_poses(preds.pred_xyz, depth, hand_band(preds.centre_xyz, preds.cube_mm), intr,
                       prior, cfg, preds.sequence, preds.frame)
    ms = 1000.0 * (time.perf_counter() - t0) / max(1, len(preds))
    return xyz_to_uvd(xyz, intr), ms


def ensure_refine_config(run_dir: Path, data_dir: Path, model, manifest: dict, intr: Intrinsics,
                         prior, grid: dict = DEFAULT_GRID) -> RefineConfig:
    """RUN/refine.json: the RefineConfig of lowest mean error on (part of) the validation split."""
    from models.refine import choose_refine_params

    path = Path(run_dir) / REFINE_FILE
    if path.is_file():
        try:
            return from_dict(RefineConfig, json.loads(path.read_text())["config"], str(path))
        except (ValueError, KeyError, TypeError, json.JSONDecodeError) as e:
            raise SdnetError(f"{path}: not a valid refinement config ({e})") from None
    if not manifest["counts"].get("val"):
        cfg, table, note = RefineConfig(), [], "no validation split: defaults used"
        unrefined = best = None
    else:
        preds = predict_split(model, data_dir, "val", intr, limit=MAX_VAL_FRAMES)
        depth = load_depth_frames(manifest, "val", preds.path, intr)
        search = choose_refine_params(
            preds.pred_xyz, preds.gt_xyz, depth, hand_band(preds.centre_xyz, preds.cube_mm), intr,
            prior, grid, sequence_ids=preds.sequence, frame_idx=preds.frame)
        cfg, table, note = search.best, list(search.table), f"chosen on {len(preds)} val frames"
        unrefined, best = search.unrefined_error_mm, search.best_error_mm
    write_json(path, {"config": to_dict(cfg), "note": note, "val_unrefined_mm": unrefined,
                      "val_refined_mm": best, "grid": {k: list(v) for k, v in grid.items()},
                      "table": table})
    return cfg


