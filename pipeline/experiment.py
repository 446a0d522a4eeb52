"""Experiment files: read, override, resolve and write the one ``TrainConfig`` of a run.

An experiment file (``configs/*.json``, and every ``RUN/config.json``) is a JSON object with the format
``version`` and the sections of ``pipeline.config.TrainConfig``; keys it leaves out take the dataclass
defaults, which are the default experiment (``configs/default.json`` is just the version). A model
section is the preset it names (``model.preset``, default cpu) with its other keys on top;
``model.input_size`` always follows ``data.crop_size``.

Overrides are dotted keys, ``--set loss.sdl_weight=0.1``: the value is read as JSON (``0.1``, ``true``,
``null``, ``[1, 2]``), else taken as a string (``--set model.preset=paper``), then typed and checked like
the file. Setting ``model.preset`` starts the model section afresh from that preset; setting ``steps``
clears ``epochs`` and the other way round. The common options are also shorthand flags
(``--sdl-weight 0.1``), generated from the fields' help (``pipeline.config.opt``): written once.

A resolved experiment (``bind_data``) also holds ``source``, the facts of the data it trains on, after
checking that the data was cut as its ``data`` section says.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any

from pipeline.config import (CONFIG_VERSION, DATA_LAYOUT_FIELDS, PRESETS, DataConfig, TrainConfig,
                             TrainDataInfo, from_dict, to_dict)
from pipeline.errors import SdnetError
from pipeline.fsutil import read_json_file

# The keys `sdnet train` offers as shorthand flags, and those of `sdnet data` (its data section).
TRAIN_SHORTHANDS = (
    "model.preset", "epochs", "steps", "minutes", "steps_per_epoch", "batch_size", "learning_rate",
    "loss.sdl_weight", "loss.alpha", "loss.beta", "loss.penalty", "loss.threshold_deg",
    "loss.threshold_percentile", "loss.joint_loss", "loss.sdl_start", "loss.sdl_ramp", "seed", "precision",
    "strategy", "model.dropout", "model.batch_norm", "model.pca_dims", "augment.rotation_deg", "augment.scale",
    "augment.shift_mm", "augment.pixel_dropout", "data.crop_size", "data.cube_mm", "data.rotations",
    "data.centre.method", "refine.fit", "centre_refiner.fit", "centre_refiner.steps")
DATA_SHORTHANDS = (
    "data.dataset", "data.crop_size", "data.cube_mm", "data.rotations", "data.scale_jitter", "data.centre_jitter_mm",
    "data.val_fraction", "data.skip_prerotated", "data.max_reject_fraction", "data.centre.band_mm",
    "data.centre.method", "data.centre.locator", "data.shards", "data.seed", "data.test_subject")
# Length keys that exclude each other: setting one clears the other.
EXCLUSIVE = {"steps": "epochs", "epochs": "steps"}


# ----------------------------------------------------------------------------- the fields


def field_of(key: str) -> dataclasses.Field:
    """The dataclass field of a dotted key of TrainConfig (``loss.sdl_weight``); ValueError naming the
    key and the choices when there is none."""
    cls, parts = TrainConfig, key.split(".")
    for i, name in enumerate(parts):
        fields = {f.name: f for f in dataclasses.fields(cls)}
        where = ".".join(parts[:i]) or "the experiment"
        if name not in fields:
            raise ValueError(f"{key}: unknown key ({where} has {', '.join(fields)})")
        field = fields[name]
        tp = typing.get_type_hints(cls)[name]
        if i < len(parts) - 1:
            if not dataclasses.is_dataclass(tp):
                raise ValueError(f"{key}: {'.'.join(parts[:i + 1])} is a value, not a section")
            cls = tp
    return field


def _field_type(key: str):
    parts = key.split(".")
    cls = TrainConfig
    for name in parts[:-1]:
        cls = typing.get_type_hints(cls)[name]
    return typing.get_type_hints(cls)[parts[-1]]


def default_of(key: str, cfg: TrainConfig | None = None) -> Any:
    """The value of a dotted key in ``cfg`` (default: the default experiment)."""
    value: Any = cfg if cfg is not None else default_experiment()
    for name in key.split("."):
        value = getattr(value, name)
    return value


# ----------------------------------------------------------------------------- overrides


def parse_set(text: str) -> tuple[str, Any]:
    """``'loss.sdl_weight=0.1'`` -> ``('loss.sdl_weight', 0.1)``: the value as JSON, else as a string.
    ValueError for a missing '=' or an unknown key."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError(f"--set {text!r}: expected KEY=VALUE, e.g. loss.sdl_weight=0.1")
    field_of(key)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key, value


