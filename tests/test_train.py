"""Tests of pipeline/train.py, pipeline/training/ and `sdnet train`: learning, the schedule, the time
budget, resume (same or new length), bad input, the logs, the distributed path."""
from __future__ import annotations

import csv
import dataclasses
import functools
import io
import itertools
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from models.sdnet import build_model
from pipeline.camera import ICVL_INTRINSICS
from pipeline.cli import main as cli_main
from pipeline.config import NO_AUGMENT, DataConfig, LossConfig, TrainConfig, to_dict
from pipeline.errors import SdnetError
from pipeline.experiment import bind_data, differences, experiment_json, load_experiment, override
from pipeline.rundir import RunDir, load_model, load_run_config
from pipeline.schema import SCHEMA_VERSION
from pipeline.skeleton import ICVL_SKELETON, NYU_SKELETON
import pipeline.train as train_module
from pipeline.train import train
from pipeline.training.batch_check import batch_picture_png, check_batch
from pipeline.training.budget import TimeBudget
from pipeline.training.build import sdl_kwargs
from pipeline.training.data import DataSource, data_from_arrays, validation_error_mm
from pipeline.training.length import NO_LIMIT, Length, RunLength
from pipeline.training.schedule import WarmupCosine
from pipeline.training.thresholds import with_angle_thresholds
from pipeline.training.data import data_from_dir
from tests.helpers import data_section_args, make_tiny_data_dir, make_tiny_nyu_data_dir

CROP = 32
NUM_JOINTS = ICVL_SKELETON.num_joints  # the in-memory data here is ICVL's


def tiny_manifest(crop: int = CROP) -> dict:
    return {"schema_version": SCHEMA_VERSION, "dataset": "icvl", "crop_size": crop, "cube_mm": 250.0,
            "skeleton": ICVL_SKELETON.to_dict(), "intrinsics": ICVL_INTRINSICS.to_dict(),
            "counts": {"train": 0, "val": 0, "test": 0}, "config": to_dict(DataConfig(crop_size=crop))}


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


def tiny_data(n_train: int = 256, n_val: int = 64, shuffle: bool = True) -> DataSource:
    xt, yt = tiny_arrays(n_train, seed=0)
    xv, yv = tiny_arrays(n_val, seed=1)
    return data_from_arrays(tiny_manifest(), xt, yt, xv, yv, shuffle=shuffle)


# The in-memory arrays carry no hand centres, so these runs train without online augmentation.
NO_AUG = {"augment.rotation_deg": 0.0, "augment.scale": 0.0, "augment.shift_mm": 0.0}


def dotted(name: str) -> str:
    """The experiment key of a keyword: a top-level field, ``aug_X`` = augment.X, else the loss or model
    field of that name."""
    top = {f.name for f in dataclasses.fields(TrainConfig)}
    if name in top:
        return name
    if name.startswith("aug_"):
        return f"augment.{name[4:]}"
    section = "loss" if name in {f.name for f in dataclasses.fields(LossConfig)} else "model"
    return f"{section}.{name}"


def smoke_experiment(manifest: dict, **overrides) -> TrainConfig:
    """The smoke preset on ``manifest``'s crops, no time budget, ``overrides`` by keyword (``dotted``)."""
    base = {"model.preset": "smoke", "data.crop_size": manifest["crop_size"], "batch_size": 16,
            "learning_rate": 1e-3, "warmup_steps": 10, "epochs": 4, "minutes": None, "steps_per_epoch": None,
            "precision": "float32", **NO_AUG}  # exact comparisons below; bfloat16 has its own test
    sets = {**base, **{dotted(k): v for k, v in overrides.items()}}
    return bind_data(load_experiment(None, sets), manifest)


def smoke_config(**overrides) -> TrainConfig:
    return smoke_experiment(tiny_manifest(), **overrides)


def quiet(_msg: str) -> None:
    pass


def snapshot(run: Path) -> dict:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def history(run: Path) -> list[dict]:
    with open(RunDir(run).history, newline="") as f:
        return list(csv.DictReader(f))


def column(rows: list[dict], key: str, kind=float) -> list:
    return [kind(float(r[key])) for r in rows]


def lr_at(cfg: TrainConfig, total: int, step: int) -> float:
    return float(WarmupCosine(cfg.learning_rate, total, cfg.warmup_steps, cfg.min_lr_fraction)(step))


