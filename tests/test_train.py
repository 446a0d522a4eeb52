"""Tests of pipeline/train.py and `sdnet train`: learning, resume, bad input, the distributed path."""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from models.sdnet import build_model
from pipeline import train as tr
from pipeline.inference import load_model
from pipeline.camera import ICVL_INTRINSICS
from pipeline.cli import main as cli_main
from pipeline.errors import SdnetError
from pipeline.schema import SCHEMA_VERSION
from pipeline.skeleton import ICVL_SKELETON, NUM_JOINTS

CROP = 32


def tiny_manifest(crop: int = CROP) -> dict:
    return {"schema_version": SCHEMA_VERSION, "crop_size": crop, "cube_mm": 250.0,
            "skeleton": ICVL_SKELETON.to_dict(), "intrinsics": ICVL_INTRINSICS.to_dict(),
            "counts": {"train": 0, "val": 0, "test": 0}}


def tiny_arrays(n: int, crop: int = CROP, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Crops (n, S, S, 1) with a depth blob at every joint of a fanned hand shifted at random, and the
    normalized joints (n, 3J) drawn at ((x + 1) / 2 S, (y + 1) / 2 S)."""
    rng = np.random.default_rng(seed)
    template = np.zeros((NUM_JOINTS, 3))
    for i, chain in enumerate(ICVL_SKELETON.part_chains):
        a = np.radians(-60 + 30 * i)
        for k, j in enumerate(chain[1:], start=1):
            template[j] = 0.18 * k * np.array([np.sin(a), -np.cos(a), 0.0])
    shift = rng.uniform(-0.3, 0.3, size=(n, 1, 3)) * np.array([1.0, 1.0, 0.3])
    joints = template[None] + shift  # (n, J, 3)
    yy, xx = np.mgrid[0:crop, 0:crop] + 0.5
    image = np.ones((n, crop, crop), "float32")
    for j in range(NUM_JOINTS):
        u = (joints[:, j, 0] + 1) / 2 * crop
        v = (joints[:, j, 1] + 1) / 2 * crop
        near = (xx[None] - u[:, None, None]) ** 2 + (yy[None] - v[:, None, None]) ** 2 < 2.5
        image = np.where(near, np.minimum(image, joints[:, j, 2][:, None, None]), image)
    return image[..., None].astype("float32"), joints.reshape(n, -1).astype("float32")


def tiny_data(n_train: int = 256, n_val: int = 64, shuffle: bool = True) -> tr.DataSource:
    xt, yt = tiny_arrays(n_train, seed=0)
    xv, yv = tiny_arrays(n_val, seed=1)
    return tr.data_from_arrays(tiny_manifest(), xt, yt, xv, yv, shuffle=shuffle)


# The in-memory arrays carry no hand centres, so these runs train without online augmentation.
NO_AUG = {"aug_rotation_deg": 0.0, "aug_scale": 0.0, "aug_shift_mm": 0.0}


def smoke_config(**overrides) -> tr.TrainConfig:
    base = {"preset": "smoke", "batch_size": 16, "learning_rate": 1e-3, "warmup_steps": 10, "epochs": 4,
            "precision": "float32", **NO_AUG}  # exact comparisons below; bfloat16 has its own test
    return tr.resolve_config(tiny_manifest(), {**base, **overrides})


def quiet(_msg: str) -> None:
    pass


def snapshot(run: Path) -> dict:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def history(run: Path) -> list[dict]:
    lines = (run / tr.HISTORY_FILE).read_text().splitlines()
    header = lines[0].split(",")
    return [dict(zip(header, line.split(","))) for line in lines[1:]]


def test_resolved_config_takes_data_fields_from_the_manifest():
    m = tiny_manifest(48)
    cfg = tr.resolve_config(m, {"preset": "cpu", "sdl_weight": 0.25, "penalty": "hinge"})
    assert cfg.model.preset == "cpu" and cfg.model.input_size == 48
    assert cfg.data.crop_size == 48 and cfg.data.cube_mm == 250.0
    assert cfg.data.skeleton == ICVL_SKELETON.to_dict() and cfg.data.intrinsics["fx"] == ICVL_INTRINSICS.fx
    assert cfg.loss.sdl_weight == 0.25 and cfg.loss.penalty == "hinge" and cfg.epochs == tr.DEFAULT_EPOCHS
    # A resumed run keeps its saved options unless they are given again.
    again = tr.resolve_config(m, {"steps": 7}, base=cfg)
    assert again.steps == 7 and again.epochs is None and again.loss == cfg.loss
    assert tr.config_differences(cfg, again) == ["epochs", "steps"]
    with pytest.raises(SdnetError, match="penalty"):
        tr.resolve_config(m, {"penalty": "cubic"})


def test_tiny_training_lowers_the_validation_error_and_writes_the_run(tmp_path):
    data = tiny_data()
    cfg = smoke_config(epochs=8, sdl_weight=0.0)
    keras.utils.set_random_seed(cfg.seed)
    initial = tr.validation_error_mm(build_model(cfg.model), data, cfg)["mean_error_mm"]
    run = tmp_path / "run"
    summary = tr.train(cfg, data, run, log=quiet, verbose=0)
    assert summary["val_mean_error_mm"] <= 0.7 * initial, (initial, summary)
    assert summary["steps"] == 8 * (256 // 16)
    for name in ("config.json", "batch_check.png", "history.csv", "model.keras", "summary.json"):
        assert (run / name).is_file(), name
    assert list((run / "logs" / "validation").glob("events.out.tfevents.*"))
    saved = json.loads((run / "summary.json").read_text())
    assert saved["val_mean_error_mm"] == pytest.approx(summary["val_mean_error_mm"])
    assert len(saved["val_per_joint_mm"]) == NUM_JOINTS and saved["images_per_s"] > 0
    rebuilt = tr.load_run_config(run)
    # The saved config is the given one plus the angle thresholds derived from the training labels.
    assert len(rebuilt.loss.angle_thresholds_deg) == 10 and not cfg.loss.angle_thresholds_deg
    assert dataclasses.replace(rebuilt, loss=cfg.loss) == cfg
    model = load_model(run)
    x = tiny_arrays(4, seed=5)[0]
    assert model(x).shape == (4, 3 * NUM_JOINTS)
    rows = history(run)
    assert [int(r["epoch"]) for r in rows] == list(range(1, 9))
    assert float(rows[-1]["val_mean_error_mm"]) == pytest.approx(summary["val_mean_error_mm"], rel=1e-3)


def test_sdl_weight_changes_only_the_loss_and_the_sdl_metric_is_logged(tmp_path):
    data = tiny_data(64, 32)
    runs = {}
    for w in (0.0, 0.5):
        run = tmp_path / f"w{w}"
        tr.train(smoke_config(epochs=1, sdl_weight=w, steps_per_epoch=1), data, run, log=quiet, verbose=0)
        runs[w] = history(run)[0]
    # Same seed, same first batch, same initial weights: after one step the logged joint error is the
    # same (the first update is computed after the loss); the loss differs by w * sdl.
    a, b = runs[0.0], runs[0.5]
    assert float(a["mean_error_mm"]) == pytest.approx(float(b["mean_error_mm"]), rel=1e-5)
    assert float(b["loss"]) - float(a["loss"]) == pytest.approx(0.5 * float(b["sdl"]), rel=1e-4)


def test_interrupt_then_resume_continues_the_step_count(tmp_path):
    data = tiny_data(128, 16)
    cfg = smoke_config(epochs=4)  # 8 steps per epoch, 32 in all
    run = tmp_path / "run"

    def interrupt_after_epoch_2(msg: str) -> None:
        if msg.startswith("epoch 2:"):
            signal.raise_signal(signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)  # default_int_handler, or SIG_IGN under nohup
    first = tr.train(cfg, data, run, log=interrupt_after_epoch_2, verbose=0)
    assert first["interrupted"] == signal.SIGINT
    assert first["steps"] == 17  # stopped after the first step of epoch 3
    assert not (run / "model.keras").exists() and not (run / "summary.json").exists()
    assert signal.getsignal(signal.SIGINT) is before  # the caller's handler is restored

    second = tr.train(cfg, data, run, resume=True, log=quiet, verbose=0)
    assert second["steps"] == 32 and "interrupted" not in second
    steps = [int(r["step"]) for r in history(run)]
    assert steps[:3] == [8, 16, 17] and steps[-1] == 32 and steps == sorted(steps)
    assert (run / "model.keras").is_file()


def test_resume_refuses_a_different_config_and_a_corrupt_checkpoint(tmp_path):
    data = tiny_data(64, 32)
    run = tmp_path / "run"
    tr.train(smoke_config(epochs=1), data, run, log=quiet, verbose=0)
    before = snapshot(run)
    with pytest.raises(SdnetError, match="different config.*sdl_weight"):
        tr.train(smoke_config(epochs=1, sdl_weight=0.1), data, run, resume=True, log=quiet)
    with pytest.raises(SdnetError, match="not empty"):
        tr.train(smoke_config(epochs=1), data, run, log=quiet)
    for f in (run / "checkpoints").glob("*.data-*"):
        f.write_bytes(b"garbage")
    corrupt = snapshot(run)
    with pytest.raises(SdnetError, match="cannot restore"):
        tr.train(smoke_config(epochs=1), data, run, resume=True, log=quiet)
    assert snapshot(run) == corrupt
    assert set(before) == set(corrupt)
    with pytest.raises(SdnetError, match="no run config"):
        tr.train(smoke_config(epochs=1), data, tmp_path / "absent", resume=True, log=quiet)
    assert not (tmp_path / "absent").exists()


def test_bad_first_batch_is_refused_before_anything_is_written(tmp_path):
    xt, yt = tiny_arrays(32)
    xv, yv = tiny_arrays(8, seed=1)
    run = tmp_path / "run"
    in_mm = tr.data_from_arrays(tiny_manifest(), xt, yt * 125.0, xv, yv)
    with pytest.raises(SdnetError, match="normalized"):
        tr.train(smoke_config(), in_mm, run, log=quiet)
    other_crop = tr.data_from_arrays(tiny_manifest(48), xt, yt, xv, yv)
    cfg = tr.resolve_config(tiny_manifest(48), {"preset": "smoke", "batch_size": 16, **NO_AUG})
    with pytest.raises(SdnetError, match=r"\(48, 48, 1\)"):
        tr.train(cfg, other_crop, run, log=quiet)
    assert not run.exists()
    bad_skeleton = tiny_manifest()
    bad_skeleton["skeleton"] = {**bad_skeleton["skeleton"], "parents": [-1] + [0] * (NUM_JOINTS - 1)}
    cfg = tr.resolve_config(bad_skeleton, {"preset": "smoke", "batch_size": 16, **NO_AUG})
    with pytest.raises(SdnetError, match="skeleton"):
        tr.check_batch(xt[:4], yt[:4], cfg)


def test_batch_picture_is_a_png():
    x, y = tiny_arrays(3)
    png = tr.batch_picture_png(x, y)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_time_budget_ends_training_early_with_a_model(tmp_path):
    data = tiny_data(32, 16)
    cfg = smoke_config(epochs=None, steps=10 ** 6, minutes=0.03, steps_per_epoch=20)
    summary = tr.train(cfg, data, tmp_path / "run", log=quiet, verbose=0)
    assert summary["steps"] < 10 ** 6 and (tmp_path / "run" / "model.keras").is_file()


DISTRIBUTED = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0],
        [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
    sys.path.insert(0, sys.argv[1])
    import test_train as t
    from pipeline import train as tr
    out = {}
    for strategy in ("default", "mirrored"):
        cfg = t.smoke_config(epochs=3, steps_per_epoch=1, strategy=strategy, sdl_weight=0.5)
        s = tr.train(cfg, t.tiny_data(64, 32, shuffle=False), f"{sys.argv[2]}/{strategy}", log=t.quiet, verbose=0)
        out[strategy] = {"replicas": s["replicas"], "history": t.history(__import__("pathlib").Path(sys.argv[2]) / strategy)}
    print("RESULT" + json.dumps(out))
""")


