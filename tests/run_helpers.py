"""A run directory for tests that need a trained-looking run without training one (loads Keras; the
light helpers are in ``tests/helpers.py``)."""
from __future__ import annotations

import json
from pathlib import Path

import keras

from models.sdnet import build_model
from pipeline.config import ModelConfig, from_dict
from pipeline.datasets import dataset_of
from pipeline.fsutil import write_json
from tests.helpers import smoke_run_config


def make_untrained_run(run: Path, data_dir: Path, crop_size: int) -> Path:
    """A run directory as ``sdnet train`` leaves it (model.keras, config.json with the data section) for
    ``data_dir``, holding an untrained smoke-preset CNN whose joints stay near the hand centre."""
    manifest = json.loads((Path(data_dir) / "manifest.json").read_text())
    run = Path(run)
    run.mkdir(parents=True)
    keras.utils.set_random_seed(0)
    assert manifest["crop_size"] == crop_size
    doc = smoke_run_config(manifest, data_dir)
    joints = dataset_of(manifest["dataset"], manifest["skeleton"]).num_joints  # the data's skeleton
    model = build_model(from_dict(ModelConfig, doc["model"]), joints)
    kernel, bias = model.get_layer("joints").get_weights()  # untrained, but joints near the hand
    model.get_layer("joints").set_weights([kernel * 0.05, bias])
    model.save(run / "model.keras")
    write_json(run / "config.json", doc)
    return run