def event_scalars(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """tag -> [(step, value), ...] of the TensorBoard event files in ``log_dir``."""
    out: dict[str, list] = {}
    for path in sorted(log_dir.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for v in event.summary.value:
                out.setdefault(v.tag, []).append((event.step, float(tf.make_ndarray(v.tensor))))
    return out


def test_bound_experiment_takes_the_data_facts_from_the_manifest():
    m = tiny_manifest(48)
    cfg = bind_data(load_experiment(None, {"data.crop_size": 48, "loss.sdl_weight": 0.25, "loss.penalty": "hinge"}), m)
    assert cfg.model.preset == "cpu" and cfg.model.input_size == 48
    assert cfg.data.crop_size == 48 and cfg.data.cube_mm == 250.0
    assert cfg.source.skeleton == ICVL_SKELETON.to_dict() and cfg.source.intrinsics["fx"] == ICVL_INTRINSICS.fx
    assert cfg.loss.sdl_weight == 0.25 and cfg.loss.penalty == "hinge" and cfg.minutes == 16.0
    # A resumed run keeps its saved options unless they are given again; steps replaces epochs.
    again = override(dataclasses.replace(cfg, epochs=3, minutes=None), {"steps": 7})
    assert again.steps == 7 and again.epochs is None and again.loss == cfg.loss
    assert differences(cfg, again) == ["minutes", "steps"]
    with pytest.raises(SdnetError, match="penalty"):
        load_experiment(None, {"loss.penalty": "cubic"})
    # data cut otherwise than the experiment says: refused, naming the key
    with pytest.raises(SdnetError, match=r"data\.crop_size=48.*--set data\.crop_size=48"):
        bind_data(load_experiment(None, {}), m)


def test_tiny_training_lowers_the_validation_error_and_writes_the_run(tmp_path):
    data = tiny_data()
    cfg = smoke_config(epochs=8, sdl_weight=0.0)
    keras.utils.set_random_seed(cfg.seed)
    initial = validation_error_mm(build_model(cfg.model, NUM_JOINTS), data, cfg)["mean_error_mm"]
    run = tmp_path / "run"
    summary = train(cfg, data, run, log=quiet, verbose=0)
    assert summary["val_mean_error_mm"] <= 0.7 * initial, (initial, summary)
    assert summary["steps"] == 8 * (256 // 16) and summary["start_step"] == 0 and summary["epochs"] == 8
    saved = json.loads(RunDir(run).summary.read_text())
    assert saved["val_mean_error_mm"] == pytest.approx(summary["val_mean_error_mm"])
    assert len(saved["val_per_joint_mm"]) == NUM_JOINTS and saved["images_per_s"] > 0
    rebuilt = load_run_config(run)
    # The saved config is the given one plus the angle thresholds derived from the training labels.
    assert len(rebuilt.loss.angle_thresholds_deg) == 10 and not cfg.loss.angle_thresholds_deg
    assert dataclasses.replace(rebuilt, loss=cfg.loss) == cfg
    model = load_model(run)
    x = tiny_arrays(4, seed=5)[0]
    assert model(x).shape == (4, 3 * NUM_JOINTS)
    # the saved model is the trained one: it scores the summary's validation error
    assert validation_error_mm(model, data, cfg)["mean_error_mm"] == pytest.approx(summary["val_mean_error_mm"], rel=1e-4)
    with Image.open(RunDir(run).batch_picture) as picture:
        assert picture.size[0] > 100 and picture.size[1] > 100
    # history.csv: one row per epoch (numbered from 0), the step, the run's seconds, the learning
    # rate of the next step, every loss term, train and validation errors in mm
    rows = history(run)
    assert column(rows, "epoch", int) == list(range(8))
    assert column(rows, "step", int) == [16 * k for k in range(1, 9)]
    seconds = column(rows, "seconds")
    assert seconds == sorted(seconds) and 0 < seconds[-1] <= summary["wall_seconds"]
    assert column(rows, "learning_rate") == pytest.approx([lr_at(cfg, 128, 16 * k) for k in range(1, 9)], rel=1e-5)
    for key in ("loss", "joint", "sdl", "loss_a", "loss_b", "mean_error_mm", "val_loss", "val_joint"):
        assert all(math.isfinite(v) for v in column(rows, key)), key
    assert column(rows, "sdl_weight") == [0.0] * 8
    assert float(rows[-1]["val_mean_error_mm"]) == pytest.approx(summary["val_mean_error_mm"], rel=1e-3)
    # TensorBoard: the same epochs' validation error and the learning rate, x axis = epoch
    val = event_scalars(RunDir(run).logs / "validation")["epoch_mean_error_mm"]
    assert [step for step, _ in val] == list(range(8))
    assert [v for _, v in val] == pytest.approx(column(rows, "val_mean_error_mm"), rel=1e-5)
    lr = event_scalars(RunDir(run).logs / "train")["epoch_learning_rate"]
    assert [v for _, v in lr] == pytest.approx(column(rows, "learning_rate"), rel=1e-5)


def test_sdl_weight_changes_only_the_loss_and_the_sdl_metric_is_logged(tmp_path):
    data = tiny_data(64, 32)
    runs = {}
    for w in (0.0, 0.5):
        run = tmp_path / f"w{w}"
        train(smoke_config(epochs=1, sdl_weight=w, steps_per_epoch=1), data, run, log=quiet, verbose=0)
        runs[w] = history(run)[0]
    # Same seed, same first batch, same initial weights: after one step the logged joint error is the
    # same (the first update is computed after the loss); the loss differs by w * sdl.
    a, b = runs[0.0], runs[0.5]
    assert float(a["mean_error_mm"]) == pytest.approx(float(b["mean_error_mm"]), rel=1e-5)
    assert float(b["loss"]) - float(a["loss"]) == pytest.approx(0.5 * float(b["sdl"]), rel=1e-4)


def test_interrupt_then_resume_continues_steps_schedule_epochs_and_seconds(tmp_path):
    data = tiny_data(128, 16)
    cfg = smoke_config(epochs=4)  # 8 steps per epoch, 32 in all
    run = tmp_path / "run"

    def interrupt_after_epoch_2(msg: str) -> None:
        if msg.startswith("epoch 2:"):
            signal.raise_signal(signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)  # default_int_handler, or SIG_IGN under nohup
    first = train(cfg, data, run, log=interrupt_after_epoch_2, verbose=0)
    assert first["interrupted"] == signal.SIGINT
    assert first["steps"] == 17  # stopped after the first step of epoch 3
    assert not RunDir(run).model.exists() and not RunDir(run).summary.exists()
    assert signal.getsignal(signal.SIGINT) is before  # the caller's handler is restored
    seconds_before = column(history(run), "seconds")[-1]

    second = train(cfg, data, run, resume=True, log=quiet, verbose=0)
    assert second["steps"] == 32 and second["start_step"] == 17 and "interrupted" not in second
    assert second["epochs"] == 5  # the interrupted epoch counts as one
    rows = history(run)
    # the step count goes on, the interrupted epoch is a short one, the numbering goes on after it
    assert column(rows, "step", int) == [8, 16, 17, 25, 32]
    assert column(rows, "epoch", int) == [0, 1, 2, 3, 4]
    # the schedule is the one planned for 32 steps, in both sessions
    assert column(rows, "learning_rate") == pytest.approx([lr_at(cfg, 32, k) for k in (8, 16, 17, 25, 32)], rel=1e-5)
    # the seconds count both sessions
    seconds = column(rows, "seconds")
    assert seconds == sorted(seconds) and seconds[2] == pytest.approx(seconds_before)
    assert second["wall_seconds"] > seconds_before
    assert RunDir(run).model.is_file()
    # the TensorBoard logs of both sessions, one point per epoch
    val = event_scalars(RunDir(run).logs / "validation")["epoch_loss"]
    assert sorted(step for step, _ in val) == [0, 1, 2, 3, 4]


def test_resume_after_an_epoch_checkpoint_on_the_same_batches_matches_an_uninterrupted_run(tmp_path):
    """What --resume restores (weights, Adam state, step, schedule) is the whole training state: with
    unshuffled one-pass epochs the resumed session sees the batches the uninterrupted run saw."""
    data = tiny_data(128, 16, shuffle=False)
    cfg = smoke_config(epochs=4, sdl_weight=0.5)  # 8 steps per epoch = one pass over the 128 records
    whole = train(cfg, data, tmp_path / "whole", log=quiet, verbose=0)

    class Crash(Exception):
        pass

    def crash_after_epoch_2(msg: str) -> None:  # as if the process died after the checkpoint of step 16
        if msg.startswith("epoch 2:"):
            raise Crash

    with pytest.raises(Crash):
        train(cfg, data, tmp_path / "resumed", log=crash_after_epoch_2, verbose=0)
    resumed = train(cfg, data, tmp_path / "resumed", resume=True, log=quiet, verbose=0)
    assert resumed["start_step"] == 16 and resumed["steps"] == whole["steps"] == 32
    a, b = history(tmp_path / "whole"), history(tmp_path / "resumed")
    assert column(a, "step", int) == column(b, "step", int) == [8, 16, 24, 32]
    for key in ("loss", "sdl", "val_mean_error_mm"):
        assert column(b, key) == pytest.approx(column(a, key), rel=1e-4), key
    assert resumed["val_mean_error_mm"] == pytest.approx(whole["val_mean_error_mm"], rel=1e-4)
    for wa, wb in zip(load_model(tmp_path / "whole").weights, load_model(tmp_path / "resumed").weights):
        np.testing.assert_allclose(wb.numpy(), wa.numpy(), rtol=1e-4, atol=1e-6, err_msg=wa.path)


def test_resume_with_a_longer_budget_trains_to_it_and_replans_the_schedule(tmp_path):
    data = tiny_data(64, 16)
    cfg = smoke_config(epochs=None, steps=10, steps_per_epoch=5, warmup_steps=2)
    run = tmp_path / "run"
    assert train(cfg, data, run, log=quiet, verbose=0)["steps"] == 10
    longer = override(load_run_config(run), {"steps": 20})
    with pytest.raises(SdnetError, match="different config.*steps"):
        train(longer, data, run, resume=True, log=quiet, verbose=0)
    messages = []
    summary = train(longer, data, run, resume=True, force=True, log=messages.append, verbose=0)
    assert summary["steps"] == 20 and summary["start_step"] == 10
    assert any("re-planned to 20" in m for m in messages), messages
    rows = history(run)
    assert column(rows, "step", int) == [5, 10, 15, 20] and column(rows, "epoch", int) == [0, 1, 2, 3]
    # the first session followed the 10-step plan, the second the 20-step one from step 10 on
    expected = [lr_at(cfg, 10, 5), lr_at(cfg, 10, 10), lr_at(cfg, 20, 15), lr_at(cfg, 20, 20)]
    assert column(rows, "learning_rate") == pytest.approx(expected, rel=1e-5)
    assert lr_at(cfg, 20, 10) > 5 * lr_at(cfg, 10, 10)  # (the 10-step plan had reached its floor)
    assert json.loads(RunDir(run).config.read_text())["steps"] == 20
    assert json.loads(RunDir(run).summary.read_text())["steps"] == 20
    assert tf.train.latest_checkpoint(str(RunDir(run).checkpoints)).endswith("-20")
    # the same length again: nothing to train; a shorter one than done: refused, nothing written
    assert train(longer, data, run, resume=True, log=quiet, verbose=0)["steps"] == 20
    before = snapshot(run)
    shorter = override(load_run_config(run), {"steps": 15})
    with pytest.raises(SdnetError, match="at step 20 already"):
        train(shorter, data, run, resume=True, force=True, log=quiet, verbose=0)
    assert snapshot(run) == before


def test_resume_refuses_a_different_config_and_a_corrupt_checkpoint(tmp_path):
    data = tiny_data(64, 32)
    run = tmp_path / "run"
    train(smoke_config(epochs=1), data, run, log=quiet, verbose=0)
    before = snapshot(run)
    with pytest.raises(SdnetError, match="different config.*sdl_weight"):
        train(smoke_config(epochs=1, sdl_weight=0.1), data, run, resume=True, log=quiet)
    with pytest.raises(SdnetError, match="not empty"):
        train(smoke_config(epochs=1), data, run, log=quiet)
    for f in (run / "checkpoints").glob("*.data-*"):
        f.write_bytes(b"garbage")
    corrupt = snapshot(run)
    with pytest.raises(SdnetError, match="cannot restore"):
        train(smoke_config(epochs=1), data, run, resume=True, log=quiet)
    assert snapshot(run) == corrupt
    assert set(before) == set(corrupt)
    with pytest.raises(SdnetError, match="no config.json"):
        train(smoke_config(epochs=1), data, tmp_path / "absent", resume=True, log=quiet)
    assert not (tmp_path / "absent").exists()


def test_bad_first_batch_is_refused_before_anything_is_written(tmp_path):
    xt, yt = tiny_arrays(32)
    xv, yv = tiny_arrays(8, seed=1)
    run = tmp_path / "run"
    in_mm = data_from_arrays(tiny_manifest(), xt, yt * 125.0, xv, yv)
    with pytest.raises(SdnetError, match="normalized"):
        train(smoke_config(), in_mm, run, log=quiet)
    other_crop = data_from_arrays(tiny_manifest(48), xt, yt, xv, yv)
    cfg = smoke_experiment(tiny_manifest(48))
    with pytest.raises(SdnetError, match=r"\(48, 48, 1\)"):
        train(cfg, other_crop, run, log=quiet)
    assert not run.exists()
    bad_skeleton = tiny_manifest()
    bad_skeleton["skeleton"] = {**bad_skeleton["skeleton"], "parents": [-1] + [0] * (NUM_JOINTS - 1)}
    cfg = smoke_experiment(bad_skeleton)
    with pytest.raises(SdnetError, match="skeleton"):
        check_batch(xt[:4], yt[:4], cfg)


def test_batch_picture_shows_the_crops_with_their_joints_in_colour():
    x, y = tiny_arrays(3)
    with Image.open(io.BytesIO(batch_picture_png(x, y, ICVL_SKELETON))) as picture:
        rgb = np.asarray(picture.convert("RGB")).astype(int)
    assert picture.format == "PNG"
    # crops are drawn in gray, the fingers' bones in colours
    coloured = (np.abs(rgb[..., 0] - rgb[..., 1]) > 40) | (np.abs(rgb[..., 1] - rgb[..., 2]) > 40)
    assert coloured.sum() > 100


# ---- the learning-rate schedule and the time budget ---------------------------------------------------

def test_warmup_cosine_values_and_shape():
    peak, total, warmup, floor = 1e-3, 110, 10, 0.1
    lr = WarmupCosine(peak, total, warmup, floor)
    value = lambda k: float(lr(k))  # noqa: E731
    assert value(0) == pytest.approx(peak / warmup)  # the first update: 1/W of the peak
    assert value(warmup - 1) == pytest.approx(peak)  # the end of the warm-up
    assert value(warmup) == pytest.approx(peak)
    assert value(60) == pytest.approx(peak * (floor + (1 - floor) * 0.5))  # half-way through the cosine
    assert value(total) == pytest.approx(peak * floor) and value(10 * total) == pytest.approx(peak * floor)
    warm = [value(k) for k in range(warmup)]
    after = [value(k) for k in range(warmup, total + 5)]
    assert all(b > a for a, b in zip(warm, warm[1:]))
    assert all(b <= a for a, b in zip(after, after[1:])) and after[0] > after[-1]
    # a re-planned total gives the values of a schedule planned for it from the start
    lr.total_steps.assign(210)
    again = WarmupCosine(peak, 210, warmup, floor)
    assert [value(k) for k in (5, 60, 110, 210)] == pytest.approx([float(again(k)) for k in (5, 60, 110, 210)])
    # it is saved with the model (a Keras-serializable schedule)
    assert WarmupCosine.from_config(lr.get_config()).get_config()["total_steps"] == 210


def test_length_from_steps_epochs_or_a_budget_alone():
    cfg = smoke_config()  # 4 epochs, batch 16
    assert Length.of(cfg, 256) == Length(16, 64)
    assert Length.of(dataclasses.replace(cfg, steps_per_epoch=5), 256) == Length(5, 20)
    assert Length.of(dataclasses.replace(cfg, epochs=None, steps=7), 256) == Length(16, 7)
    assert Length.of(dataclasses.replace(cfg, epochs=None, minutes=3.0), 256) == Length(16, NO_LIMIT, 3.0)
    assert Length.of(cfg, 8) == Length(1, 4)  # fewer records than a batch: one step per epoch


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_time_budget_replans_the_total_from_the_measured_speed():
    clock = FakeClock()
    budget = TimeBudget(100.0, 0.0, NO_LIMIT, steps_per_epoch=50, val_batches=10, clock=clock)
    measured = []
    for step in range(1, 24):
        clock.t += 2.0 if step <= 3 else 0.5  # the first steps trace the graph
        measured.append(budget.step_done())
        if step < 23:
            assert budget.plan(step) is None  # no plan before the speed is known
    assert measured == [False] * 22 + [True] and budget.step_s == pytest.approx(0.5)
    # spent 3 x 2 + 20 x 0.5 = 16 s; one validation estimated at 10 batches x 0.5 s / 3; the rest
    # buys (100 - 16 - 5/3) / (0.5 + (5/3) / 50) = 154.4 steps
    assert budget.plan(23) == 23 + 154
    clock.t += 4.0
    budget.validation_done(4.0)  # the first pass traces the graph: still the estimate
    assert budget.plan(23) == 23 + int((100 - 20 - 5 / 3) / (0.5 + (5 / 3) / 50))
    clock.t += 3.0
    budget.validation_done(3.0)  # a measured validation pass replaces the estimate
    assert budget.step_s == pytest.approx(0.5)  # (validation time is not step time)
    assert budget.plan(23) == 23 + int((100 - 23 - 3) / (0.5 + 3 / 50))
    for _ in range(10):  # the machine gets slower: the speed is measured over all steps since the 3rd
        clock.t += 1.0
        budget.step_done()
    assert budget.step_s == pytest.approx((20 * 0.5 + 10 * 1.0) / 30)
    assert budget.plan(33) == 33 + int((100 - 33 - 3) / (budget.step_s + 3 / 50))
    clock.t += 200.0
    assert budget.exhausted() and budget.plan(500) == 501  # over budget: end after the next step


def test_time_budget_never_plans_beyond_the_runs_steps():
    clock = FakeClock()
    budget = TimeBudget(1000.0, 0.0, 100, 50, 10, clock=clock)
    for _ in range(23):
        clock.t += 0.1
        budget.step_done()
    assert budget.plan(23) == 100


def test_time_budget_of_a_resumed_run_counts_earlier_sessions():
    clock = FakeClock()
    budget = TimeBudget(100.0, 40.0, NO_LIMIT, 50, 10, prior_step_s=0.4, clock=clock)
    assert budget.elapsed() == pytest.approx(40.0) and not budget.exhausted()
    assert budget.plan(100) == 100 + int(60 / 0.4)  # at the earlier sessions' speed until measured
    clock.t += 60.0
    assert budget.exhausted()


def total_steps(schedule: WarmupCosine) -> int:
    return int(schedule.total_steps.numpy())


def test_run_length_gives_fit_its_epochs_and_stops_at_the_plan():
    cfg = smoke_config(epochs=None, steps=20, steps_per_epoch=8)
    length = RunLength(cfg, 256, 4, quiet)
    assert length.wanted == Length(8, 20)
    schedule = WarmupCosine(1e-3, length.wanted.steps)
    length.start(schedule, 0, 0, 0.0)
    assert (length.initial_epoch, length.epochs, length.remaining) == (0, 3, 20)
    assert [length.step_done(k) for k in (1, 19, 20)] == [False, False, True]
    # a resumed session: the epoch numbering goes on, fit's epochs reach the plan
    resumed = RunLength(cfg, 256, 4, quiet)
    resumed.start(schedule, 17, 3, 30.0)
    assert (resumed.initial_epoch, resumed.epochs, resumed.remaining) == (3, 4, 3)
    finished = RunLength(cfg, 256, 4, quiet)
    finished.start(schedule, 20, 3, 30.0)
    assert finished.remaining == 0 and total_steps(schedule) == 20


def test_run_length_on_resume_keeps_or_replans_the_schedule_or_refuses(tmp_path):
    saved = smoke_config(epochs=None, steps=10, steps_per_epoch=5)
    schedule = WarmupCosine(1e-3, 10)
    messages = []

    def resume(cfg, step=10, spent_s=5.0):
        RunLength(cfg, 64, 1, messages.append).resume(schedule, saved, step, spent_s, tmp_path)

    resume(saved)
    assert total_steps(schedule) == 10 and messages == []  # the same length: the checkpoint's plan
    resume(dataclasses.replace(saved, steps=20))
    assert total_steps(schedule) == 20 and messages[-1].endswith("re-planned to 20")
    with pytest.raises(SdnetError, match="at step 10 already, the new length plans 8 steps"):
        resume(dataclasses.replace(saved, steps=8))
    with pytest.raises(SdnetError, match=r"trained 0.08 min already, the new budget is 0.05 min"):
        resume(dataclasses.replace(saved, steps=None, minutes=0.05))  # 5 s spent, 3 s budget
    assert total_steps(schedule) == 20  # refused: the plan is left as it was
    resume(dataclasses.replace(saved, steps=None, minutes=1.0))
    assert total_steps(schedule) == NO_LIMIT and messages[-1].endswith("the time budget")


def test_run_length_applies_the_budgets_plans_within_the_configs_steps():
    clock = FakeClock()
    messages = []
    cfg = smoke_config(epochs=None, minutes=100 / 60, steps_per_epoch=50)
    length = RunLength(cfg, 256, 10, messages.append, clock=clock)
    schedule = WarmupCosine(1e-3, length.wanted.steps)
    length.start(schedule, 0, 0, 0.0)
    assert total_steps(schedule) == NO_LIMIT and length.epochs == NO_LIMIT // 50  # fit runs until stopped
    for step in range(1, 24):
        clock.t += 2.0 if step <= 3 else 0.5  # as in test_time_budget_replans_the_total_from_the_measured_speed
        assert not length.step_done(step)
    assert total_steps(schedule) == 23 + 154 and messages == ["time budget: planning 177 steps (500 ms/step)"]
    length.validation_begins()
    clock.t += 4.0
    length.validation_ends(23)  # re-planned after every validation pass
    assert total_steps(schedule) == 23 + int((100 - 20 - 5 / 3) / (0.5 + (5 / 3) / 50))
    assert length.elapsed() == pytest.approx(20.0) and length.val_seconds == pytest.approx(4.0)
    step, stop = 23, False
    while not stop:
        step += 1
        clock.t += 0.5
        stop = length.step_done(step)
    assert length.elapsed() == pytest.approx(100.0, abs=0.5)  # stopped when the budget was spent
    # --steps with --minutes: the budget plans within the steps, and training stops at them
    capped = RunLength(dataclasses.replace(cfg, steps=30, steps_per_epoch=8), 256, 10, quiet, clock=clock)
    schedule = WarmupCosine(1e-3, capped.wanted.steps)
    capped.start(schedule, 0, 0, 0.0)
    assert capped.epochs == 4  # 32 steps: fit's last epoch would go past the plan
    done = []
    for step in range(1, 31):
        clock.t += 0.1
        done.append(capped.step_done(step))
    assert done == [False] * 29 + [True] and total_steps(schedule) == 30


def test_time_budget_ends_training_within_it_with_a_decayed_learning_rate(tmp_path, monkeypatch):
    """End to end on a simulated clock (every reading 20 ms after the previous one), so what is checked
    does not depend on this machine's speed."""
    ticks = itertools.count()
    monkeypatch.setattr(train_module, "RunLength", functools.partial(RunLength, clock=lambda: 0.02 * next(ticks)))
    data = tiny_data(32, 16)
    budget_s = 12.0
    cfg = smoke_config(epochs=None, minutes=budget_s / 60, steps_per_epoch=20, warmup_steps=5)
    messages = []
    summary = train(cfg, data, tmp_path / "run", log=messages.append, verbose=0)
    planned = [m for m in messages if m.startswith("time budget: planning")]
    assert planned, messages
    rows = history(tmp_path / "run")
    assert column(rows, "step", int)[-1] == summary["steps"] and RunDir(tmp_path / "run").model.is_file()
    # training and validation ended within the budget (give or take the last step and validation)
    assert column(rows, "seconds")[-1] <= budget_s + 2.0
    # the schedule was planned to end at the budget, so the learning rate decayed most of the way
    assert column(rows, "learning_rate")[-1] < 0.5 * cfg.learning_rate


def test_the_callbacks_record_the_same_in_any_order(tmp_path, monkeypatch):
    """No callback reads what another put into Keras's logs: reversed, they record the same run."""
    data = tiny_data(64, 16)
    cfg = smoke_config(epochs=None, steps=6, steps_per_epoch=2, sdl_weight=0.5, sdl_start=0.5)
    train(cfg, data, tmp_path / "usual", log=quiet, verbose=0)
    usual = train_module._callbacks
    monkeypatch.setattr(train_module, "_callbacks", lambda *a: usual(*a)[::-1])
    train(cfg, data, tmp_path / "reversed", log=quiet, verbose=0)
    a, b = history(tmp_path / "usual"), history(tmp_path / "reversed")
    assert list(a[0]) == list(b[0]) and {"step", "seconds", "learning_rate", "sdl_weight"} <= set(b[0])
    for key in ("epoch", "step", "learning_rate", "sdl_weight"):
        assert column(b, key) == column(a, key), key
    assert column(b, "step", int) == [2, 4, 6] and column(b, "sdl_weight") == [0.0, 0.5, 0.5]
    assert column(b, "learning_rate") == pytest.approx([lr_at(cfg, 6, k) for k in (2, 4, 6)], rel=1e-5)
    tags = {run: set(event_scalars(RunDir(tmp_path / run).logs / "train")) for run in ("usual", "reversed")}
    assert tags["usual"] == tags["reversed"] and "epoch_learning_rate" in tags["reversed"]
    assert tf.train.latest_checkpoint(str(RunDir(tmp_path / "reversed").checkpoints)).endswith("-6")


DISTRIBUTED = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0],
        [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
    sys.path.insert(0, sys.argv[1])
    import test_train as t
    from pipeline.train import train
    out = {}
    for preset in ("smoke", "dense-smoke"):  # the regression and the dense family
        for strategy in ("default", "mirrored"):
            cfg = t.smoke_config(epochs=3, steps_per_epoch=1, strategy=strategy, sdl_weight=0.5, preset=preset)
            run = f"{sys.argv[2]}/{preset}-{strategy}"
            s = train(cfg, t.tiny_data(64, 32, shuffle=False), run, log=t.quiet, verbose=0)
            out[f"{preset}/{strategy}"] = {"replicas": s["replicas"], "history": t.history(__import__("pathlib").Path(run))}
    print("RESULT" + json.dumps(out))
""")


def test_mirrored_strategy_on_two_logical_cpus_matches_one_device(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", DISTRIBUTED, str(Path(__file__).parent), str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT")][0]
    out = json.loads(line[len("RESULT"):])
    for preset in ("smoke", "dense-smoke"):
        default, mirrored = out[f"{preset}/default"], out[f"{preset}/mirrored"]
        assert default["replicas"] == 1 and mirrored["replicas"] == 2
        one, two = default["history"], mirrored["history"]
        assert len(one) == len(two) == 3
        # The first logged loss is that of the first batch, before any update: same up to summation order.
        assert float(one[0]["loss"]) == pytest.approx(float(two[0]["loss"]), rel=1e-4), preset
        # Later ones follow the updates; Adam's first steps (about sign(g) x lr) amplify rounding a little.
        for a, b in zip(one, two):
            for key in ("loss", "val_loss", "val_mean_error_mm"):
                assert float(a[key]) == pytest.approx(float(b[key]), rel=1e-2), (preset, key)


# ---- command line ---------------------------------------------------------------------------------------

def test_cli_refuses_a_data_dir_without_manifest(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    code = cli_main(["train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "manifest" in err[0]
    assert not (tmp_path / "run").exists()


def test_cli_trains_on_a_tiny_data_dir(tmp_path, capsys):
    data = make_tiny_data_dir(tmp_path, rotations=2, crop_size=CROP, train_seqs=3, frames_per_seq=4)
    run = tmp_path / "run"
    argv = ["train", "--data", str(data), "--out", str(run), *data_section_args(data), "--no-fit-refine",
            "--no-fit-centre", "--preset", "smoke", "--epochs", "2", "--batch-size", "4", "--sdl-weight", "0.5",
            "--penalty", "hinge"]
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
    # A longer budget on resume: trained to it, and the run's files say so.
    done = summary["steps"]
    resume = ["train", "--data", str(data), "--out", str(run), "--resume", "--force"]
    assert cli_main(resume + ["--steps", str(done + 6)]) == 0
    assert f"{done + 6} steps" in capsys.readouterr().out
    assert json.loads((run / "config.json").read_text())["steps"] == done + 6
    assert json.loads((run / "summary.json").read_text())["steps"] == done + 6
    assert column(history(run), "step", int)[-1] == done + 6
    assert cli_main(resume + ["--steps", str(done)]) == 2
    assert f"at step {done + 6} already" in capsys.readouterr().err


def test_one_recording_converts_and_trains_with_its_tail_as_validation(tmp_path, capsys):
    """A user with a single training sequence: `sdnet data` holds out its last frames as val, and
    `sdnet train` trains and reports a validation error on them."""
    data = make_tiny_data_dir(tmp_path, rotations=1, crop_size=CROP, train_seqs=1, frames_per_seq=10)
    manifest = json.loads((data / "manifest.json").read_text())
    assert manifest["counts"]["val"] >= 1 and "tail of" in manifest["val_from"]
    run = tmp_path / "run"
    assert cli_main(["train", "--data", str(data), "--out", str(run), *data_section_args(data), "--preset", "smoke",
                     "--steps", "3", "--batch-size", "4", "--no-fit-refine", "--no-fit-centre"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 3 and summary["val_frames"] == manifest["counts"]["val"]
    assert np.isfinite(summary["val_mean_error_mm"])


def test_bfloat16_run_computes_in_bfloat16_learns_and_restores_the_policy(tmp_path):
    data = tiny_data()
    cfg = smoke_config(epochs=6, sdl_weight=0.0, precision="bfloat16")
    keras.utils.set_random_seed(cfg.seed)
    initial = validation_error_mm(build_model(cfg.model, NUM_JOINTS), data, cfg)["mean_error_mm"]
    before = keras.mixed_precision.global_policy().name
    summary = train(cfg, data, tmp_path / "run", log=quiet, verbose=0)
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
    without = data_from_arrays(tiny_manifest(), xt, yt, xv, yv)
    with pytest.raises(SdnetError, match="centres"):
        train(cfg, without, tmp_path / "a", log=quiet, verbose=0)
    assert not (tmp_path / "a").exists()
    centres = np.tile([0.0, 0.0, 350.0], (len(xt), 1))
    data = data_from_arrays(tiny_manifest(), xt, yt, xv, yv, train_centres=centres)
    keras.utils.set_random_seed(cfg.seed)
    initial = validation_error_mm(build_model(cfg.model, NUM_JOINTS), data, cfg)["mean_error_mm"]
    summary = train(cfg, data, tmp_path / "b", log=quiet, verbose=0)
    assert summary["val_mean_error_mm"] <= 0.8 * initial, (initial, summary)
    batch = next(iter(data.train(16, 0, cfg.augment)))
    assert not np.allclose(batch[1].numpy(), yt[:16])  # the labels moved with the crops


def test_cli_trains_a_complete_run_that_predicts_and_repeats_from_its_config(tmp_path):
    """`sdnet train` with shorthands and --set leaves a run that predicts at once (refinement and centre
    refiner fitted on the same data), and `--config RUN/config.json` trains exactly that experiment again."""
    data = make_tiny_data_dir(tmp_path, rotations=1, crop_size=CROP, train_seqs=3, frames_per_seq=4)
    run = tmp_path / "run"
    argv = ["train", "--data", str(data), "--out", str(run), "--preset", "smoke", "--epochs", "1",
            "--batch-size", "4", "--sdl-weight", "0", "--aug-rotation-deg", "90", "--aug-scale", "0.1",
            "--aug-shift-mm", "4", "--aug-pixel-dropout", "0.05", "--batch-norm", "--dropout", "0.1",
            "--precision", "float32", "--crop", "32", "--set", "data.val_fraction=0.3",
            "--set", "refine.radius_mm=[8]", "--centre-steps", "3"]
    assert cli_main(argv) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["augment"] == {"rotation_deg": 90.0, "scale": 0.1, "shift_mm": 4.0, "pixel_dropout": 0.05}
    assert cfg["model"]["batch_norm"] is True and cfg["model"]["dropout"] == 0.1
    assert cfg["version"] == 1 and cfg["data"]["val_fraction"] == 0.3 and cfg["centre_refiner"]["steps"] == 3
    model = load_model(run)
    assert "bn1" in [layer.name for layer in model.layers]
    rundir = RunDir(run)
    assert rundir.has_refinement and rundir.centre_model.is_file()
    assert len(json.loads(rundir.refine.read_text())["table"]) == 1 * 3 * 2 * 2  # the experiment's grid
    png = sorted((tmp_path / "icvl" / "Testing" / "Depth").rglob("*.png"))[0]
    assert cli_main(["predict", "--run", str(run), str(png), "--out", str(tmp_path / "pred"), "--no-overlays"]) == 0
    doc = json.loads((tmp_path / "pred" / "predictions.json").read_text())
    assert doc["refined"] is True and doc["centre_refined"] is True and doc["counts"]["ok"] == 1

    again = tmp_path / "again"
    assert cli_main(["train", "--data", str(data), "--out", str(again), "--config", str(run / "config.json")]) == 0
    second = json.loads((again / "config.json").read_text())
    assert second == cfg  # equal: config.json holds no output path and no time stamp


def test_train_refuses_data_cut_otherwise_than_its_experiment(tmp_path, capsys):
    data = make_tiny_data_dir(tmp_path, rotations=1, crop_size=CROP, train_seqs=3, frames_per_seq=4)
    run = tmp_path / "run"
    assert cli_main(["train", "--data", str(data), "--out", str(run), "--config", "configs/smoke.json"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "data.crop_size=32" in err and "data.rotations=1" in err
    assert "sdnet data --config" in err and not run.exists()


def test_w_schedule_starts_the_skeleton_loss_late_and_history_logs_every_term(tmp_path):
    data = tiny_data(64, 32)
    run = tmp_path / "late"
    cfg = smoke_config(epochs=4, steps_per_epoch=2, sdl_weight=0.5, sdl_start=0.5, penalty="hinge")
    train(cfg, data, run, log=quiet, verbose=0)
    rows = history(run)
    # 8 planned steps: w = 0 before step 4 (half of them), then 0.5
    assert [float(r["sdl_weight"]) for r in rows] == [0.0, 0.0, 0.5, 0.5]
    for r in rows:
        w = float(r["sdl_weight"])
        assert float(r["loss"]) == pytest.approx(float(r["joint"]) + w * float(r["sdl"]), rel=1e-4)
        assert float(r["sdl"]) == pytest.approx(float(r["loss_a"]) + float(r["loss_b"]), rel=1e-4)  # alpha = beta = 1
        assert (float(r["sdl_grad_share"]) == 0.0) == (w == 0.0) and 0.0 <= float(r["sdl_grad_share"]) < 1.0
        assert float(r["sdl_grad_balance_w"]) > 0 and r["val_joint"] and r["val_loss_a"]
    assert LossConfig(sdl_weight=0.4, sdl_start=0.5, sdl_ramp=0.2).weight_at(0.6) == pytest.approx(0.2)
    assert LossConfig(sdl_weight=0.4).weight_at(0.0) == 0.4 and not LossConfig(sdl_weight=0.4).scheduled
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
    data = data_from_arrays(tiny_manifest(), xt, joints.reshape(64, -1), xv, yv)
    run = tmp_path / "run"
    cfg = smoke_config(epochs=1, steps_per_epoch=1, threshold_percentile=100.0)
    assert cfg.loss.threshold_deg is None and cfg.loss.angle_thresholds_deg == ()
    train(cfg, data, run, log=quiet, verbose=0)
    stored = json.loads((run / "config.json").read_text())["loss"]["angle_thresholds_deg"]
    # pair order: per finger (root, middle joint); the largest index middle-joint bend is 63 degrees
    assert stored[3] == pytest.approx(63.0, abs=0.01)
    assert np.delete(stored, 3) == pytest.approx(0.0, abs=0.01)
    assert sdl_kwargs(load_run_config(run).loss)["threshold"][3] == pytest.approx(np.radians(63.0), abs=1e-4)
    # a resumed run keeps its thresholds (no config difference), a fixed threshold_deg wins over them
    again = with_angle_thresholds(cfg, data, load_run_config(run))
    assert differences(again, load_run_config(run)) == []
    fixed = smoke_config(threshold_deg=110.0)
    assert with_angle_thresholds(fixed, data) == fixed
    assert sdl_kwargs(fixed.loss)["threshold"] == pytest.approx(np.radians(110.0))


def test_a_tiny_nyu_run_trains_on_its_14_joints_and_resumes(tmp_path):
    """Training on NYU data (`sdnet data --dataset nyu`): the model predicts NYU's 14 joints, the skeleton
    loss runs on NYU's tree (6 angle thresholds derived from its labels), and a resumed session
    restores the compiled loss, which carries the skeleton."""
    data_dir = make_tiny_nyu_data_dir(tmp_path, crop_size=CROP)
    manifest = json.loads((data_dir / "manifest.json").read_text())
    sets = {"model.preset": "smoke", "data": manifest["config"], "batch_size": 4, "learning_rate": 1e-3,
            "warmup_steps": 1, "epochs": 1, "steps_per_epoch": 2, "minutes": None, "precision": "float32",
            "loss.sdl_weight": 0.5, **NO_AUG}
    cfg = bind_data(load_experiment(None, sets), manifest, data_dir)
    run = tmp_path / "run"
    summary = train(cfg, data_from_dir(data_dir), run, log=quiet, verbose=0)
    assert summary["steps"] == 2 and len(summary["val_per_joint_mm"]) == NYU_SKELETON.num_joints
    saved = load_run_config(run)
    assert saved.data.dataset == "nyu" and NYU_SKELETON.matches(saved.source.skeleton)
    assert len(saved.loss.angle_thresholds_deg) == 6  # the thumb's 2 angles, one per other finger
    assert load_model(run).output_shape == (None, 3 * NYU_SKELETON.num_joints)
    longer = dataclasses.replace(saved, epochs=2)
    again = train(longer, data_from_dir(data_dir), run, resume=True, force=True, log=quiet, verbose=0)
    assert again["steps"] == 4 and again["start_step"] == 2
