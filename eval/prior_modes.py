"""Experiment: the refinement's bone term as -pdf (paper Eq. 9) or as -log pdf, measured.

    python -m eval.prior_modes --run RUN --data DATA [--val-frames 600]

For each mode the refinement weights are chosen on the validation split (its own grid: -log pdf is
about 1/0.15 times larger than -pdf near the modes, so its other weights are scaled by that factor),
then the chosen setting refines the test split. Prints one JSON line per mode: validation and test
mean error and test fingertip error, in mm, without and with refinement. Nothing is fitted on test.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from eval.metrics import fingertip_mean_error, mean_error
from models.refine_search import choose_refine_params
from pipeline.camera import Intrinsics, uvd_to_xyz
from pipeline.config import RefineConfig
from pipeline.inference import hand_band, load_depth_frames, predict_split, refine_split
from pipeline.input import read_manifest
from pipeline.rundir import load_model, load_prior, load_run_config, run_dataset

PDF_GRID = {"radius_mm": (4.0, 8.0), "gamma_d": (0.004, 0.01, 0.02), "window": (2, 4)}
LOG_SCALE = 1.0 / 0.15  # -log pdf per -pdf unit near the mixture modes (models/prior.py)


def grid_for(mode: str) -> tuple[dict, float]:
    """(grid, gamma_a) of a prior mode: the -pdf grid, scaled for -log pdf."""
    if mode == "pdf":
        return PDF_GRID, 0.02
    return {**PDF_GRID, "gamma_d": tuple(g * LOG_SCALE for g in PDF_GRID["gamma_d"])}, 0.02 * LOG_SCALE


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--val-frames", type=int, default=600)
    args = p.parse_args(argv)

    manifest = read_manifest(args.data)
    intr = Intrinsics.from_dict(manifest["intrinsics"])
    model = load_model(args.run)
    prior = load_prior(args.run)  # fitted by `sdnet fit-refine`
    ds = run_dataset(load_run_config(args.run))
    sk = ds.skeleton
    val = predict_split(model, args.data, "val", intr, sk, limit=args.val_frames)
    val_depth = load_depth_frames(manifest, "val", val.path, intr, ds)
    test = predict_split(model, args.data, "test", intr, sk)
    test_depth = load_depth_frames(manifest, "test", test.path, intr, ds)
    for mode in ("pdf", "neglogpdf"):
        grid, gamma_a = grid_for(mode)
        base = dataclasses.replace(RefineConfig(), prior_mode=mode, gamma_a=gamma_a, gamma_m=0.0)
        search = choose_refine_params(val.pred_xyz, val.gt_xyz, val_depth,
                                      hand_band(val.centre_xyz, val.cube_mm), intr, prior, grid, sk,
                                      base, val.sequence, val.frame)
        refined_uvd, _ = refine_split(test, test_depth, intr, prior, search.best, sk)
        refined = uvd_to_xyz(refined_uvd, intr)
        print(json.dumps({
            "prior_mode": mode, "chosen": dataclasses.asdict(search.best),
            "val_mm": [round(search.unrefined_error_mm, 3), round(search.best_error_mm, 3)],
            "test_mm": [round(mean_error(test.pred_xyz, test.gt_xyz), 3),
                        round(mean_error(refined, test.gt_xyz), 3)],
            "test_fingertips_mm": [round(fingertip_mean_error(test.pred_xyz, test.gt_xyz, sk), 3),
                                   round(fingertip_mean_error(refined, test.gt_xyz, sk), 3)],
        }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