def test_mirrored_strategy_on_two_logical_cpus_matches_one_device(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", DISTRIBUTED, str(Path(__file__).parent), str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT")][0]
    out = json.loads(line[len("RESULT"):])
    assert out["default"]["replicas"] == 1 and out["mirrored"]["replicas"] == 2
    one, two = out["default"]["history"], out["mirrored"]["history"]
    assert len(one) == len(two) == 3
    # The first logged loss is that of the first batch, before any update: same up to summation order.
    assert float(one[0]["loss"]) == pytest.approx(float(two[0]["loss"]), rel=1e-4)
    # Later ones follow the updates; Adam's first steps (about sign(g) x lr) amplify rounding a little.
    for a, b in zip(one, two):
        for key in ("loss", "val_loss", "val_mean_error_mm"):
            assert float(a[key]) == pytest.approx(float(b[key]), rel=1e-2), key


# ---- command line ---------------------------------------------------------------------------------------

def test_cli_refuses_a_data_dir_without_manifest(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    code = cli_main(["train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "manifest" in err[0]
    assert not (tmp_path / "run").exists()


def test_cli_trains_on_a_tiny_data_dir(tmp_path, capsys):
    from tests.helpers import make_tiny_data_dir

    data = make_tiny_data_dir(tmp_path, rotations=2, crop_size=CROP, train_seqs=3, frames_per_seq=4)
    run = tmp_path / "run"
    argv = ["train", "--data", str(data), "--out", str(run), "--preset", "smoke", "--epochs", "2",
            "--batch-size", "4", "--sdl-weight", "0.5", "--penalty", "hinge"]
    assert cli_main(argv) == 0
    assert "validation mean error" in capsys.readouterr().out
    summary = json.loads((run / "summary.json").read_text())
    assert np.isfinite(summary["val_mean_error_mm"]) and summary["val_frames"] > 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["data"]["crop_size"] == CROP and cfg["loss"]["penalty"] == "hinge"
    # Resuming a finished run with another option is refused without --force, and leaves it as it was.
    before = snapshot(run)
    assert cli_main(argv[:-4] + ["--sdl-weight", "0.25", "--resume"]) == 2
    assert "different config" in capsys.readouterr().err
    assert snapshot(run) == before


def test_bfloat16_run_computes_in_bfloat16_learns_and_restores_the_policy(tmp_path):
    data = tiny_data()
    cfg = smoke_config(epochs=6, sdl_weight=0.0, precision="bfloat16")
    keras.utils.set_random_seed(cfg.seed)
    initial = tr.validation_error_mm(build_model(cfg.model), data, cfg)["mean_error_mm"]
    before = keras.mixed_precision.global_policy().name
    summary = tr.train(cfg, data, tmp_path / "run", log=quiet, verbose=0)
    assert keras.mixed_precision.global_policy().name == before
    assert summary["val_mean_error_mm"] <= 0.7 * initial, (initial, summary)
    model = keras.models.load_model(tmp_path / "run" / "model.keras", compile=False)
    assert model.get_layer("conv1").compute_dtype == "bfloat16"
    assert model.get_layer("joints").compute_dtype == "float32"  # outputs stay float32
    assert json.loads((tmp_path / "run" / "config.json").read_text())["precision"] == "bfloat16"


def test_augmented_training_needs_centres_and_learns_with_them(tmp_path):
    xt, yt = tiny_arrays(256, seed=0)
    xv, yv = tiny_arrays(64, seed=1)
    cfg = smoke_config(epochs=6, sdl_weight=0.0, aug_rotation_deg=20.0, aug_scale=0.05, aug_shift_mm=2.0)
    assert cfg.augment.rotation_deg == 20.0 and cfg.augment.shift_mm == 2.0
    without = tr.data_from_arrays(tiny_manifest(), xt, yt, xv, yv)
    with pytest.raises(SdnetError, match="centres"):
        tr.train(cfg, without, tmp_path / "a", log=quiet, verbose=0)
    assert not (tmp_path / "a").exists()
    centres = np.tile([0.0, 0.0, 350.0], (len(xt), 1))
    data = tr.data_from_arrays(tiny_manifest(), xt, yt, xv, yv, train_centres=centres)
    keras.utils.set_random_seed(cfg.seed)
    initial = tr.validation_error_mm(build_model(cfg.model), data, cfg)["mean_error_mm"]
    summary = tr.train(cfg, data, tmp_path / "b", log=quiet, verbose=0)
    assert summary["val_mean_error_mm"] <= 0.8 * initial, (initial, summary)
    batch = next(iter(data.train(16, 0, cfg.augment)))
    assert not np.allclose(batch[1].numpy(), yt[:16])  # the labels moved with the crops


def test_config_of_an_older_run_with_mixed_precision_still_loads(tmp_path):
    cfg = smoke_config()
    d = tr.config_json(cfg)
    del d["precision"], d["augment"]
    d["mixed_precision"] = False
    (tmp_path / "config.json").write_text(json.dumps(d))
    old = tr.load_run_config(tmp_path)
    assert old.precision == "float32" and old.augment == tr.NO_AUGMENT  # as it was trained


def test_cli_takes_augmentation_batch_norm_and_precision(tmp_path):
    from tests.helpers import make_tiny_data_dir

    data = make_tiny_data_dir(tmp_path, rotations=1, crop_size=CROP, train_seqs=3, frames_per_seq=4)
    run = tmp_path / "run"
    argv = ["train", "--data", str(data), "--out", str(run), "--preset", "smoke", "--epochs", "1",
            "--batch-size", "4", "--sdl-weight", "0", "--aug-rotation-deg", "90", "--aug-scale", "0.1",
            "--aug-shift-mm", "4", "--aug-pixel-dropout", "0.05", "--batch-norm", "--dropout", "0.1",
            "--precision", "float32"]
    assert cli_main(argv) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["augment"] == {"rotation_deg": 90.0, "scale": 0.1, "shift_mm": 4.0, "pixel_dropout": 0.05}
    assert cfg["model"]["batch_norm"] is True and cfg["model"]["dropout"] == 0.1
    model = load_model(run)
    assert "bn1" in [layer.name for layer in model.layers]


def test_w_schedule_starts_the_skeleton_loss_late_and_history_logs_every_term(tmp_path):
    data = tiny_data(64, 32)
    run = tmp_path / "late"
    cfg = smoke_config(epochs=4, steps_per_epoch=2, sdl_weight=0.5, sdl_start=0.5, penalty="hinge")
    tr.train(cfg, data, run, log=quiet, verbose=0)
    rows = history(run)
    # 8 planned steps: w = 0 before step 4 (half of them), then 0.5
    assert [float(r["sdl_weight"]) for r in rows] == [0.0, 0.0, 0.5, 0.5]
    for r in rows:
        w = float(r["sdl_weight"])
        assert float(r["loss"]) == pytest.approx(float(r["joint"]) + w * float(r["sdl"]), rel=1e-4)
        assert float(r["sdl"]) == pytest.approx(float(r["loss_a"]) + float(r["loss_b"]), rel=1e-4)  # alpha = beta = 1
        assert (float(r["sdl_grad_share"]) == 0.0) == (w == 0.0) and 0.0 <= float(r["sdl_grad_share"]) < 1.0
        assert float(r["sdl_grad_balance_w"]) > 0 and r["val_joint"] and r["val_loss_a"]
    assert tr.LossConfig(sdl_weight=0.4, sdl_start=0.5, sdl_ramp=0.2).weight_at(0.6) == pytest.approx(0.2)
    assert tr.LossConfig(sdl_weight=0.4).weight_at(0.0) == 0.4 and not tr.LossConfig(sdl_weight=0.4).scheduled
    with pytest.raises(SdnetError, match="sdl_ramp"):
        smoke_config(sdl_start=0.8, sdl_ramp=0.5)
    with pytest.raises(SdnetError, match="joint_loss"):
        smoke_config(joint_loss="cubed")


def test_angle_thresholds_are_derived_from_the_training_labels_and_kept_on_resume(tmp_path):
    xt, yt = tiny_arrays(64, seed=0)
    xv, yv = tiny_arrays(16, seed=1)
    joints = yt.reshape(64, NUM_JOINTS, 3).copy()
    index_mid, index_tip = ICVL_SKELETON.part_chains[1][2:]
    angles = np.radians(np.arange(64.0))  # the index finger's middle joint bent by 0..63 degrees
    bone = joints[:, index_tip] - joints[:, index_mid]
    c, s = np.cos(angles), np.sin(angles)
    joints[:, index_tip, 0] = joints[:, index_mid, 0] + c * bone[:, 0] - s * bone[:, 1]
    joints[:, index_tip, 1] = joints[:, index_mid, 1] + s * bone[:, 0] + c * bone[:, 1]
    data = tr.data_from_arrays(tiny_manifest(), xt, joints.reshape(64, -1), xv, yv)
    run = tmp_path / "run"
    cfg = smoke_config(epochs=1, steps_per_epoch=1, threshold_percentile=100.0)
    assert cfg.loss.threshold_deg is None and cfg.loss.angle_thresholds_deg == ()
    tr.train(cfg, data, run, log=quiet, verbose=0)
    stored = json.loads((run / "config.json").read_text())["loss"]["angle_thresholds_deg"]
    # pair order: per finger (root, middle joint); the largest index middle-joint bend is 63 degrees
    assert stored[3] == pytest.approx(63.0, abs=0.01)
    assert np.delete(stored, 3) == pytest.approx(0.0, abs=0.01)
    assert tr.sdl_kwargs(tr.load_run_config(run).loss)["threshold"][3] == pytest.approx(np.radians(63.0), abs=1e-4)
    # a resumed run keeps its thresholds (no config difference), a fixed threshold_deg wins over them
    again = tr.with_angle_thresholds(cfg, data, tr.load_run_config(run))
    assert tr.config_differences(again, tr.load_run_config(run)) == []
    fixed = smoke_config(threshold_deg=110.0)
    assert tr.with_angle_thresholds(fixed, data) == fixed
    assert tr.sdl_kwargs(fixed.loss)["threshold"] == pytest.approx(np.radians(110.0))
