"""sdnet export: SavedModel and TFLite outputs match the Keras model; the contract JSON; bad input."""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.sdnet import build_model, preset, with_input_size
from pipeline.camera import ICVL_INTRINSICS
from pipeline.cli import main
from pipeline.config import DataConfig, to_dict
from pipeline.export import export_contract, random_crops, saved_model_outputs, tflite_outputs
from pipeline.fsutil import write_json
from pipeline.schema import SCHEMA_VERSION
from pipeline.skeleton import ICVL_SKELETON, NYU_SKELETON
from tests.helpers import smoke_run_config

CROP = 32


@pytest.fixture(scope="module", params=["smoke", "dense-smoke"])  # the regression and the dense family
def run(tmp_path_factory, request):
    run = tmp_path_factory.mktemp("export") / "run"
    run.mkdir()
    keras.utils.set_random_seed(3)
    cfg = with_input_size(preset(request.param), CROP)
    build_model(cfg, ICVL_SKELETON.num_joints).save(run / "model.keras")
    manifest = {"schema_version": SCHEMA_VERSION, "dataset": "icvl", "intrinsics": ICVL_INTRINSICS.to_dict(),
                "skeleton": ICVL_SKELETON.to_dict(), "counts": {"train": 1, "val": 1, "test": 1},
                "config": to_dict(DataConfig(crop_size=CROP, cube_mm=220.0))}
    write_json(run / "config.json", smoke_run_config(manifest))
    return run


def _inputs():
    x = random_crops(5, CROP, seed=11)
    x[0] = 1.0  # an empty crop
    return x


def _keras_outputs(run, x):
    model = keras.models.load_model(run / "model.keras", compile=False)
    return np.asarray(model(x, training=False))


def _check_contract(meta, fmt):
    assert meta["format"] == fmt and meta["crop_size"] == CROP and meta["cube_mm"] == 220.0
    assert meta["intrinsics"] == ICVL_INTRINSICS.to_dict()
    assert meta["joint_names"] == list(ICVL_SKELETON.joint_names)
    assert meta["input"]["shape"] == [None, CROP, CROP, 1] and meta["input"]["name"] == "depth"
    assert meta["output"]["shape"] == [None, 3 * len(ICVL_SKELETON.joint_names)]
    assert "cube_mm / 2" in meta["output"]["meaning"] and meta["parity_max_abs_diff"] < 1e-3


def test_savedmodel_matches_keras(run, tmp_path, capsys):
    out = tmp_path / "sm"
    assert main(["export", "--run", str(run), "--format", "savedmodel", "--out", str(out)]) == 0
    assert "exported savedmodel" in capsys.readouterr().out
    meta = json.loads((out / "sdnet_export.json").read_text())
    _check_contract(meta, "savedmodel")
    x = _inputs()
    expected = _keras_outputs(run, x)
    loaded = tf.saved_model.load(str(out))
    np.testing.assert_allclose(loaded.serve(tf.constant(x)).numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(saved_model_outputs(out, x), expected, atol=1e-5)
    assert np.abs(expected).max() > 1e-3  # the comparison is not between zeros


def test_tflite_matches_keras(run, tmp_path):
    out = tmp_path / "lite"
    assert main(["export", "--run", str(run), "--format", "tflite", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["model.tflite", "sdnet_export.json"]
    meta = json.loads((out / "sdnet_export.json").read_text())
    _check_contract(meta, "tflite")
    assert meta["file"] == "model.tflite"
    x = _inputs()
    got = tflite_outputs((out / "model.tflite").read_bytes(), x)
    np.testing.assert_allclose(got, _keras_outputs(run, x), atol=1e-4)


def test_export_bad_input(run, tmp_path, capsys):
    assert main(["export", "--run", str(tmp_path / "missing"), "--format", "tflite",
                 "--out", str(tmp_path / "a")]) == 2
    assert "run directory not found" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["export", "--run", str(empty), "--format", "savedmodel", "--out", str(tmp_path / "b")]) == 2
    assert "no config.json" in capsys.readouterr().err
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("x")
    assert main(["export", "--run", str(run), "--format", "savedmodel", "--out", str(busy)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (busy / "keep.txt").read_text() == "x"
    with pytest.raises(SystemExit) as e:
        main(["export", "--run", str(run), "--format", "onnx", "--out", str(tmp_path / "c")])
    assert e.value.code == 2
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_the_contract_describes_the_runs_skeleton():
    """An NYU run's export names NYU's 14 joints in the kit's order, its tree (palm last, the wrist
    points in no part) and a 42-value output."""
    meta = export_contract(CROP, 300.0, ICVL_INTRINSICS.to_dict(), {}, "savedmodel", "depth", "joints",
                           "smoke", NYU_SKELETON)
    assert meta["joint_names"] == list(NYU_SKELETON.joint_names) and meta["joint_names"][-1] == "palm"
    assert meta["parents"] == list(NYU_SKELETON.parents) and meta["parents"][13] == -1
    assert meta["bones"] == [list(b) for b in NYU_SKELETON.bones] and len(meta["bones"]) == 13
    assert meta["parts"]["index"] == [13, 7, 6]
    wrists = {NYU_SKELETON.joint_names.index(n) for n in ("wrist_a", "wrist_b")}
    assert not wrists & {j for chain in meta["parts"].values() for j in chain}  # in no part
    assert meta["output"]["shape"] == [None, 42]
