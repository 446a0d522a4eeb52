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
    new length from the start uses at k; a length the run has already passed is refused. How long a
    run trains is decided in one place: ``pipeline.training.length.RunLength``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Callable

import keras
import tensorflow as tf

from models.sdnet import fit_pose_pca
from pipeline.config import TrainConfig
from pipeline.errors import SdnetError
from pipeline.fsutil import atomic_write_bytes, write_json
from pipeline.precision import keras_policy, resolve_precision
from pipeline.rundir import RunDir
from pipeline.training import callbacks as cb
from pipeline.training.batch_check import batch_picture_png, check_batch
from pipeline.training.build import Built, build, checkpoint_manager, restore
from pipeline.training.data import DataSource, training_poses, validation_error_mm, with_deterministic_input
from pipeline.training.distribute import (PEER_ERRORS, Role, cluster_role, peer_failure, select_strategy,
                                          slices_of_global_batches)
from pipeline.experiment import differences, experiment_json
from pipeline.rundir import load_run_config, run_skeleton
from pipeline.training.thresholds import with_angle_thresholds
from pipeline.training.length import NO_LIMIT, RunLength


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
    _check_input(cfg, data, strategy, role)
    if role.workers > 1:  # the same batches on every worker; each worker's messages say which it is
        data = with_deterministic_input(data)
        base_log = log
        log = lambda msg: base_log(f"{role.name}: {msg}")  # noqa: E731
    saved = None
    if resume:
        saved = load_run_config(run_dir)
        cfg = with_angle_thresholds(cfg, data, saved)
        diff = differences(saved, cfg)
        if diff and not force:
            raise SdnetError(f"{run.config}: the run was made with a different config "
                             f"({', '.join(diff)}); pass --force to resume with the new one")
    elif role.chief and run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())) and not force:
        raise SdnetError(f"{run_dir}: exists and is not empty (pass --resume to continue it or --force "
                         "to replace it)")
    else:
        cfg = with_angle_thresholds(cfg, data)

    length = RunLength(cfg, data.num_train, math.ceil(data.num_val / cfg.batch_size), log)
    with _global_precision(cfg.precision, log) as precision:
        pca = None
        if cfg.model.pca_dims > 0 and not resume:  # a resumed run restores the basis with the weights
            pca = fit_pose_pca(training_poses(data, cfg), cfg.model.pca_dims)
        built = build(cfg, length.wanted.steps, pca, strategy)
        if resume:
            restore(built, run_dir)
            length.resume(built.schedule, saved, _steps_done(built), float(built.seconds.numpy()), run_dir)
        image, joints = (t.numpy() for t in next(iter(data.train(cfg.batch_size, cfg.seed, cfg.augment).take(1))))
        stats = check_batch(image, joints, cfg)
        session = Session(cfg, data, run, built, length, role, log, verbose)
        if not role.chief:  # a worker: checkpoints and model to a temporary directory, removed after
            scratch = Path(tempfile.mkdtemp(prefix="sdnet-train-worker-"))
            try:
                return _fit(session, RunDir(scratch))
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        if not resume and run_dir.exists():
            shutil.rmtree(run_dir) if run_dir.is_dir() else run_dir.unlink()
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run.config, experiment_json(cfg))
        atomic_write_bytes(run.batch_picture, batch_picture_png(image, joints, run_skeleton(cfg)))
        log(f"batch check: {stats}; picture in {run.batch_picture}; {precision} compute")
        return _fit(session, run)


@dataclasses.dataclass
class Session:
    """One session of a run, as ``train`` sets it up: the config (angle thresholds resolved), the
    data, the run directory (written by the chief only), the built and, on resume, restored state,
    the run's length, this process's place in the cluster, where messages go, Keras's verbosity."""

    cfg: TrainConfig
    data: DataSource
    run: RunDir
    built: Built
    length: RunLength
    role: Role
    log: Callable[[str], None]
    verbose: int | None


def _check_input(cfg: TrainConfig, data: DataSource, strategy, role: Role) -> None:
    """SdnetError when the data or, with several workers, the config cannot make this run."""
    if role.workers > 1:
        if cfg.minutes is not None:
            raise SdnetError("a time budget (minutes) cannot be used with several workers (each would stop "
                             "at its own time); give --steps or --epochs and --set minutes=null")
        if cfg.batch_size % strategy.num_replicas_in_sync:
            raise SdnetError(f"--batch-size is the global batch: {cfg.batch_size} does not split evenly "
                             f"over {strategy.num_replicas_in_sync} replicas")
    if data.num_train < cfg.batch_size:
        raise SdnetError(f"{data.data_dir or 'data'}: {data.num_train} training records, fewer than one "
                         f"batch of {cfg.batch_size}")
    if data.num_val < 1:
        raise SdnetError(f"{data.data_dir or 'data'}: no validation records")


@contextlib.contextmanager
def _global_precision(name: str, log: Callable[[str], None]):
    """Keras's global dtype policy for the precision ``name`` (restored after); yields the precision."""
    before = keras.mixed_precision.global_policy().name
    has_gpu = bool(tf.config.list_logical_devices("GPU"))
    precision = resolve_precision(name, has_gpu)
    if precision == "float16" and not has_gpu:
        log("float16 mixed precision is meant for GPUs; on CPU it is slower")
    keras.mixed_precision.set_global_policy(keras_policy(precision))
    try:
        yield precision
    finally:
        keras.mixed_precision.set_global_policy(before)


@contextlib.contextmanager
def _signals_to(handler):
    """SIGINT and SIGTERM go to ``handler`` inside the block; the caller's handlers are restored after."""
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, handler)
    try:
        yield
    finally:
        for s, before in previous.items():
            signal.signal(s, before)


