"""The trainable state of a run: model, optimizer with its learning-rate schedule, loss and logged
metrics, the scheduled skeleton-loss weight, and the tf.train checkpoint that holds them all (with
the epochs done and the seconds spent) for ``--resume``."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import keras
import tensorflow as tf

from models.losses import (DEFAULT_THRESHOLD_RAD, GradientBalanceMetric, LossTermMetric, MeanJointErrorMM,
                           SDNetLoss, SkeletonDifferenceMetric)
from models.sdnet import build_model
from pipeline.config import LossConfig, TrainConfig
from pipeline.errors import SdnetError
from pipeline.rundir import RunDir, run_skeleton
from pipeline.training.distribute import cluster_role, keras_multi_worker_fixes, select_strategy
from pipeline.training.schedule import WarmupCosine


@dataclasses.dataclass
class Built:
    """What ``build`` makes: the strategy, the compiled model, its WarmupCosine schedule, the
    checkpoint, and the checkpointed counters (tf.Variables): ``epochs_done``, ``seconds`` (wall time
    of the run over all sessions) and ``sdl_weight`` (the scheduled w; None when w is constant)."""

    strategy: object
    model: object
    schedule: WarmupCosine
    checkpoint: object
    epochs_done: object
    seconds: object
    sdl_weight: object


def sdl_kwargs(loss: LossConfig) -> dict:
    """Keyword arguments of ``models.losses.skeleton_difference_loss`` for a LossConfig; the angle
    threshold [radians] is ``threshold_deg`` when set, else the derived per-angle thresholds
    (``thresholds.with_angle_thresholds``), else the models.losses fallback constant."""

    if loss.threshold_deg is not None:
        threshold = math.radians(loss.threshold_deg)
    elif loss.angle_thresholds_deg:
        threshold = [math.radians(v) for v in loss.angle_thresholds_deg]
    else:
        threshold = DEFAULT_THRESHOLD_RAD
    return dict(alpha=loss.alpha, beta=loss.beta, omega1=loss.omega1, omega2=loss.omega2,
                threshold=threshold, penalty=loss.penalty)


def loss_and_metrics(cfg: TrainConfig, weight_var=None) -> tuple[object, list]:
    """The compiled loss (joint + w psi_SDL) and the logged metrics: mean error [mm], each unweighted
    loss term, and the gradient share / balance weight of the skeleton terms; on the run's skeleton
    (``rundir.run_skeleton``), which the loss and metrics keep in their saved configs."""

    sdl, joint, sk = sdl_kwargs(cfg.loss), cfg.loss.joint_loss, run_skeleton(cfg)
    loss = SDNetLoss(sk, sdl_weight=cfg.loss.sdl_weight, joint=joint, **sdl)
    if weight_var is not None:
        loss.use_weight_variable(weight_var)
    weight = weight_var if weight_var is not None else cfg.loss.sdl_weight
    metrics = [MeanJointErrorMM(cfg.data.cube_mm), LossTermMetric("joint", sk, joint, **sdl),
               SkeletonDifferenceMetric(sk, **sdl), LossTermMetric("loss_a", sk, joint, **sdl),
               LossTermMetric("loss_b", sk, joint, **sdl),
               GradientBalanceMetric(sk, "share", joint, weight, **sdl),
               GradientBalanceMetric(sk, "balance_w", joint, weight, **sdl)]
    return loss, metrics


def build(cfg: TrainConfig, planned_total: int, pca=None, strategy=None) -> Built:
    """A fresh run's state, seeded with ``cfg.seed``, under ``strategy`` (default: ``cfg.strategy``'s);
    ``pca``: the pose basis of ``cfg.model.pca_dims`` (None for a resumed run: restored)."""

    strategy = strategy if strategy is not None else select_strategy(cfg.strategy)
    keras.utils.set_random_seed(cfg.seed)
    with strategy.scope():
        model = build_model(cfg.model, run_skeleton(cfg).num_joints, pca=pca)
        schedule = WarmupCosine(cfg.learning_rate, planned_total, cfg.warmup_steps, cfg.min_lr_fraction)
        optimizer = keras.optimizers.Adam(schedule)
        weight_var = (tf.Variable(cfg.loss.weight_at(0.0), dtype=tf.float32, trainable=False, name="sdl_weight")
                      if cfg.loss.scheduled else None)
        loss, metrics = loss_and_metrics(cfg, weight_var)
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics, jit_compile=False)
        optimizer.build(model.trainable_variables)
        epochs_done = tf.Variable(0, dtype=tf.int64, trainable=False, name="epochs_done")
        seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="train_seconds")
        checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, total_steps=schedule.total_steps,
                                         epochs_done=epochs_done, train_seconds=seconds)
    if cluster_role(strategy).workers > 1:
        keras_multi_worker_fixes(model)
    return Built(strategy, model, schedule, checkpoint, epochs_done, seconds, weight_var)


def checkpoint_manager(built: Built, directory: Path):
    """The manager of ``built``'s checkpoints in RUN/checkpoints of ``directory`` (the last two kept)."""
    return tf.train.CheckpointManager(built.checkpoint, str(RunDir(directory).checkpoints), max_to_keep=2)


def restore(built: Built, run_dir: Path) -> None:
    """Restore the latest checkpoint of ``run_dir``; SdnetError (nothing written) when missing or corrupt."""
    where = RunDir(run_dir).checkpoints
    latest = tf.train.latest_checkpoint(str(where)) if where.is_dir() else None
    if latest is None:
        raise SdnetError(f"{where}: no checkpoint to resume from")
    try:
        built.checkpoint.restore(latest).assert_consumed()
    except Exception as e:  # noqa: BLE001  (tf raises NotFound/DataLoss/Assertion/Value errors here)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SdnetError(f"{latest}: cannot restore the checkpoint ({first[:200]})") from None