def apply_sets(doc: dict, sets: dict[str, Any]) -> dict:
    """A copy of the experiment dict ``doc`` with the dotted keys of ``sets`` set (see the module
    docstring for ``model.preset`` and the length keys)."""
    doc = json.loads(json.dumps(doc))  # a deep copy
    for key, value in sorted(sets.items(), key=lambda kv: kv[0] != "model.preset"):  # the preset first
        field_of(key)
        if key == "model.preset":
            doc["model"] = {}
        other = EXCLUSIVE.get(key)
        if other is not None and other not in sets:
            doc[other] = None
        *path, last = key.split(".")
        node = doc
        for name in path:
            node = node.setdefault(name, {})
            if not isinstance(node, dict):
                raise ValueError(f"{key}: {name} is not a section in the experiment")
        node[last] = list(value) if isinstance(value, tuple) else value
    return doc


# ----------------------------------------------------------------------------- reading and writing


def experiment_from_dict(doc: dict, where: str = "experiment") -> TrainConfig:
    """A TrainConfig from an experiment dict: the version checked, the model section resolved from its
    preset, every value typed and checked (ValueError naming ``where`` and the dotted key)."""
    if not isinstance(doc, dict):
        raise ValueError(f"{where}: an experiment is a JSON object, got {type(doc).__name__}")
    version = doc.get("version")
    if version != CONFIG_VERSION:
        found = "no version" if version is None else f"version {version!r}"
        raise ValueError(f"{where}: {found}, but this sdnet reads experiment version {CONFIG_VERSION} "
                         "(retrain with this sdnet, or use the sdnet that wrote it)")
    doc = dict(doc)
    model = doc.get("model", {})
    if isinstance(model, dict):
        name = model.get("preset", "cpu")
        if name not in PRESETS:
            raise ValueError(f"{where}.model.preset: unknown preset {name!r} (choose from {', '.join(PRESETS)})")
        data = doc.get("data", {})
        crop = data.get("crop_size", DataConfig().crop_size) if isinstance(data, dict) else None
        base = json.loads(json.dumps(to_dict(PRESETS[name])))
        doc["model"] = {**base, **model, "input_size": crop}
    return from_dict(TrainConfig, doc, where)


def default_experiment() -> TrainConfig:
    """The default experiment (the dataclass defaults; ``configs/default.json``)."""
    return experiment_from_dict({"version": CONFIG_VERSION})


def load_experiment(path: Path | None = None, sets: dict[str, Any] | None = None) -> TrainConfig:
    """The experiment of file ``path`` (None: the default experiment) with ``sets`` applied; SdnetError
    with one line naming the file (or --set) and the key on any problem."""
    doc = read_json_file(path, "experiment file") if path is not None else {"version": CONFIG_VERSION}
    where = str(path) if path is not None else "experiment"
    try:
        return experiment_from_dict(apply_sets(doc, sets or {}), where)
    except (TypeError, ValueError) as e:
        raise SdnetError(str(e)) from None


def override(cfg: TrainConfig, sets: dict[str, Any], where: str = "experiment") -> TrainConfig:
    """``cfg`` with the dotted keys of ``sets`` applied (as ``--set`` does); SdnetError naming the key."""
    try:
        return experiment_from_dict(apply_sets(experiment_json(cfg), sets), where)
    except (TypeError, ValueError) as e:
        raise SdnetError(str(e)) from None


def experiment_json(cfg: TrainConfig) -> dict:
    """The JSON form of an experiment (tuples as lists), as RUN/config.json holds it."""
    return json.loads(json.dumps(to_dict(cfg)))


def _flat(d: dict, prefix: str = "") -> dict:
    """{dotted key: value} of a nested dict (every dict is a section)."""
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def differences(a: TrainConfig, b: TrainConfig, skip: tuple[str, ...] = ("source",)) -> list[str]:
    """Dotted keys whose values differ between two experiments (sections in ``skip`` left out)."""
    ja, jb = experiment_json(a), experiment_json(b)
    for section in skip:
        ja.pop(section, None), jb.pop(section, None)
    fa, fb = _flat(ja), _flat(jb)
    return sorted(k for k in set(fa) | set(fb) if fa.get(k) != fb.get(k))


# ----------------------------------------------------------------------------- the data


def data_differences(data: DataConfig, manifest_config: dict) -> list[str]:
    """``data.KEY=manifest value`` for each record-changing DataConfig field in which a manifest's
    ``config`` differs from ``data`` (DATA_LAYOUT_FIELDS ignored). A key the manifest does not record
    (a field added since it was written, e.g. ``test_subject``) counts as the field's default."""
    defaults = _flat(json.loads(json.dumps(to_dict(DataConfig()))), "data.")
    fm = {**defaults, **_flat(json.loads(json.dumps(manifest_config)), "data.")}
    fw = _flat(json.loads(json.dumps(to_dict(data))), "data.")
    skip = {f"data.{f}" for f in DATA_LAYOUT_FIELDS}
    return [f"{k}={json.dumps(fm.get(k))}" for k in sorted(set(fm) | set(fw)) if k not in skip and fm.get(k) != fw.get(k)]


