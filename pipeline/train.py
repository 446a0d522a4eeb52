"""``sdnet train``'s entry point: ``train`` checks its input, builds or restores the run's state and
runs Keras ``fit`` with the run's callbacks; the parts live in ``pipeline.training``.

Writes the run directory (file names: ``pipeline.rundir``): config.json, batch_check.png, checkpoints/
(every epoch and on SIGINT/SIGTERM), logs/ (TensorBoard), history.csv (one row per epoch), then
model.keras and, last, summary.json.

Resume (``resume=True``; ``sdnet train --resume``; docs/design/training.md):
  restored exactly: the weights, the Adam state and step count, the schedule's planned total steps,
    the epochs done (epoch numbering goes on), the seconds spent (a time budget counts all sessions);
    history.csv and TensorBoard are appended to.
  not reproduced: the order of the training batches. A resumed session draws a fresh shuffle (and
    fresh augmentation) from ``seed + epochs done`` instead of continuing the interrupted stream, and
    an interrupted epoch counts as done, so validations fall at other steps than in an uninterrupted
    run. A resumed run is therefore an equally valid run, not the same numbers; the same data order
    (unshuffled input, stopped after an epoch's checkpoint, epochs of one pass) gives the same
    weights up to floating-point summation order.
  a new length (``--steps``, ``--epochs``, ``--steps-per-epoch``, ``--minutes`` given with --force):
    the schedule is re-planned to it, the learning rate at step k being the one a run planned for the
    new length from the start uses at k; a length the run has already passed is refused.
"""
from __future__ import annotations

import math
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import keras
import tensorflow as tf

from pipeline.config import TrainConfig
from pipeline.errors import SdnetError
from pipeline.fsutil import atomic_write_bytes, write_json
from pipeline.precision import keras_policy, resolve_precision
from pipeline.rundir import RunDir
from pipeline.training import callbacks as cb
from pipeline.training.batch_check import batch_picture_png, check_batch
from pipeline.training.budget import TimeBudget
from pipeline.training.build import Built, build, checkpoint_manager, restore
from pipeline.training.data import DataSource, training_poses, validation_error_mm, with_deterministic_input
from pipeline.training.distribute import (PEER_ERRORS, Role, cluster_role, peer_failure, select_strategy,
                                          slices_of_global_batches)
from pipeline.training.resolve import config_differences, config_json, load_run_config, with_angle_thresholds
from pipeline.training.schedule import NO_LIMIT, plan_steps


