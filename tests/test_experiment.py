"""pipeline.experiment: experiment files, dotted overrides, shorthand flags generated from the fields, and
the check that data and experiment agree."""
import argparse
import dataclasses
import json
import re
from pathlib import Path

import pytest

from pipeline.config import (CONFIG_VERSION, NO_AUGMENT, PENALTIES, PRECISIONS, DataConfig, TrainConfig,
                             to_dict)
from pipeline.errors import SdnetError
from pipeline.experiment import (DATA_SHORTHANDS, TRAIN_SHORTHANDS, add_experiment_arguments, apply_sets,
                                 data_differences, default_experiment, experiment_from_dict, experiment_json,
                                 field_of, load_experiment, parse_set, sets_from_args)

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.json"))


def test_the_project_has_its_experiment_files():
    assert {p.stem for p in CONFIGS} >= {"default", "long", "paper", "smoke", "table1"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_experiment_file_loads_and_says_what_it_is(path):
    doc = json.loads(path.read_text())
    assert doc["version"] == CONFIG_VERSION and len(doc["description"]) > 20
    cfg = load_experiment(path)
    assert cfg.model.input_size == cfg.data.crop_size
    assert experiment_from_dict(experiment_json(cfg)) == cfg  # the resolved form reads back the same


def test_the_dataclass_defaults_are_the_default_experiment():
    doc = json.loads((ROOT / "configs" / "default.json").read_text())
    assert set(doc) == {"version", "description"}  # states no default of its own
    assert dataclasses.replace(load_experiment(ROOT / "configs" / "default.json"), description="") == TrainConfig()
    assert default_experiment() == TrainConfig()


def test_the_paper_experiment_is_the_papers_setting():
    cfg = load_experiment(ROOT / "configs" / "paper.json")
    assert cfg.model.preset == "paper" and cfg.model.fc_units == 2048 and cfg.model.dropout == 0.5
    assert cfg.data.crop_size == cfg.model.input_size == 224 and cfg.data.rotations == 16
    assert cfg.loss.sdl_weight == 0.5 and cfg.augment == NO_AUGMENT and cfg.precision == "float32"


def test_set_values_are_json_or_strings_and_unknown_keys_name_the_choices():
    assert parse_set("loss.sdl_weight=0.1") == ("loss.sdl_weight", 0.1)
    assert parse_set("model.preset=paper") == ("model.preset", "paper")
    assert parse_set("minutes=null") == ("minutes", None)
    assert parse_set("refine.window=[2, 4]") == ("refine.window", [2, 4])
    with pytest.raises(ValueError, match=r"loss\.sdl_weigth: unknown key \(loss has sdl_weight, alpha"):
        parse_set("loss.sdl_weigth=1")
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        parse_set("loss.sdl_weight")
    with pytest.raises(ValueError, match=r"loss\.sdl_weight\.x: loss\.sdl_weight is a value"):
        field_of("loss.sdl_weight.x")


def test_overrides_are_typed_and_checked_naming_the_key():
    with pytest.raises(SdnetError, match=r"experiment\.loss\.sdl_weight: expected a number, got 'abc'"):
        load_experiment(None, {"loss.sdl_weight": "abc"})
    with pytest.raises(SdnetError, match="penalty must be one of step, hinge"):
        load_experiment(None, {"loss.penalty": "cubic"})
    with pytest.raises(SdnetError, match="give steps or epochs, not both"):
        load_experiment(None, {"steps": 5, "epochs": 2})
    with pytest.raises(SdnetError, match="no length"):
        load_experiment(None, {"minutes": None})


def test_a_preset_starts_the_model_afresh_and_steps_replace_epochs():
    cpu = experiment_json(load_experiment(None, {"model.dropout": 0.3, "epochs": 3}))
    doc = apply_sets(cpu, {"model.preset": "smoke", "model.fc_units": 32, "steps": 9})
    cfg = experiment_from_dict(doc)
    assert cfg.model.preset == "smoke" and cfg.model.fc_units == 32 and cfg.model.dropout == 0.0
    assert cfg.model.conv_filters == (8, 16, 16, 16, 16) and cfg.steps == 9 and cfg.epochs is None
    assert experiment_from_dict(apply_sets(cpu, {"data.crop_size": 64})).model.input_size == 64


def test_a_file_of_another_version_is_refused_naming_both(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"version": 0, "loss": {"sdl_weight": 0.1}}))
    with pytest.raises(SdnetError, match=rf"{re.escape(str(path))}: version 0, but this sdnet reads experiment version 1"):
        load_experiment(path)
    path.write_text("{not json")
    with pytest.raises(SdnetError, match="cannot read the experiment file"):
        load_experiment(path)
    with pytest.raises(SdnetError, match="no experiment file"):
        load_experiment(tmp_path / "absent.json")


def test_shorthand_flags_come_from_the_fields():
    parser = argparse.ArgumentParser()
    add_experiment_arguments(parser, TRAIN_SHORTHANDS)
    flags = {a.dest: a for a in parser._actions}
    penalty = next(a for a in parser._actions if "--penalty" in a.option_strings)
    assert tuple(penalty.choices) == PENALTIES
    precision = next(a for a in parser._actions if "--precision" in a.option_strings)
    assert tuple(precision.choices) == PRECISIONS
    assert len([d for d in flags if d.startswith("set__")]) == len(TRAIN_SHORTHANDS)
    args = parser.parse_args(["--sdl-weight", "0.1", "--preset", "paper", "--no-batch-norm",
                              "--set", "loss.alpha=2", "--aug-scale", "0.2", "--steps", "7"])
    assert sets_from_args(args, TRAIN_SHORTHANDS) == {
        "loss.alpha": 2, "model.preset": "paper", "steps": 7, "loss.sdl_weight": 0.1, "model.batch_norm": False,
        "augment.scale": 0.2}
    help_text = " ".join(parser.format_help().split())
    assert "(loss.sdl_weight; default experiment: 0.0)" in help_text
    data_parser = argparse.ArgumentParser()
    add_experiment_arguments(data_parser, DATA_SHORTHANDS)
    args = data_parser.parse_args(["--crop", "96", "--centre-method", "com", "--skip-prerotated"])
    assert sets_from_args(args, DATA_SHORTHANDS) == {"data.crop_size": 96, "data.centre.method": "com",
                                                      "data.skip_prerotated": True}


def test_data_differences_ignore_only_the_files_layout():
    made = to_dict(DataConfig(shards=7, max_reject_fraction=0.5))
    assert data_differences(DataConfig(), made) == []
    made = to_dict(DataConfig(rotations=16, centre=dataclasses.replace(DataConfig().centre, method="com")))
    assert data_differences(DataConfig(), made) == ['data.centre.method="com"', "data.rotations=16"]


def test_the_makefile_passes_experiment_files_and_no_recipe_flags():
    """The recipe lives in configs/: make's sdnet train and sdnet data lines name an experiment file and
    give no option of the experiment other than the budget."""
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    lines = [l for l in text.splitlines() if re.search(r"\$\(SDNET\) (train|data) ", l)]
    assert len(lines) >= 5
    experiment_flags = set()
    for keys in (TRAIN_SHORTHANDS, DATA_SHORTHANDS):
        parser = argparse.ArgumentParser()
        add_experiment_arguments(parser, keys)
        experiment_flags |= {o for a in parser._actions if a.dest.startswith("set__") for o in a.option_strings}
    for line in lines:
        assert "--config" in line, line
        given = set(re.findall(r"(--[a-z][a-z-]*)", line))
        assert given & experiment_flags <= {"--minutes"}, line
        assert "--set" not in given, line