def _steps_done(built: Built) -> int:
    return int(built.model.optimizer.iterations.numpy())


def _fit(s: Session, out: RunDir) -> dict:
    """Train the session to its length and return its summary. Checkpoints go to ``out`` (the run for
    the chief, a scratch directory for a worker); the chief writes the history, model and summary."""
    cfg, built, length = s.cfg, s.built, s.length
    manager = checkpoint_manager(built, out.path)
    length.start(built.schedule, _steps_done(built), int(built.epochs_done.numpy()), float(built.seconds.numpy()))
    stop = cb.StopControl(length, s.log)
    total = length.total()
    s.log(f"training {cfg.model.preset} preset on {s.data.num_train} records: step {length.start_step} of "
          f"{total if total < NO_LIMIT else 'a time budget'}, {length.wanted.steps_per_epoch} steps per epoch, "
          f"batch {cfg.batch_size}, {built.strategy.num_replicas_in_sync} replica(s)")
    if length.remaining > 0:
        with _signals_to(stop.handle_signal):
            _run_fit(s, _callbacks(s, stop, manager))
    steps = _steps_done(built)
    session_s = length.session_seconds()
    summary = {"steps": steps, "start_step": length.start_step, "epochs": int(built.epochs_done.numpy()),
               "wall_seconds": round(length.elapsed(), 2), "session_seconds": round(session_s, 2),
               "images_per_s": round((steps - length.start_step) * cfg.batch_size
                                     / max(session_s - length.val_seconds, 1e-9), 2),
               "replicas": int(built.strategy.num_replicas_in_sync), "preset": cfg.model.preset}
    if stop.signal is not None:
        s.log(f"interrupted at step {steps}; checkpoint in {s.run.checkpoints}; continue with --resume")
        return {**summary, "interrupted": int(stop.signal)}
    if length.remaining == 0:
        s.log(f"nothing left to train (step {steps}); writing the model and summary")
    if manager.latest_checkpoint is None or not manager.latest_checkpoint.endswith(f"-{steps}"):
        built.seconds.assign(length.elapsed())
        manager.save(checkpoint_number=steps)
    if not s.role.chief:
        built.model.save(out.model)  # as the chief does (saving may take part in collectives)
        s.log(f"done: {steps} steps; the chief writes the run")
        return {**summary, "chief": False}
    return _write_result(s, summary)


def _callbacks(s: Session, stop: cb.StopControl, manager) -> list:
    """fit's callbacks (independent of their order, see ``pipeline.training.callbacks``); ProgressLog
    last, so its line comes after the epoch is recorded and checkpointed. A worker: no history, no log."""
    built = s.built
    callbacks = [stop, cb.SaveCheckpoint(manager, built.epochs_done, built.seconds, s.length.elapsed)]
    w = built.sdl_weight
    if w is not None:
        callbacks.insert(0, cb.WeightSchedule(s.cfg.loss, w, s.length))
    if s.role.chief:
        weight = (lambda: float(s.cfg.loss.sdl_weight)) if w is None else (lambda: float(w.numpy()))  # noqa: E731
        callbacks += [cb.RunHistory(s.run, s.length, weight), cb.ProgressLog(s.log)]
    return callbacks


def _run_fit(s: Session, callbacks: list) -> None:
    """Keras ``fit`` over the session's epochs; a dead peer of a cluster raises SdnetError naming it."""
    cfg, data, length = s.cfg, s.data, s.length
    seed = cfg.seed + length.initial_epoch  # a resumed session draws a fresh shuffle
    train_ds = data.train(cfg.batch_size, seed, cfg.augment)
    val_ds = data.val(cfg.batch_size)
    val_steps = max(1, math.ceil(data.num_val / cfg.batch_size))  # a finite split, read whole
    if s.role.workers > 1:
        strategy = s.built.strategy
        val_steps = max(1, data.num_val // cfg.batch_size)
        train_ds = slices_of_global_batches(
            strategy, lambda: data.train(cfg.batch_size, seed, cfg.augment), cfg.batch_size)
        val_ds = slices_of_global_batches(  # whole global batches only (the summary uses all)
            strategy, lambda: data.val(cfg.batch_size).unbatch().batch(cfg.batch_size, drop_remainder=True),
            cfg.batch_size)
    try:
        s.built.model.fit(train_ds, epochs=length.epochs, initial_epoch=length.initial_epoch,
                          steps_per_epoch=length.wanted.steps_per_epoch, validation_data=val_ds,
                          validation_steps=val_steps, callbacks=callbacks,
                          shuffle=False,  # the tf.data pipelines shuffle (and say so to Keras)
                          verbose=s.verbose if s.verbose is not None else (1 if sys.stderr.isatty() else 2))
    except PEER_ERRORS as e:
        if s.role.workers < 2:
            raise
        raise peer_failure(e, s.role, s.run.path, _steps_done(s.built)) from None


def _write_result(s: Session, summary: dict) -> dict:
    """The chief's end of a finished run: the validation error into the summary, RUN/model.keras,
    then RUN/summary.json (last)."""
    run, model = s.run, s.built.model
    val = validation_error_mm(model, s.data, s.cfg)
    summary = {"val_mean_error_mm": val["mean_error_mm"], "val_per_joint_mm": val["per_joint_mm"],
               "val_frames": val["frames"], **summary}
    tmp = run.path / f".{run.model.name}.tmp.keras"
    model.save(tmp)
    os.replace(tmp, run.model)
    write_json(run.summary, summary)
    s.log(f"done: {summary['steps']} steps, validation mean error {val['mean_error_mm']:.2f} mm "
          f"({summary['images_per_s']:.0f} images/s); model in {run.model}")
    return summary
