"""pipeline.config: typed from_dict, the checks of each section, one place for the defaults."""
import json

import pytest

from pipeline.config import (DataConfig, LossConfig, ModelConfig, RefineConfig, SynthConfig, TrainConfig,
                             TrainDataInfo, from_dict, to_dict)


def _json(cfg) -> dict:
    return json.loads(json.dumps(to_dict(cfg)))


def test_every_config_round_trips_through_json():
    for cfg in (TrainConfig(), DataConfig(rotations=4), SynthConfig(seed=3), RefineConfig(window=2)):
        assert from_dict(type(cfg), _json(cfg)) == cfg


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
