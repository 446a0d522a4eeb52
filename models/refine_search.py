"""Choosing the refinement's parameters (``RefineConfig``) by exhaustive search on a validation split.

Errors are mean Euclidean joint errors in mm, joints camera xyz in mm; depth, bands and intrinsics as
for ``models.refine.refine_poses``. The test split must never be searched on.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import product
from typing import Mapping, Sequence

import numpy as np

from models.prior import BonePrior
from models.refine import foreground_tables, refine_poses
from pipeline.camera import Intrinsics
from pipeline.config import RefineConfig
from pipeline.joint_error import mean_joint_error_mm
from pipeline.skeleton import Skeleton


@dataclass(frozen=True)
class RefineSearch:
    """Result of ``choose_refine_params``: errors are mean joint errors in mm on the given split."""

    best: RefineConfig
    best_error_mm: float
    unrefined_error_mm: float
    table: tuple[dict, ...]  # one row per grid point: its parameters and ``mean_error_mm``


def choose_refine_params(pred_xyz, gt_xyz, depth, band, intrinsics: Intrinsics, prior: BonePrior,
                         grid: Mapping[str, Sequence], skeleton: Skeleton,
                         base: RefineConfig = RefineConfig(), sequence_ids=None,
                         frame_idx=None) -> RefineSearch:
    """Pick refinement parameters by exhaustive search on a *validation* split (never test).

    Args:
      pred_xyz, gt_xyz: (N, J, 3) CNN estimates and ground truth, camera mm.
      depth, band, intrinsics, sequence_ids, frame_idx, skeleton: as for ``refine_poses``.
      grid: RefineConfig field name -> values to try, e.g. {"gamma_d": [0, 1e-3], "radius_mm": [5, 8]};
        every combination is tried on top of ``base``.
    Returns:
      the configuration of lowest mean error (first in grid order on ties), with the table of all.
    """
    known = set(RefineConfig.__dataclass_fields__)
    unknown = set(grid) - known
    if unknown:
        raise ValueError(f"choose_refine_params: unknown parameters {sorted(unknown)}")
    if not grid or any(len(v) == 0 for v in grid.values()):
        raise ValueError("choose_refine_params: every grid parameter needs at least one value")
    tables = foreground_tables(depth, band)  # once for the whole grid (~0.3 MB per frame)
    names = list(grid)
    rows, best, best_err = [], None, np.inf
    for values in product(*(grid[k] for k in names)):
        params = dict(zip(names, values))
        cfg = replace(base, **params)
        out = refine_poses(pred_xyz, None, None, intrinsics, prior, skeleton, cfg, sequence_ids,
                           frame_idx, tables=tables)
        err = mean_joint_error_mm(out, gt_xyz)
        rows.append({**params, "mean_error_mm": err})
        if err < best_err:
            best, best_err = cfg, err
    return RefineSearch(best=best, best_error_mm=float(best_err),
                        unrefined_error_mm=mean_joint_error_mm(pred_xyz, gt_xyz), table=tuple(rows))