def train(cfg: TrainConfig, data: DataSource, run_dir: Path, *, resume: bool = False, force: bool = False,
          log: Callable[[str], None] | None = None, verbose: int | None = None) -> dict:
    """Train (or resume) a run; returns the summary (also RUN/summary.json when training finished).

    Bad input (missing/corrupt run or checkpoint, config mismatch on resume without ``force``, an
    existing run without ``resume``/``force``, a resume whose new length the run has already passed,
    a bad first batch) raises SdnetError before anything in ``run_dir`` is written. SIGINT/SIGTERM
    stop after the current step, save a checkpoint, and return a summary with ``interrupted`` set to
    the signal number. Resuming: see the module docstring.

    Multi-worker (TF_CONFIG, strategy auto or multiworker): every process runs this with the same
    arguments; ``cfg.batch_size`` is the global batch, split over the workers (each global batch is
    sliced across the workers from input made deterministic, so the steps equal a one-process run's,
    see ``distribute.slices_of_global_batches``); only the chief writes ``run_dir``, the others write
    their checkpoints and model to a temporary directory they remove. When a process of the cluster
    dies the others raise SdnetError naming it and the last checkpoint. The data and, for ``resume``,
    ``run_dir`` must be readable by every worker at the same path. Non-chief summaries hold
    ``chief: False``.
    """
    log = log or (lambda msg: print(f"[train] {msg}", file=sys.stderr, flush=True))
    run = RunDir(run_dir)
    run_dir = run.path
    # The strategy first: a MultiWorkerMirroredStrategy must exist before TensorFlow runs any op.
    strategy = select_strategy(cfg.strategy)
    role = cluster_role(strategy)
    if role.workers > 1:
        if cfg.minutes is not None:
            raise SdnetError("--minutes cannot be used with several workers (each would stop at its own "
                             "time); give --steps or --epochs")
        if cfg.batch_size % strategy.num_replicas_in_sync:
            raise SdnetError(f"--batch-size is the global batch: {cfg.batch_size} does not split evenly "
                             f"over {strategy.num_replicas_in_sync} replicas")
        data = with_deterministic_input(data)
        base_log = log
        log = lambda msg: base_log(f"{role.name}: {msg}")  # noqa: E731
    if data.num_train < cfg.batch_size:
        raise SdnetError(f"{data.data_dir or 'data'}: {data.num_train} training records, fewer than one "
                         f"batch of {cfg.batch_size}")
    if data.num_val < 1:
        raise SdnetError(f"{data.data_dir or 'data'}: no validation records")
    spe, planned = plan_steps(cfg, data.num_train)
    saved = None
    if resume:
        saved = load_run_config(run_dir)
        cfg = with_angle_thresholds(cfg, data, saved)
        diff = config_differences(saved, cfg)
        if diff and not force:
            raise SdnetError(f"{run.config}: the run was made with a different config "
                             f"({', '.join(diff)}); pass --force to resume with the new one")
    elif role.chief and run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())) and not force:
        raise SdnetError(f"{run_dir}: exists and is not empty (pass --resume to continue it or --force "
                         "to replace it)")
    else:
        cfg = with_angle_thresholds(cfg, data)

    policy = keras.mixed_precision.global_policy().name
    has_gpu = bool(tf.config.list_logical_devices("GPU"))
    precision = resolve_precision(cfg.precision, has_gpu)
    if precision == "float16" and not has_gpu:
        log("float16 mixed precision is meant for GPUs; on CPU it is slower")
    keras.mixed_precision.set_global_policy(keras_policy(precision))
    try:
        pca = None
        if cfg.model.pca_dims > 0 and not resume:  # a resumed run restores the basis with the weights
            from models.sdnet import fit_pose_pca

            pca = fit_pose_pca(training_poses(data, cfg), cfg.model.pca_dims)
        built = build(cfg, planned, pca, strategy)
        if resume:
            restore(built, run_dir)
            replan_on_resume(built, saved, cfg, data.num_train, run_dir, log)
        image, joints = next(iter(data.train(cfg.batch_size, cfg.seed, cfg.augment).take(1)))
        stats = check_batch(image.numpy(), joints.numpy(), cfg)
        if not role.chief:  # a worker: checkpoints and model to a temporary directory, removed after
            scratch = Path(tempfile.mkdtemp(prefix="sdnet-train-worker-"))
            try:
                return _fit(cfg, data, run_dir, built, checkpoint_manager(built, scratch), spe, planned, log,
                            verbose, role, scratch)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        if not resume and run_dir.exists():
            shutil.rmtree(run_dir) if run_dir.is_dir() else run_dir.unlink()
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run.config, config_json(cfg))
        atomic_write_bytes(run.batch_picture, batch_picture_png(image.numpy(), joints.numpy()))
        log(f"batch check: {stats}; picture in {run.batch_picture}; {precision} compute")
        return _fit(cfg, data, run_dir, built, checkpoint_manager(built, run_dir), spe, planned, log, verbose,
                    role)
    finally:
        keras.mixed_precision.set_global_policy(policy)


def run_length(cfg: TrainConfig, num_train: int) -> tuple[int, int, float | None]:
    """What sets how long a run trains: (steps per epoch, planned total steps, minutes)."""
    return (*plan_steps(cfg, num_train), cfg.minutes)


def replan_on_resume(built: Built, saved: TrainConfig, cfg: TrainConfig, num_train: int, run_dir: Path,
                     log: Callable[[str], None]) -> None:
    """After restoring: keep the checkpoint's planned total when the run's length is unchanged;
    otherwise plan the new length (its steps, or for a time budget alone NO_LIMIT, which the budget
    cuts to what fits). SdnetError when the run has already passed the new length."""
    if run_length(saved, num_train) == run_length(cfg, num_train):
        return
    step = int(built.model.optimizer.iterations.numpy())
    _, total = plan_steps(cfg, num_train)
    if total <= step:
        raise SdnetError(f"{run_dir}: the run is at step {step} already, the new length plans {total} steps; "
                         "give more --steps or --epochs")
    if cfg.minutes is not None and float(built.seconds.numpy()) >= 60.0 * cfg.minutes:
        raise SdnetError(f"{run_dir}: the run has trained {float(built.seconds.numpy()) / 60:.2f} min already, "
                         f"the new budget is {cfg.minutes:g} min; give more --minutes")
    built.schedule.total_steps.assign(total)
    log(f"resuming at step {step} with a new length: the schedule is re-planned to "
        f"{total if total < NO_LIMIT else 'the time budget'}")


