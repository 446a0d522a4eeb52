"""A run's TrainConfig: resolved from a manifest, a preset and the command-line overrides, written to
and read from RUN/config.json, compared on ``--resume``; the per-angle thresholds of the skeleton loss
derived from the training labels."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from pipeline.config import DEFAULT_EPOCHS, AugmentConfig, TrainConfig, TrainDataInfo, from_dict, to_dict
from pipeline.errors import SdnetError
from pipeline.rundir import RunDir
from pipeline.skeleton import ICVL_SKELETON
from pipeline.training.data import DataSource, training_poses

LOSS_OVERRIDES = ("sdl_weight", "alpha", "beta", "omega1", "omega2", "threshold_deg", "threshold_percentile",
                  "penalty", "joint_loss", "sdl_start", "sdl_ramp")
TOP_OVERRIDES = ("batch_size", "epochs", "steps", "steps_per_epoch", "minutes", "learning_rate",
                 "warmup_steps", "min_lr_fraction", "seed", "precision", "strategy")
# option name -> AugmentConfig field, and ModelConfig fields that can be overridden.
AUGMENT_OVERRIDES = {"aug_rotation_deg": "rotation_deg", "aug_scale": "scale", "aug_shift_mm": "shift_mm",
                     "aug_pixel_dropout": "pixel_dropout"}
MODEL_OVERRIDES = ("dropout", "batch_norm", "pca_dims")
NO_AUGMENT = AugmentConfig(rotation_deg=0.0, scale=0.0, shift_mm=0.0, pixel_dropout=0.0)


def data_info(manifest: dict, data_dir: str | Path = "") -> TrainDataInfo:
    """The part of a manifest a run records: crop [px], cube [mm], intrinsics, skeleton, counts."""
    try:
        return TrainDataInfo(
            data_dir=str(Path(data_dir).resolve()) if data_dir else "",
            schema_version=int(manifest["schema_version"]), crop_size=int(manifest["crop_size"]),
            cube_mm=float(manifest["cube_mm"]), intrinsics=dict(manifest["intrinsics"]),
            skeleton=dict(manifest["skeleton"]), counts={k: int(v) for k, v in manifest["counts"].items()},
            centre=dict(manifest.get("config", {}).get("centre", {})))
    except (KeyError, TypeError, ValueError) as e:
        raise SdnetError(f"manifest of {data_dir or 'the data'}: missing or invalid field ({e})") from None


def resolve_config(manifest: dict, overrides: dict, base: TrainConfig | None = None,
                   data_dir: str | Path = "") -> TrainConfig:
    """A TrainConfig from ``base`` (or the defaults of ``overrides['preset']``) with ``overrides``
    applied (keys: 'preset', LOSS_OVERRIDES, TOP_OVERRIDES, AUGMENT_OVERRIDES, MODEL_OVERRIDES; None
    values ignored) and the data fields taken from ``manifest``; the model's input size is the
    manifest's crop size. Giving ``steps`` clears ``epochs`` and the other way round.
    """
    from models.sdnet import preset, with_input_size

    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(given) - {"preset", *LOSS_OVERRIDES, *TOP_OVERRIDES, *AUGMENT_OVERRIDES, *MODEL_OVERRIDES}
    if unknown:
        raise ValueError(f"unknown training options {sorted(unknown)}")
    info = data_info(manifest, data_dir)
    try:
        if base is None:
            base = TrainConfig(model=preset(given.get("preset", "cpu")))
        model = base.model
        if "preset" in given and given["preset"] != model.preset:
            model = preset(given["preset"])
        model = dataclasses.replace(model, **{k: given[k] for k in MODEL_OVERRIDES if k in given})
        loss = dataclasses.replace(base.loss, **{k: given[k] for k in LOSS_OVERRIDES if k in given})
        augment = dataclasses.replace(base.augment, **{f: given[k] for k, f in AUGMENT_OVERRIDES.items()
                                                       if k in given})
        top = {k: given[k] for k in TOP_OVERRIDES if k in given}
        if "steps" in top:
            top.setdefault("epochs", None)
        elif "epochs" in top:
            top.setdefault("steps", None)
        cfg = dataclasses.replace(base, model=with_input_size(model, info.crop_size), loss=loss, data=info,
                                  augment=augment, **top)
        if cfg.epochs is None and cfg.steps is None and cfg.minutes is None:
            cfg = dataclasses.replace(cfg, epochs=DEFAULT_EPOCHS)
    except ValueError as e:
        raise SdnetError(str(e)) from None
    return cfg


def config_json(cfg: TrainConfig) -> dict:
    """The JSON form of a config (tuples as lists), as written to RUN/config.json."""
    return json.loads(json.dumps(to_dict(cfg)))


def config_differences(a: TrainConfig, b: TrainConfig) -> list[str]:
    """Dotted names of the fields whose values differ between two configs."""
    def flat(d, prefix=""):
        out = {}
        for k, v in d.items():
            if isinstance(v, dict) and k not in ("intrinsics", "skeleton", "counts"):
                out.update(flat(v, f"{prefix}{k}."))
            else:
                out[f"{prefix}{k}"] = v
        return out

    fa, fb = flat(config_json(a)), flat(config_json(b))
    return sorted(k for k in set(fa) | set(fb) if fa.get(k) != fb.get(k))


def load_run_config(run_dir: str | Path) -> TrainConfig:
    """RUN/config.json as a TrainConfig; SdnetError when missing or invalid."""
    path = RunDir(run_dir).config
    if not path.is_file():
        raise SdnetError(f"{path}: no run config (is {run_dir} a training run?)")
    try:
        d = json.loads(path.read_text())
        if isinstance(d, dict):  # runs written before ``precision`` and online augmentation
            if "mixed_precision" in d:
                d["precision"] = "float16" if d.pop("mixed_precision") else "float32"
            d.setdefault("augment", to_dict(NO_AUGMENT))
        return from_dict(TrainConfig, d, where=str(path))
    except (json.JSONDecodeError, TypeError, ValueError) as e:
        raise SdnetError(f"{path}: invalid run config ({e})") from None


def with_angle_thresholds(cfg: TrainConfig, data: DataSource, saved: TrainConfig | None = None,
                          n: int = 8192) -> TrainConfig:
    """``cfg`` with ``loss.angle_thresholds_deg`` filled in when ``threshold_deg`` is None: taken
    from ``saved`` (a resumed run keeps its thresholds) or derived from about ``n`` training labels,
    not augmented (the ``threshold_percentile`` of each bone-pair angle, degrees)."""
    from models.losses import angle_thresholds

    loss = cfg.loss
    if loss.threshold_deg is not None or loss.angle_thresholds_deg:
        return cfg
    if saved is not None and saved.loss.angle_thresholds_deg and \
            saved.loss.threshold_percentile == loss.threshold_percentile:
        values = saved.loss.angle_thresholds_deg
    else:
        poses = training_poses(data, dataclasses.replace(cfg, augment=NO_AUGMENT), n)
        values = np.degrees(angle_thresholds(poses, loss.threshold_percentile, ICVL_SKELETON))
    loss = dataclasses.replace(loss, angle_thresholds_deg=tuple(round(float(v), 3) for v in values))
    return dataclasses.replace(cfg, loss=loss)
