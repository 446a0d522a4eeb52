"""The loaders of a run directory's files (their names and ``RunDir``: ``pipeline.runfiles``), in one place.

The run's config, summary and refinement records are JSON; the pose network is Keras (``load_model``),
the bone prior a ``models.prior.BonePrior``. Loaders raise ``SdnetError`` with one line naming the file
and the problem.
"""
from __future__ import annotations

from pathlib import Path

import keras

import models.losses  # noqa: F401  (registers the custom losses and metrics, for load_model)
import models.sdnet  # noqa: F401
from models.prior import BonePrior
from pipeline.camera import Intrinsics
from pipeline.config import RefineConfig, TrainConfig, from_dict
from pipeline.datasets import Dataset, dataset_of
from pipeline.errors import SdnetError
from pipeline.experiment import experiment_from_dict
from pipeline.fsutil import read_json_file
from pipeline.runfiles import RunDir
from pipeline.skeleton import Skeleton


def load_run_config(run_dir: str | Path) -> TrainConfig:
    """RUN/config.json, the run's resolved experiment, as a TrainConfig: the one reader of it (train on
    --resume, fit-refine, fit-centre, eval, predict, export). SdnetError with one line naming the file
    when it is missing, of another format version, or invalid."""
    path = RunDir(run_dir).config
    if not path.is_file():
        raise SdnetError(f"{path}: not a run directory (no config.json)")
    doc = read_json_file(path, "run config")
    try:
        cfg = experiment_from_dict(doc, str(path))
    except (TypeError, ValueError) as e:
        raise SdnetError(str(e)) from None
    if not cfg.source.intrinsics or not cfg.source.skeleton:
        raise SdnetError(f"{path}: the run records no source data (an experiment file, not a trained run?)")
    return cfg


def read_summary(run_dir: str | Path) -> dict | None:
    """RUN/summary.json, or None when training has not finished."""
    path = RunDir(run_dir).summary
    return read_json_file(path, "run summary") if path.is_file() else None


def load_model(run_dir: str | Path):
    """The Keras pose network of RUN/model.keras (SdnetError when it is missing or unreadable)."""
    path = RunDir(run_dir).model
    if not path.is_file():
        raise SdnetError(f"{path}: no trained model (run `sdnet train --out {Path(run_dir)}` first)")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as e:  # noqa: BLE001 - any load failure is a corrupt file for the user
        raise SdnetError(f"{path}: cannot load the model ({type(e).__name__}: {e})") from None


def load_prior(run_dir: str | Path):
    """The run's bone prior (models.prior.BonePrior) from RUN/prior.json, checked against the run's
    skeleton (``run_skeleton``)."""
    path = RunDir(run_dir).prior
    doc = read_json_file(path, "bone prior (run `sdnet fit-refine`)")
    skeleton = run_skeleton(load_run_config(run_dir))
    try:
        prior = BonePrior.from_dict(doc)
    except (ValueError, KeyError, TypeError) as e:
        raise SdnetError(f"{path}: not a valid bone prior ({e})") from None
    if tuple(tuple(b) for b in prior.bones) != skeleton.bones:
        raise SdnetError(f"{path}: the bone prior was fitted for another skeleton than the run's "
                         f"({len(prior.bones)} bones, the run's has {len(skeleton.bones)}); rerun `sdnet fit-refine`")
    return prior


def read_refine_record(run_dir: str | Path) -> dict:
    """RUN/refine.json as written by ``sdnet fit-refine``: config, note, validation errors, grid, table."""
    return read_json_file(RunDir(run_dir).refine, "refinement config (run `sdnet fit-refine`)")


def load_refine_config(run_dir: str | Path):
    """The run's RefineConfig from RUN/refine.json (SdnetError when missing or invalid)."""
    path = RunDir(run_dir).refine
    doc = read_refine_record(run_dir)
    try:
        return from_dict(RefineConfig, doc["config"], str(path))
    except (ValueError, KeyError, TypeError) as e:
        raise SdnetError(f"{path}: not a valid refinement config ({e})") from None


def load_refinement(run_dir: str | Path):
    """(BonePrior, RefineConfig) of the run; SdnetError naming what is missing and how to make it."""
    run = RunDir(run_dir)
    if not run.has_refinement:
        missing = run.prior if not run.prior.is_file() else run.refine
        raise SdnetError(f"{run.path}: the run has no {missing.name} for the refinement; run "
                         f"`sdnet fit-refine --run {run.path} --data DATA` (make train does), "
                         "or pass --no-refine")
    return load_prior(run_dir), load_refine_config(run_dir)


def run_dataset(cfg: TrainConfig) -> Dataset:
    """The registered dataset (``pipeline.datasets``) the run was trained on: ``cfg.data.dataset``,
    checked against the skeleton the run recorded from its data (``cfg.source.skeleton``). SdnetError
    (one line) when the name is unknown or the recorded skeleton is not the registry's."""
    return dataset_of(cfg.data.dataset, dict(cfg.source.skeleton) if cfg.source.skeleton else None,
                      where="run config (data.dataset, source.skeleton)")


def run_skeleton(cfg: TrainConfig) -> Skeleton:
    """The skeleton of the run's joints (``run_dataset(cfg).skeleton``): J, bones, parts and layers of
    everything the run predicts, refines, scores and draws."""
    return run_dataset(cfg).skeleton


def run_intrinsics(cfg: TrainConfig) -> Intrinsics:
    """The camera (camera.Intrinsics) the run's data was made with."""
    try:
        return Intrinsics.from_dict(dict(cfg.source.intrinsics))
    except (TypeError, ValueError) as e:
        raise SdnetError(f"run config: bad source.intrinsics ({e})") from None


def check_data_for_run(run_dir: str | Path, manifest: dict, data_dir: str | Path) -> None:
    """SdnetError unless DATA (its manifest) was cut like the run's training data: same dataset, crop
    size px and cube mm. The stages that fit parts of a run on its data (fit-refine, fit-centre) call it first."""
    cfg = load_run_config(run_dir)
    if manifest.get("dataset") != cfg.data.dataset:
        raise SdnetError(f"{data_dir}: data of the dataset {manifest.get('dataset')!r}, but the run was trained on "
                         f"{cfg.data.dataset!r}; give the data the run was trained on")
    crop, cube = manifest.get("crop_size"), manifest.get("cube_mm")
    if crop != cfg.data.crop_size or float(cube or 0) != float(cfg.data.cube_mm):
        raise SdnetError(f"{data_dir}: crop {crop} px / cube {cube} mm differ from the run's "
                         f"({cfg.data.crop_size} px / {cfg.data.cube_mm:g} mm); give the data the run was trained on")