def source_info(manifest: dict, data_dir: str | Path = "") -> TrainDataInfo:
    """The facts of a data dir a run records: where, schema version, intrinsics, skeleton, counts."""
    try:
        return TrainDataInfo(
            data_dir=str(Path(data_dir).resolve()) if data_dir else "",
            schema_version=int(manifest["schema_version"]), intrinsics=dict(manifest["intrinsics"]),
            skeleton=dict(manifest["skeleton"]), counts={k: int(v) for k, v in manifest["counts"].items()})
    except (KeyError, TypeError, ValueError) as e:
        raise SdnetError(f"manifest of {data_dir or 'the data'}: missing or invalid field ({e})") from None


def bind_data(cfg: TrainConfig, manifest: dict, data_dir: str | Path = "") -> TrainConfig:
    """``cfg`` with ``source`` filled in from ``manifest``, after checking that the data was cut as
    ``cfg.data`` says; SdnetError naming what differs and how to agree otherwise."""
    where = f"{data_dir}/manifest.json" if data_dir else "the data's manifest"
    made = manifest.get("config")
    if not isinstance(made, dict):
        raise SdnetError(f"{where}: no config section (made by another sdnet? remake the data with `sdnet data`)")
    diff = data_differences(cfg.data, made)
    if diff:
        raise SdnetError(f"{where}: the data was cut with {', '.join(diff)}, not as the experiment says; "
                         "remake it with `sdnet data --config EXPERIMENT`, or give the experiment those "
                         f"values (--set {diff[0]})")
    return dataclasses.replace(cfg, source=source_info(manifest, data_dir))


# ----------------------------------------------------------------------------- the command line


def _flag(key: str) -> str:
    meta = field_of(key).metadata
    return "--" + (meta.get("flag") or key.split(".")[-1].replace("_", "-"))


def _arg_type(tp):
    """The argparse type of a field annotation (X | None -> X); None for bool."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    return None if tp is bool else tp


def add_shorthands(parser, keys: tuple[str, ...]) -> None:
    """One flag per dotted key (name, type, choices and help from the field), default None = not given
    (the experiment's value); the help shows the default experiment's value."""
    defaults = default_experiment()
    for key in keys:
        field = field_of(key)
        meta = field.metadata
        if "help" not in meta:
            raise TypeError(f"{key}: a shorthand needs a field declared with pipeline.config.opt")
        shown = default_of(key, defaults)
        help_text = f"{meta['help']} ({key}; default experiment: {json.dumps(shown)})"
        tp = _arg_type(_field_type(key))
        kwargs: dict[str, Any] = {"dest": _dest(key), "default": None, "help": help_text.replace("%", "%%")}
        if tp is None:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = tp
            kwargs["metavar"] = key.split(".")[-1].upper()
            if meta.get("choices"):
                kwargs["choices"] = meta["choices"]
                del kwargs["metavar"]
        parser.add_argument(_flag(key), **kwargs)


def _dest(key: str) -> str:
    return "set__" + key.replace(".", "__")


def add_experiment_arguments(parser, shorthands: tuple[str, ...]) -> None:
    """``--config FILE``, ``--set KEY=VALUE`` (repeatable) and the shorthand flags of ``shorthands``."""
    parser.add_argument("--config", type=Path, default=None, metavar="FILE",
                        help="experiment file (configs/*.json, or a run's config.json to repeat it; "
                        "default: the default experiment, configs/default.json)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="override one key of the experiment, dotted (e.g. --set loss.sdl_weight=0.1 "
                        "--set model.preset=paper); repeatable; applied after the file, before the flags")
    group = parser.add_argument_group("shorthands for common keys (each is --set KEY=VALUE)")
    add_shorthands(group, shorthands)


def sets_from_args(args: argparse.Namespace, shorthands: tuple[str, ...]) -> dict[str, Any]:
    """The overrides of ``--set`` then of the shorthand flags given, as {dotted key: value}."""
    sets: dict[str, Any] = {}
    try:
        for text in getattr(args, "sets", []) or []:
            key, value = parse_set(text)
            sets[key] = value
    except ValueError as e:
        raise SdnetError(str(e)) from None
    for key in shorthands:
        value = getattr(args, _dest(key), None)
        if value is not None:
            sets[key] = value
    return sets