def _fit(cfg: TrainConfig, data: DataSource, run_dir: Path, built: Built, manager, spe: int, planned: int,
         log, verbose, role: Role = Role(), scratch: Path | None = None) -> dict:
    """Fit; the chief writes ``run_dir``; a non-chief worker writes only to ``scratch``."""
    run = RunDir(run_dir)
    model, schedule = built.model, built.schedule
    start_step = int(model.optimizer.iterations.numpy())
    epochs_done = int(built.epochs_done.numpy())
    spent_s = float(built.seconds.numpy())
    t_session = time.perf_counter()
    budget = None
    if cfg.minutes is not None:
        budget = TimeBudget(60.0 * cfg.minutes, spent_s, planned, spe, math.ceil(data.num_val / cfg.batch_size),
                            prior_step_s=spent_s / start_step if start_step else None)
    elapsed = budget.elapsed if budget is not None else (lambda: spent_s + time.perf_counter() - t_session)
    stop = cb.StopControl(schedule, budget, log)
    stop.replan(start_step)  # a resumed run with a budget: plan from the earlier sessions' speed
    w_var = built.sdl_weight
    weight = (lambda: float(cfg.loss.sdl_weight)) if w_var is None else (lambda: float(w_var.numpy()))  # noqa: E731
    save = cb.SaveCheckpoint(manager, built.epochs_done, built.seconds, elapsed)
    if role.chief:
        callbacks = [stop, cb.RunLogs(elapsed, schedule, weight, run.history), cb.history_logger(run.history),
                     cb.tensorboard(run.logs), save, cb.ProgressLog(log)]
    else:
        callbacks = [stop, save]
    if w_var is not None:
        callbacks.insert(0, cb.WeightSchedule(cfg.loss, w_var, schedule))
    total = int(schedule.total_steps.numpy())
    spent = budget is not None and budget.exhausted()
    remaining = 0 if spent else max(0, total - start_step)
    # fit's epochs: up to the plan, or with a budget up to its limit (StopControl ends fit at the plan)
    epochs = epochs_done + math.ceil(max(remaining, planned - start_step if budget else 0) / spe)
    log(f"training {cfg.model.preset} preset on {data.num_train} records: step {start_step} of "
        f"{total if total < NO_LIMIT else 'a time budget'}, "
        f"{spe} steps per epoch, batch {cfg.batch_size}, {built.strategy.num_replicas_in_sync} replica(s)")
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, stop.handle_signal)
    try:
        if remaining > 0:
            seed = cfg.seed + epochs_done  # a resumed session draws a fresh shuffle
            train_ds = data.train(cfg.batch_size, seed, cfg.augment)
            val_ds = data.val(cfg.batch_size)
            val_steps = max(1, math.ceil(data.num_val / cfg.batch_size))  # a finite split, read whole
            if role.workers > 1:
                val_steps = max(1, data.num_val // cfg.batch_size)
                train_ds = slices_of_global_batches(
                    built.strategy, lambda: data.train(cfg.batch_size, seed, cfg.augment), cfg.batch_size)
                val_ds = slices_of_global_batches(  # whole global batches only (the summary uses all)
                    built.strategy, lambda: data.val(cfg.batch_size).unbatch().batch(cfg.batch_size, drop_remainder=True),
                    cfg.batch_size)
            try:
                model.fit(train_ds, epochs=epochs, initial_epoch=epochs_done, steps_per_epoch=spe,
                          validation_data=val_ds, validation_steps=val_steps, callbacks=callbacks,
                          shuffle=False,  # the tf.data pipelines shuffle (and say so to Keras)
                          verbose=verbose if verbose is not None else (1 if sys.stderr.isatty() else 2))
            except PEER_ERRORS as e:
                if role.workers < 2:
                    raise
                raise peer_failure(e, role, run_dir, int(model.optimizer.iterations.numpy())) from None
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    steps = int(model.optimizer.iterations.numpy())
    session_s = time.perf_counter() - t_session
    train_s = max(session_s - stop.val_seconds, 1e-9)
    summary = {"steps": steps, "start_step": start_step, "epochs": int(built.epochs_done.numpy()),
               "wall_seconds": round(elapsed(), 2), "session_seconds": round(session_s, 2),
               "images_per_s": round((steps - start_step) * cfg.batch_size / train_s, 2),
               "replicas": int(built.strategy.num_replicas_in_sync), "preset": cfg.model.preset}
    if stop.signal is not None:
        summary["interrupted"] = int(stop.signal)
        log(f"interrupted at step {steps}; checkpoint in {run.checkpoints}; continue with --resume")
        return summary
    if remaining == 0:
        log(f"nothing left to train (step {steps}); writing the model and summary")
    if manager.latest_checkpoint is None or not manager.latest_checkpoint.endswith(f"-{steps}"):
        built.seconds.assign(elapsed())
        manager.save(checkpoint_number=steps)
    if not role.chief:
        model.save(RunDir(scratch).model)  # as the chief does (saving may take part in collectives)
        log(f"done: {steps} steps; the chief writes the run")
        return {**summary, "chief": False}
    val = validation_error_mm(model, data, cfg)
    summary = {"val_mean_error_mm": val["mean_error_mm"], "val_per_joint_mm": val["per_joint_mm"],
               "val_frames": val["frames"], **summary}
    tmp = run_dir / f".{run.model.name}.tmp.keras"
    model.save(tmp)
    os.replace(tmp, run.model)
    write_json(run.summary, summary)
    log(f"done: {steps} steps, validation mean error {val['mean_error_mm']:.2f} mm "
        f"({summary['images_per_s']:.0f} images/s); model in {run.model}")
    return summary
