"""pipeline.config: typed from_dict, the configs of earlier runs, one place for the defaults."""
import json
from pathlib import Path

import pytest

from pipeline.config import (DataConfig, LossConfig, ModelConfig, RefineConfig, SynthConfig, TrainConfig,
                             TrainDataInfo, data_config_from_dict, from_dict, to_dict)

EARLIER = json.loads((Path(__file__).parent / "data" / "earlier_configs.json").read_text())


def _json(cfg) -> dict:
    return json.loads(json.dumps(to_dict(cfg)))


@pytest.mark.parametrize("kind,load", [
    ("train", lambda d: from_dict(TrainConfig, d)),
    ("data", data_config_from_dict),
    ("synth", lambda d: from_dict(SynthConfig, d)),
    ("refine", lambda d: from_dict(RefineConfig, d)),
])
def test_configs_of_earlier_runs_load_unchanged(kind, load):
    cfg = load(EARLIER[kind])
    assert _json(cfg) == EARLIER[kind]  # every value kept, nothing added or dropped


def test_earlier_train_config_has_typed_values():
    cfg = from_dict(TrainConfig, EARLIER["train"])
    assert cfg.model.conv_filters == (48, 96, 128, 128, 96) and cfg.model.pool_after[1] is True
    assert isinstance(cfg.loss.angle_thresholds_deg, tuple) and cfg.loss.threshold_deg is None
    assert cfg.epochs is None and cfg.minutes == 18.0 and cfg.data.counts["val"] == 1000


@pytest.mark.parametrize("cls,d,message", [
    (LossConfig, {"alpha": True}, r"config\.alpha: expected a number, got True \(bool\)"),
    (LossConfig, {"alpha": "1"}, r"config\.alpha: expected a number, got '1' \(str\)"),
    (LossConfig, {"threshold_deg": False}, r"config\.threshold_deg: expected a number or null, got False"),
    (LossConfig, {"penalty": 1}, r"config\.penalty: expected a string, got 1 \(int\)"),
    (LossConfig, {"angle_thresholds_deg": [90, "x"]},
     r"config\.angle_thresholds_deg\[1\]: expected a number, got 'x'"),
    (LossConfig, {"angle_thresholds_deg": 90.0}, r"config\.angle_thresholds_deg: expected a list, got 90\.0"),
    (TrainConfig, {"batch_size": 32.0}, r"config\.batch_size: expected an integer, got 32\.0 \(float\)"),
    (TrainConfig, {"batch_size": True}, r"config\.batch_size: expected an integer, got True"),
    (TrainConfig, {"epochs": "10"}, r"config\.epochs: expected an integer or null, got '10'"),
    (TrainConfig, {"model": 3}, r"config\.model: expected an object of ModelConfig fields, got 3"),
    (TrainConfig, {"model": {"pool_after": [1, 1, 0, 0, 1]}},
     r"config\.model\.pool_after\[0\]: expected true or false, got 1 \(int\)"),
    (TrainConfig, {"model": {"batch_norm": "no"}}, r"config\.model\.batch_norm: expected true or false"),
    (TrainConfig, {"loss": {"gamma": 1.0}}, r"config\.loss: unknown keys \['gamma'\] for LossConfig"),
    (TrainDataInfo, {"intrinsics": []}, r"config\.intrinsics: expected an object, got \[\]"),
    (DataConfig, {"skip_prerotated": 0}, r"config\.skip_prerotated: expected true or false, got 0"),
    (DataConfig, {"centre": {"band_mm": None}}, r"config\.centre\.band_mm: expected a number, got null"),
    (SynthConfig, {"intrinsics": "icvl"}, r"config\.intrinsics: expected an object or null, got 'icvl'"),
])
def test_values_of_the_wrong_type_are_refused_naming_the_key(cls, d, message):
    with pytest.raises(ValueError, match=message):
        from_dict(cls, d)


def test_ints_are_accepted_for_floats_and_become_floats():
    loss = from_dict(LossConfig, {"alpha": 2, "threshold_deg": 100, "angle_thresholds_deg": [90, 45.5]})
    assert loss.alpha == 2.0 and type(loss.alpha) is float
    assert type(loss.threshold_deg) is float and loss.angle_thresholds_deg == (90.0, 45.5)
    cfg = from_dict(TrainConfig, {"minutes": 5, "model": {"dropout": 0}})
    assert type(cfg.minutes) is float and type(cfg.model.dropout) is float
    assert from_dict(TrainConfig, {"epochs": None}).epochs is None


def test_round_trip_through_json_and_where_in_messages():
    cfg = TrainConfig(model=ModelConfig(conv_filters=(8, 8), conv_kernels=(3, 3), conv_strides=(1, 1),
                                        pool_after=(False, True)), loss=LossConfig(threshold_deg=120.0))
    assert from_dict(TrainConfig, _json(cfg)) == cfg
    with pytest.raises(ValueError, match=r"^run/config\.json\.seed: expected an integer"):
        from_dict(TrainConfig, {**_json(cfg), "seed": 0.5}, where="run/config.json")
    # The dataclasses' own checks still run after the types are right.
    with pytest.raises(ValueError, match="batch size must be >= 1"):
        from_dict(TrainConfig, {"batch_size": 0})
