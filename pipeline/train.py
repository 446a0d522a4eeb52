"""Training orchestration for ``sdnet train``: config resolution, data checks, Keras fit, checkpoints.

Run directory (``RUN``):
  config.json        resolved TrainConfig (model, loss, and the manifest's crop/cube/intrinsics/skeleton)
  batch_check.png    one training batch: crops with their joints drawn, checked before training
  checkpoints/       tf.train checkpoints (model, optimizer, step, epochs, plan), every epoch and on
                     SIGINT/SIGTERM; ``--resume`` continues from the latest
  logs/              TensorBoard event files
  history.csv        one row per epoch: step, losses, train/val mean error [mm], learning rate, seconds
  model.keras        the trained model (written at the end, atomically)
  summary.json       final validation error [mm], steps, wall time, images/s (written last)

Joints are normalized as in ``pipeline.input``: (xyz - centre) / (cube_mm / 2), camera axes; the loss
runs on them (psi_SDL is scale invariant); errors are reported in mm with the record's cube.
"""
from __future__ import annotations

import dataclasses
import io
import json
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
import numpy as np
import tensorflow as tf

from pipeline.config import AugmentConfig, LossConfig, TrainConfig, TrainDataInfo, from_dict, to_dict
from pipeline.errors import SdnetError
from pipeline.fsutil import atomic_write_bytes, write_json
from pipeline.precision import cpu_has_native_bf16, keras_policy, resolve_precision
from pipeline.skeleton import ICVL_SKELETON

DEFAULT_EPOCHS = 10
CONFIG_FILE = "config.json"
SUMMARY_FILE = "summary.json"
MODEL_FILE = "model.keras"
HISTORY_FILE = "history.csv"
BATCH_PICTURE = "batch_check.png"
CHECKPOINT_DIR = "checkpoints"
LOG_DIR = "logs"
# loss = joint + w * sdl; sdl = alpha loss_a + beta loss_b (unweighted terms); sdl_weight: w in force
# at the epoch's end; sdl_grad_share / sdl_grad_balance_w: see models.losses.GradientBalanceMetric.
HISTORY_COLUMNS = ("epoch", "step", "loss", "mean_error_mm", "joint", "sdl", "loss_a", "loss_b",
                   "sdl_weight", "sdl_grad_share", "sdl_grad_balance_w", "val_loss", "val_mean_error_mm",
                   "val_joint", "val_sdl", "val_loss_a", "val_loss_b", "learning_rate", "seconds")
# Normalized joints beyond this magnitude mean the labels were not divided by cube/2.
MAX_ABS_JOINT = 3.0
LOSS_OVERRIDES = ("sdl_weight", "alpha", "beta", "omega1", "omega2", "threshold_deg", "threshold_percentile",
                  "penalty", "joint_loss", "sdl_start", "sdl_ramp")
TOP_OVERRIDES = ("batch_size", "epochs", "steps", "steps_per_epoch", "minutes", "learning_rate",
                 "warmup_steps", "min_lr_fraction", "seed", "precision", "strategy")
# option name -> AugmentConfig field, and ModelConfig fields that can be overridden.
AUGMENT_OVERRIDES = {"aug_rotation_deg": "rotation_deg", "aug_scale": "scale", "aug_shift_mm": "shift_mm",
                     "aug_pixel_dropout": "pixel_dropout"}
MODEL_OVERRIDES = ("dropout", "batch_norm", "pca_dims")
NO_AUGMENT = AugmentConfig(rotation_deg=0.0, scale=0.0, shift_mm=0.0, pixel_dropout=0.0)


# ---- configuration ------------------------------------------------------------------------------------

def data_info(manifest: dict, data_dir: str | Path = "") -> TrainDataInfo:
    """The part of a manifest a run records: crop [px], cube [mm], intrinsics, skeleton, counts."""
    try:
        return TrainDataInfo(
            data_dir=str(Path(data_dir).resolve()) if data_dir else "",
            schema_version=int(manifest["schema_version"]), crop_size=int(manifest["crop_size"]),
            cube_mm=float(manifest["cube_mm"]), intrinsics=dict(manifest["intrinsics"]),
            skeleton=dict(manifest["skeleton"]), counts={k: int(v) for k, v in manifest["counts"].items()},
            centre=dict(manifest.get("config", {}).get("centre", {})))
    except (KeyError, TypeError, ValueError) as e:
        raise SdnetError(f"manifest of {data_dir or 'the data'}: missing or invalid field ({e})") from None


def resolve_config(manifest: dict, overrides: dict, base: TrainConfig | None = None,
                   data_dir: str | Path = "") -> TrainConfig:
    """A TrainConfig from ``base`` (or the defaults of ``overrides['preset']``) with ``overrides``
    applied (keys: 'preset', LOSS_OVERRIDES, TOP_OVERRIDES; None values ignored) and the data fields
    taken from ``manifest``; the model's input size is the manifest's crop size.
    """
    from models.sdnet import preset, with_input_size

    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(given) - {"preset", *LOSS_OVERRIDES, *TOP_OVERRIDES, *AUGMENT_OVERRIDES, *MODEL_OVERRIDES}
    if unknown:
        raise ValueError(f"unknown training options {sorted(unknown)}")
    info = data_info(manifest, data_dir)
    try:
        if base is None:
            base = TrainConfig(model=preset(given.get("preset", "cpu")))
        model = base.model
        if "preset" in given and given["preset"] != model.preset:
            model = preset(given["preset"])
        model = dataclasses.replace(model, **{k: given[k] for k in MODEL_OVERRIDES if k in given})
        loss = dataclasses.replace(base.loss, **{k: given[k] for k in LOSS_OVERRIDES if k in given})
        augment = dataclasses.replace(base.augment, **{f: given[k] for k, f in AUGMENT_OVERRIDES.items()
                                                       if k in given})
        top = {k: given[k] for k in TOP_OVERRIDES if k in given}
        if "steps" in top:
            top.setdefault("epochs", None)
        elif "epochs" in top:
            top.setdefault("steps", None)
        cfg = dataclasses.replace(base, model=with_input_size(model, info.crop_size), loss=loss, data=info,
                                  augment=augment, **top)
        if cfg.epochs is None and cfg.steps is None and cfg.minutes is None:
            cfg = dataclasses.replace(cfg, epochs=DEFAULT_EPOCHS)
    except ValueError as e:
        raise SdnetError(str(e)) from None
    return cfg


def config_json(cfg: TrainConfig) -> dict:
    """The JSON form of a config (tuples as lists), as written to RUN/config.json."""
    return json.loads(json.dumps(to_dict(cfg)))


def config_differences(a: TrainConfig, b: TrainConfig) -> list[str]:
    """Dotted names of the fields whose values differ between two configs."""
    def flat(d, prefix=""):
        out = {}
        for k, v in d.items():
            if isinstance(v, dict) and k not in ("intrinsics", "skeleton", "counts"):
                out.update(flat(v, f"{prefix}{k}."))
            else:
                out[f"{prefix}{k}"] = v
        return out

    fa, fb = flat(config_json(a)), flat(config_json(b))
    return sorted(k for k in set(fa) | set(fb) if fa.get(k) != fb.get(k))


def load_run_config(run_dir: Path) -> TrainConfig:
    """RUN/config.json as a TrainConfig; SdnetError when missing or invalid."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise SdnetError(f"{path}: no run config (is {run_dir} a training run?)")
    try:
        d = json.loads(path.read_text())
        if isinstance(d, dict):  # runs written before ``precision`` and online augmentation
            if "mixed_precision" in d:
                d["precision"] = "float16" if d.pop("mixed_precision") else "float32"
            d.setdefault("augment", to_dict(NO_AUGMENT))
        return from_dict(TrainConfig, d, where=str(path))
    except (json.JSONDecodeError, TypeError, ValueError) as e:
        raise SdnetError(f"{path}: invalid run config ({e})") from None


# ---- data ---------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class DataSource:
    """Where a run's batches come from.

    train(batch_size, seed, augment=None, deterministic=False): endless shuffled batches (image
      (B, S, S, 1), joints (B, 3J)), augmented online with an ``AugmentConfig`` when one is given;
      with ``deterministic`` the same seed gives the same batches in every process (multi-worker
      training shards each global batch across the workers, so they must all see the same one).
    val(batch_size): one pass over the validation split, same structure.
    val_meta(batch_size): the same pass with a third element, a dict holding at least ``cube_mm`` (B,)
      [mm]; None when unavailable (the manifest's cube is then used).
    """

    manifest: dict
    num_train: int
    num_val: int
    train: Callable
    val: Callable
    val_meta: Callable | None = None
    data_dir: str = ""


def data_from_dir(data_dir: Path) -> DataSource:
    """A DataSource over ``sdnet data`` output; SdnetError when the manifest is missing or unusable."""
    from pipeline.input import MANIFEST, check_manifest, make_dataset, read_manifest

    manifest = read_manifest(data_dir)
    check_manifest(manifest, where=str(Path(data_dir) / MANIFEST))
    counts = manifest.get("counts", {})
    return DataSource(
        manifest=manifest, num_train=int(counts.get("train", 0)), num_val=int(counts.get("val", 0)),
        train=lambda b, seed, augment=None, deterministic=False: make_dataset(
            data_dir, "train", b, shuffle=True, repeat=True, seed=seed, drop_remainder=True, check=False,
            augment=augment, deterministic=deterministic),
        val=lambda b: make_dataset(data_dir, "val", b, check=False),
        val_meta=lambda b: make_dataset(data_dir, "val", b, with_meta=True, check=False),
        data_dir=str(data_dir))


def data_from_arrays(manifest: dict, train_images: np.ndarray, train_joints: np.ndarray,
                     val_images: np.ndarray, val_joints: np.ndarray, shuffle: bool = True,
                     train_centres: np.ndarray | None = None) -> DataSource:
    """A DataSource over in-memory arrays (tests, notebooks): images (N, S, S, 1) in [-1, 1], joints
    (N, 3J) normalized; the validation cube is the manifest's. ``train_centres`` (N, 3) [mm], camera
    xyz of each crop's hand centre, is needed for augmentation.

    ``shuffle=False`` keeps the array order: a distributed run then sees exactly the batches of a
    one-device run (a shuffled dataset is re-seeded when tf.distribute rebuilds it for its replicas).
    """
    from pipeline.augment import is_active
    from pipeline.input import augmented

    def train(b, seed, augment=None, deterministic=False):  # (always deterministic)
        arrays = (train_images.astype("float32"), train_joints.astype("float32"))
        if is_active(augment):
            if train_centres is None:
                raise SdnetError("augmentation needs the training crops' hand centres (train_centres)")
            cube = np.full(len(train_images), float(manifest["cube_mm"]), "float32")
            arrays = (*arrays, np.asarray(train_centres, "float32"), cube)
        ds = tf.data.Dataset.from_tensor_slices(arrays)
        if shuffle:
            ds = ds.shuffle(len(train_images), seed=seed)
        ds = ds.repeat().batch(b, drop_remainder=True)
        return augmented(ds, augment, seed) if is_active(augment) else ds

    def val(b):
        return tf.data.Dataset.from_tensor_slices((val_images.astype("float32"), val_joints.astype("float32"))).batch(b)

    return DataSource(manifest=manifest, num_train=len(train_images), num_val=len(val_images), train=train,
                      val=val)


# ---- batch check --------------------------------------------------------------------------------------

def check_batch(image: np.ndarray, joints: np.ndarray, cfg: TrainConfig, where: str = "training batch") -> dict:
    """Check one batch against the run config; SdnetError naming the problem; returns value ranges.

    image (B, S, S, 1) finite in [-1, 1] with S = crop size; joints (B, 3J), J from the manifest's
    skeleton (which must be ICVL_SKELETON), finite, |value| <= MAX_ABS_JOINT (cube/2 units).
    """
    skel = cfg.data.skeleton
    if not ICVL_SKELETON.matches(skel):
        raise SdnetError(f"{where}: the manifest's skeleton differs from this sdnet's")
    s, j = cfg.data.crop_size, len(skel["joint_names"])
    if image.ndim != 4 or image.shape[1:] != (s, s, 1):
        raise SdnetError(f"{where}: images of shape {image.shape[1:]}, expected ({s}, {s}, 1) from the manifest")
    if image.shape[1] != cfg.model.input_size:
        raise SdnetError(f"{where}: crop size {image.shape[1]} px but the model takes {cfg.model.input_size} px")
    if joints.ndim != 2 or joints.shape[1] != 3 * j:
        raise SdnetError(f"{where}: joints of shape {joints.shape[1:]}, expected ({3 * j},) for {j} joints")
    if not (np.isfinite(image).all() and np.isfinite(joints).all()):
        raise SdnetError(f"{where}: non-finite values in images or joints")
    lo, hi = float(image.min()), float(image.max())
    if lo < -1.001 or hi > 1.001:
        raise SdnetError(f"{where}: depth values in [{lo:.3g}, {hi:.3g}], expected [-1, 1]")
    if lo >= 0.999:
        raise SdnetError(f"{where}: every pixel is background (no hand in the crops)")
    jmax = float(np.abs(joints).max())
    if jmax > MAX_ABS_JOINT:
        raise SdnetError(f"{where}: |joint| up to {jmax:.3g}; expected joints normalized by cube/2 "
                         f"(<= {MAX_ABS_JOINT})")
    return {"image_min": lo, "image_max": hi, "joint_abs_max": jmax, "batch": int(image.shape[0])}


def batch_picture_png(image: np.ndarray, joints: np.ndarray, max_crops: int = 16) -> bytes:
    """PNG bytes of up to ``max_crops`` crops (gray) with joints and bones drawn per finger.

    Joints are placed at pixel ((x + 1) / 2 S, (y + 1) / 2 S) from the normalized x, y: exact for
    joints at the hand centre's depth, approximate (perspective) off it.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(max_crops, image.shape[0])
    cols = int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    s = image.shape[1]
    fig, axes = plt.subplots(rows, cols, figsize=(2 * cols, 2 * rows), squeeze=False)
    colors = plt.get_cmap("tab10")
    for k, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if k >= n:
            continue
        ax.imshow(image[k, :, :, 0], cmap="gray", vmin=-1, vmax=1)
        uv = (joints[k].reshape(-1, 3)[:, :2] + 1.0) / 2.0 * s  # (J, 2) pixels
        for p, chain in enumerate(ICVL_SKELETON.part_chains):
            ax.plot(uv[list(chain), 0], uv[list(chain), 1], "-o", color=colors(p), ms=2, lw=1)
        ax.set_xlim(-0.5, s - 0.5)
        ax.set_ylim(s - 0.5, -0.5)
    fig.suptitle("batch check: joints at ((x+1)/2 S, (y+1)/2 S)", fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()


# ---- distribution, schedule, callbacks ----------------------------------------------------------------

def with_deterministic_input(data: DataSource) -> DataSource:
    """``data`` whose training batches depend only on the seed (see DataSource.train)."""
    base = data.train
    return dataclasses.replace(data, train=lambda b, seed, augment=None, deterministic=True:
                               base(b, seed, augment, deterministic=True))


@dataclasses.dataclass(frozen=True)
class Role:
    """This process's place in a training cluster: ``workers`` processes in all (1 without
    TF_CONFIG), ``chief`` writes the run directory, ``name`` e.g. 'worker 1' (empty alone)."""

    chief: bool = True
    workers: int = 1
    name: str = ""


def cluster_role(strategy) -> Role:
    """The Role of this process under ``strategy`` (a MultiWorkerMirroredStrategy has a cluster:
    the chief is task 'chief' 0, or 'worker' 0 when the cluster has no 'chief' task)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return Role()
    spec = resolver.cluster_spec().as_dict()
    workers = sum(len(spec.get(t, ())) for t in ("chief", "worker"))
    kind, index = resolver.task_type, int(resolver.task_id or 0)
    chief = kind == "chief" or (kind == "worker" and index == 0 and "chief" not in spec)
    return Role(chief=chief, workers=max(1, workers), name=f"{kind} {index}")


def _keras_multi_worker_fixes(model) -> None:
    """Make Keras 3's ``fit`` work under MultiWorkerMirroredStrategy, which it does not as released
    (keras-team/keras#20585; Keras 3.15): (1) before training it reduces a whole (x, y) batch of
    per-replica values with ``strategy.reduce``, which the collective ops reject: we build from the
    shapes of this worker's part of a batch (taking a batch, as Keras does, would also start the
    training input's shuffle afresh, so the first step would not see the first batch); (2) it averages each step's
    scalar logs over the workers with ``axis=0``, which a scalar does not have: we average with no
    axis. Both changes apply only to multi-worker strategies (checked by the first-step-loss test
    against a one-process run)."""
    import types

    from keras.src.backend.tensorflow import trainer as keras_tf_trainer

    if not getattr(keras_tf_trainer.reduce_per_replica, "_sdnet_multi_worker", False):
        original = keras_tf_trainer.reduce_per_replica

        def reduce_per_replica(values, strategy, reduction):
            if keras_tf_trainer._collective_all_reduce_multi_worker(strategy) and reduction in ("auto", "mean"):
                return tf.nest.map_structure(
                    lambda v: strategy.reduce("MEAN", v, axis=0 if v.shape.rank else None), values)
            return original(values, strategy, reduction)

        reduce_per_replica._sdnet_multi_worker = True
        keras_tf_trainer.reduce_per_replica = reduce_per_replica

    def local_spec(spec):  # a PerReplicaSpec -> this worker's first replica's TensorSpec
        return spec._value_specs[0] if hasattr(spec, "_value_specs") else spec

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        if iterator is not None:  # shapes only: taking a batch would start the shuffle afresh
            data_batch = tf.nest.map_structure(local_spec, iterator._distributed_dataset.element_spec)
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    model._maybe_symbolic_build = types.MethodType(maybe_symbolic_build, model)


def _slices_of_global_batches(strategy, make: Callable, batch: int):
    """A distributed dataset over the global batches of size ``batch`` that ``make()`` returns.

    Sharding policy: every worker builds the same stream of global batches (deterministic input:
    it reads every file) and keeps its own slice of each, split among its local replicas; tf.data's
    auto-sharding is off. A step thus trains on exactly the global batch a one-process run sees,
    with any number of files, and each batch's augmentation drawn once for the whole batch."""

    def per_worker(ctx: tf.distribute.InputContext):
        per_replica = ctx.get_per_replica_batch_size(batch)
        local = ctx.num_replicas_in_sync // ctx.num_input_pipelines
        lo, hi = ctx.input_pipeline_id * local * per_replica, (ctx.input_pipeline_id + 1) * local * per_replica
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        ds = make().map(lambda *parts: tuple(p[lo:hi] for p in parts)).with_options(options)
        return ds.unbatch().batch(per_replica, drop_remainder=True) if local > 1 else ds

    return strategy.distribute_datasets_from_function(per_worker)


# tf.errors raised in a step when another process of the cluster is gone (the coordination service
# reports it within its heartbeat timeout, about 10 s).
_PEER_ERRORS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError,
                tf.errors.CancelledError)


def _peer_failure(e: Exception, role: Role, run_dir: Path, step: int) -> SdnetError:
    """The one-line error of a process whose peer died: which task, at which step, what to do."""
    import re

    text = str(e)
    found = re.findall(r"/job:(\w+)/(?:replica:\d+/)?task:(\d+)", text)
    tasks = sorted({f"{kind} {index}" for kind, index in found} - {role.name})
    if "unhealthy" in text and tasks:
        what = f"{', '.join(tasks)} of the training cluster stopped responding"
    else:
        lines = [line.strip() for line in text.splitlines() if line.strip()
                 and not line.strip().startswith(("Graph execution error", "Detected at node", "File ", "["))]
        detail = f"{type(e).__name__}: {lines[0][:200]}" if lines else type(e).__name__
        who = ", ".join(tasks) if tasks else "another process"
        what = f"{who} of the training cluster failed or stopped responding ({detail})"
    latest = tf.train.latest_checkpoint(str(run_dir / CHECKPOINT_DIR))
    where = f"the last checkpoint is {latest}" if latest else "no checkpoint was written yet"
    return SdnetError(f"{role.name}: {what}; training stopped at step {step}; {where}: start every "
                      "worker again with --resume")


def select_strategy(name: str):
    """tf.distribute strategy: 'auto' = multi-worker when TF_CONFIG is set, mirrored over the GPUs
    when there are several, else the default; 'mirrored' uses the GPUs, or the logical CPUs without
    GPUs (for tests on one machine)."""
    if name == "auto":
        if os.environ.get("TF_CONFIG"):
            name = "multiworker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            return tf.distribute.MirroredStrategy([d.name for d in gpus])
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(cpus, cross_device_ops=tf.distribute.ReductionToOneDevice())
    raise SdnetError(f"unknown strategy {name!r}")


@keras.saving.register_keras_serializable(package="sdnet")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to ``peak`` over ``warmup_steps``, then cosine decay to ``peak * min_fraction``
    at ``total_steps`` (constant after). ``total_steps`` is a variable so a time budget can re-plan it
    and checkpoints keep it."""

    def __init__(self, peak: float, total_steps: int, warmup_steps: int = 0, min_fraction: float = 0.0):
        self.peak, self.warmup_steps, self.min_fraction = float(peak), int(warmup_steps), float(min_fraction)
        self.total_steps = tf.Variable(int(total_steps), dtype=tf.int64, trainable=False, name="total_steps")

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        total = tf.cast(self.total_steps, tf.float32)
        warm = float(max(self.warmup_steps, 1))
        warmup = self.peak * tf.minimum(1.0, (step + 1.0) / warm)
        progress = tf.clip_by_value((step - warm) / tf.maximum(total - warm, 1.0), 0.0, 1.0)
        cosine = self.min_fraction + (1.0 - self.min_fraction) * 0.5 * (1.0 + tf.cos(math.pi * progress))
        return tf.where(step < warm, warmup, self.peak * cosine)

    def get_config(self):
        return {"peak": self.peak, "total_steps": int(self.total_steps.numpy()),
                "warmup_steps": self.warmup_steps, "min_fraction": self.min_fraction}


class _Controller:
    """Stops training at the planned step, on SIGINT/SIGTERM, and when the time budget runs out.

    ``budget_s``: seconds for training and validation over all sessions (None = no budget);
    ``spent_s``: seconds already spent in earlier sessions. With a budget, the step rate is measured
    over the first steps of this session and the plan (``schedule.total_steps``) is cut to what fits.
    """

    CALIBRATE_AFTER = (3, 23)  # (skip the first steps: tracing; measure over the next 20)

    def __init__(self, model, schedule, planned_total: int, budget_s: float | None, spent_s: float,
                 steps_per_epoch: int, val_batches: int, log: Callable[[str], None]):
        self.model, self.schedule, self.planned_total = model, schedule, planned_total
        self.budget_s, self.spent_s, self.spe, self.val_batches, self.log = (
            budget_s, spent_s, steps_per_epoch, val_batches, log)
        self.signal: int | None = None
        self.t0 = time.perf_counter()
        self.val_seconds = 0.0
        self.train_steps = 0
        self._marks: dict[int, float] = {}
        self._val_t0 = 0.0
        self.step_s: float | None = None
        self.val_s: float | None = None
        self.callback = self._as_callback()

    def elapsed(self) -> float:
        """Seconds spent so far, this session and earlier ones."""
        return self.spent_s + time.perf_counter() - self.t0

    def step(self) -> int:
        return int(self.model.optimizer.iterations.numpy())

    def handle_signal(self, signum, _frame) -> None:
        self.signal = signum
        self.log(f"received {signal.Signals(signum).name}: saving a checkpoint after this step")
        signal.signal(signum, signal.SIG_DFL)  # a second signal ends the process

    def _replan(self) -> None:
        if self.budget_s is None or self.step_s is None:
            return
        val_s = self.val_s if self.val_s is not None else self.val_batches * self.step_s / 3.0
        remaining = self.budget_s - self.elapsed() - val_s  # keep one validation for the end
        step = self.step()
        # n steps cost n * step_s plus one validation per epoch boundary crossed.
        per_step = self.step_s + val_s / self.spe
        fit = step + max(0, int(remaining / per_step))
        total = max(step + 1, min(self.planned_total, fit))
        if total < int(self.schedule.total_steps.numpy()):
            self.schedule.total_steps.assign(total)
            self.log(f"time budget: planning {total} steps ({self.step_s * 1e3:.0f} ms/step)")

    def _as_callback(self):
        ctl = self

        class Control(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                ctl.train_steps += 1
                n = ctl.train_steps
                if n in ctl.CALIBRATE_AFTER:
                    ctl._marks[n] = time.perf_counter()
                    if n == ctl.CALIBRATE_AFTER[1]:
                        a, b = ctl.CALIBRATE_AFTER
                        ctl.step_s = (ctl._marks[b] - ctl._marks[a]) / (b - a)
                        ctl._replan()
                over_budget = ctl.budget_s is not None and ctl.elapsed() >= ctl.budget_s
                if ctl.signal is not None or over_budget or ctl.step() >= int(ctl.schedule.total_steps.numpy()):
                    self.model.stop_training = True

            def on_test_begin(self, logs=None):
                ctl._val_t0 = time.perf_counter()

            def on_test_batch_end(self, batch, logs=None):
                if ctl.signal is not None:
                    self.model.stop_evaluating = True

            def on_test_end(self, logs=None):
                dt = time.perf_counter() - ctl._val_t0
                ctl.val_seconds += dt
                if ctl.signal is None:
                    ctl.val_s = dt

            def on_epoch_end(self, epoch, logs=None):
                ctl._replan()

        return Control()


def _history_callback(path: Path, ctl: _Controller, lr_fn: Callable[[int], float],
                      w_fn: Callable[[], float]):
    class History(keras.callbacks.Callback):
        """Appends one row per epoch to history.csv (fixed columns; blank when absent)."""

        def on_epoch_end(self, epoch, logs=None):
            logs = dict(logs or {})
            step = ctl.step()
            row = {"epoch": epoch + 1, "step": step, "learning_rate": lr_fn(step),
                   "seconds": round(ctl.elapsed(), 2), "sdl_weight": w_fn()}
            for key in HISTORY_COLUMNS:
                if key in logs:
                    row[key] = float(logs[key])
            new = not path.exists()
            with open(path, "a") as f:
                if new:
                    f.write(",".join(HISTORY_COLUMNS) + "\n")
                f.write(",".join(_fmt(row.get(k, "")) for k in HISTORY_COLUMNS) + "\n")
            val = row.get("val_mean_error_mm")
            msg = f"epoch {epoch + 1}: step {step}, loss {row.get('loss', float('nan')):.4g}"
            if val is not None:
                msg += f", val mean error {val:.2f} mm"
            ctl.log(msg)

    return History()


def _tensorboard_callback(log_dir: Path, ctl: _Controller, lr_fn: Callable[[int], float],
                          w_fn: Callable[[], float]):
    """Per-epoch scalars (loss terms, gradient share, errors in mm, learning rate, w) as TensorBoard event files in
    ``log_dir/train`` and ``log_dir/validation``, x axis = optimizer step. Written with TensorFlow's
    own summary op and the scalars-plugin metadata, so the ``tensorboard`` package is needed only to
    view them."""
    from tensorflow.core.framework import summary_pb2

    meta = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"),
        data_class=summary_pb2.DATA_CLASS_SCALAR)

    class Board(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.writers = {}

        def _writer(self, name):
            if name not in self.writers:
                self.writers[name] = tf.summary.create_file_writer(str(log_dir / name))
            return self.writers[name]

        def on_epoch_end(self, epoch, logs=None):
            step = ctl.step()
            values = dict(logs or {})
            values["learning_rate"] = lr_fn(step)
            values["sdl_weight"] = w_fn()
            for key, value in values.items():
                name, tag = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
                with self._writer(name).as_default():
                    tf.summary.write(f"epoch_{tag}", tf.constant(float(value), tf.float32), step=step, metadata=meta)
            for w in self.writers.values():
                w.flush()

        def on_train_end(self, logs=None):
            for w in self.writers.values():
                w.close()
            self.writers.clear()

    return Board()


def _weight_schedule_callback(loss: LossConfig, variable, ctl: _Controller, schedule):
    """Sets ``variable`` to w at the current fraction of the planned steps before every batch
    (``LossConfig.weight_at``; the plan follows a time budget as ``_Controller`` re-plans it)."""

    class WeightSchedule(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            total = max(1, int(schedule.total_steps.numpy()))
            variable.assign(loss.weight_at(ctl.step() / total))

    return WeightSchedule()


def _fmt(v) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


# ---- training -----------------------------------------------------------------------------------------

@dataclasses.dataclass
class _Built:
    strategy: object
    model: object
    schedule: object
    checkpoint: object
    epochs_done: object
    seconds: object
    sdl_weight: object  # tf.Variable holding the scheduled w, or None when w is constant


def training_poses(data: DataSource, cfg: TrainConfig, n: int = 8192) -> np.ndarray:
    """About ``n`` training poses (N, 3J), normalized, as training sees them (augmented)."""
    batches = max(1, n // cfg.batch_size)
    ds = data.train(cfg.batch_size, cfg.seed, cfg.augment).take(batches)
    return np.concatenate([joints.numpy() for _, joints in ds])


def _loss_and_metrics(cfg: TrainConfig, weight_var=None) -> tuple[object, list]:
    """The compiled loss (joint + w psi_SDL) and the logged metrics: mean error [mm], each unweighted
    loss term, and the gradient share / balance weight of the skeleton terms."""
    from models.losses import (GradientBalanceMetric, LossTermMetric, MeanJointErrorMM, SDNetLoss,
                               SkeletonDifferenceMetric)

    sdl, joint = sdl_kwargs(cfg.loss), cfg.loss.joint_loss
    loss = SDNetLoss(sdl_weight=cfg.loss.sdl_weight, joint=joint, **sdl)
    if weight_var is not None:
        loss.use_weight_variable(weight_var)
    weight = weight_var if weight_var is not None else cfg.loss.sdl_weight
    metrics = [MeanJointErrorMM(cfg.data.cube_mm), LossTermMetric("joint", joint, **sdl),
               SkeletonDifferenceMetric(**sdl), LossTermMetric("loss_a", joint, **sdl),
               LossTermMetric("loss_b", joint, **sdl),
               GradientBalanceMetric("share", joint, weight, **sdl),
               GradientBalanceMetric("balance_w", joint, weight, **sdl)]
    return loss, metrics


def _build(cfg: TrainConfig, run_dir: Path, planned_total: int, pca=None, strategy=None) -> _Built:
    from models.sdnet import build_model

    strategy = strategy if strategy is not None else select_strategy(cfg.strategy)
    keras.utils.set_random_seed(cfg.seed)
    with strategy.scope():
        model = build_model(cfg.model, num_joints=len(cfg.data.skeleton["joint_names"]), pca=pca)
        schedule = WarmupCosine(cfg.learning_rate, planned_total, cfg.warmup_steps, cfg.min_lr_fraction)
        optimizer = keras.optimizers.Adam(schedule)
        weight_var = (tf.Variable(cfg.loss.weight_at(0.0), dtype=tf.float32, trainable=False, name="sdl_weight")
                      if cfg.loss.scheduled else None)
        loss, metrics = _loss_and_metrics(cfg, weight_var)
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics, jit_compile=False)
        optimizer.build(model.trainable_variables)
        epochs_done = tf.Variable(0, dtype=tf.int64, trainable=False, name="epochs_done")
        seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="train_seconds")
        checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, total_steps=schedule.total_steps,
                                         epochs_done=epochs_done, train_seconds=seconds)
    if cluster_role(strategy).workers > 1:
        _keras_multi_worker_fixes(model)
    return _Built(strategy, model, schedule, checkpoint, epochs_done, seconds, weight_var)


def _manager(built: _Built, run_dir: Path):
    return tf.train.CheckpointManager(built.checkpoint, str(run_dir / CHECKPOINT_DIR), max_to_keep=2)


def sdl_kwargs(loss: LossConfig) -> dict:
    """Keyword arguments of ``models.losses.skeleton_difference_loss`` for a LossConfig; the angle
    threshold [radians] is ``threshold_deg`` when set, else the derived per-angle thresholds
    (``with_angle_thresholds``), else the models.losses fallback constant."""
    from models.losses import DEFAULT_THRESHOLD_RAD

    if loss.threshold_deg is not None:
        threshold = math.radians(loss.threshold_deg)
    elif loss.angle_thresholds_deg:
        threshold = [math.radians(v) for v in loss.angle_thresholds_deg]
    else:
        threshold = DEFAULT_THRESHOLD_RAD
    return dict(alpha=loss.alpha, beta=loss.beta, omega1=loss.omega1, omega2=loss.omega2,
                threshold=threshold, penalty=loss.penalty)


def with_angle_thresholds(cfg: TrainConfig, data: DataSource, saved: TrainConfig | None = None,
                          n: int = 8192) -> TrainConfig:
    """``cfg`` with ``loss.angle_thresholds_deg`` filled in when ``threshold_deg`` is None: taken
    from ``saved`` (a resumed run keeps its thresholds) or derived from about ``n`` training labels,
    not augmented (the ``threshold_percentile`` of each bone-pair angle, degrees)."""
    from models.losses import angle_thresholds

    loss = cfg.loss
    if loss.threshold_deg is not None or loss.angle_thresholds_deg:
        return cfg
    if saved is not None and saved.loss.angle_thresholds_deg and \
            saved.loss.threshold_percentile == loss.threshold_percentile:
        values = saved.loss.angle_thresholds_deg
    else:
        poses = training_poses(data, dataclasses.replace(cfg, augment=NO_AUGMENT), n)
        values = np.degrees(angle_thresholds(poses, loss.threshold_percentile, ICVL_SKELETON))
    loss = dataclasses.replace(loss, angle_thresholds_deg=tuple(round(float(v), 3) for v in values))
    return dataclasses.replace(cfg, loss=loss)


def _restore(built: _Built, run_dir: Path) -> None:
    """Restore the latest checkpoint; SdnetError (nothing written) when missing or corrupt."""
    where = run_dir / CHECKPOINT_DIR
    latest = tf.train.latest_checkpoint(str(where)) if where.is_dir() else None
    if latest is None:
        raise SdnetError(f"{where}: no checkpoint to resume from")
    try:
        built.checkpoint.restore(latest).assert_consumed()
    except Exception as e:  # noqa: BLE001  (tf raises NotFound/DataLoss/Assertion/Value errors here)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SdnetError(f"{latest}: cannot restore the checkpoint ({first[:200]})") from None


def plan_steps(cfg: TrainConfig, num_train: int) -> tuple[int, int]:
    """(steps per epoch, planned total steps) of a config; a time budget may end training earlier."""
    spe = cfg.steps_per_epoch or max(1, num_train // cfg.batch_size)
    if cfg.steps is not None:
        total = cfg.steps
    elif cfg.epochs is not None:
        total = cfg.epochs * spe
    else:
        total = 10 ** 9  # only the time budget ends it
    return spe, total


def validation_error_mm(model, data: DataSource, cfg: TrainConfig) -> dict:
    """Mean and per-joint validation error [mm], de-normalized with each record's cube (or the
    manifest's when the source has no metadata)."""
    ds = data.val_meta(cfg.batch_size) if data.val_meta is not None else data.val(cfg.batch_size)
    errs = []
    for batch in ds:
        image, joints = batch[0], batch[1]
        pred = model(image, training=False).numpy()  # (B, 3J)
        cube = batch[2]["cube_mm"].numpy() if len(batch) > 2 else np.full(len(pred), cfg.data.cube_mm)
        d = (pred - joints.numpy()).reshape(len(pred), -1, 3)  # (B, J, 3)
        errs.append(np.linalg.norm(d, axis=-1) * cube[:, None] / 2.0)  # (B, J) mm
    if not errs:
        raise SdnetError("the validation split is empty")
    e = np.concatenate(errs)  # (N, J)
    return {"mean_error_mm": float(e.mean()), "per_joint_mm": [float(v) for v in e.mean(axis=0)],
            "frames": int(len(e))}


def train(cfg: TrainConfig, data: DataSource, run_dir: Path, *, resume: bool = False, force: bool = False,
          log: Callable[[str], None] | None = None, verbose: int | None = None) -> dict:
    """Train (or resume) a run; returns the summary (also RUN/summary.json when training finished).

    Bad input (missing/corrupt run or checkpoint, config mismatch on resume without ``force``, an
    existing run without ``resume``/``force``, a bad first batch) raises SdnetError before anything in
    ``run_dir`` is written. SIGINT/SIGTERM stop after the current step, save a checkpoint, and return a
    summary with ``interrupted`` set to the signal number.

    Multi-worker (TF_CONFIG, strategy auto or multiworker): every process runs this with the same
    arguments; ``cfg.batch_size`` is the global batch, split over the workers (each global batch is
    sliced across the workers from input made deterministic, so the steps equal a
    one-process run's, see ``_slices_of_global_batches``); only the chief writes ``run_dir``, the others write their checkpoints and
    model to a temporary directory they remove. When a process of the cluster dies the others raise
    SdnetError naming it and the last checkpoint. The data and, for ``resume``, ``run_dir`` must be
    readable by every worker at the same path. Non-chief summaries hold ``chief: False``.
    """
    log = log or (lambda msg: print(f"[train] {msg}", file=sys.stderr, flush=True))
    run_dir = Path(run_dir)
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
    if resume:
        saved = load_run_config(run_dir)
        cfg = with_angle_thresholds(cfg, data, saved)
        diff = config_differences(saved, cfg)
        if diff and not force:
            raise SdnetError(f"{run_dir / CONFIG_FILE}: the run was made with a different config "
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
        built = _build(cfg, run_dir, planned, pca, strategy)
        if resume:
            _restore(built, run_dir)
        image, joints = next(iter(data.train(cfg.batch_size, cfg.seed, cfg.augment).take(1)))
        stats = check_batch(image.numpy(), joints.numpy(), cfg)
        if not role.chief:  # a worker: checkpoints and model to a temporary directory, removed after
            scratch = Path(tempfile.mkdtemp(prefix="sdnet-train-worker-"))
            try:
                return _fit(cfg, data, run_dir, built, _manager(built, scratch), spe, planned, log, verbose,
                            role, scratch)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        if not resume and run_dir.exists():
            shutil.rmtree(run_dir) if run_dir.is_dir() else run_dir.unlink()
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / CONFIG_FILE, config_json(cfg))
        atomic_write_bytes(run_dir / BATCH_PICTURE, batch_picture_png(image.numpy(), joints.numpy()))
        log(f"batch check: {stats}; picture in {run_dir / BATCH_PICTURE}; {precision} compute")
        return _fit(cfg, data, run_dir, built, _manager(built, run_dir), spe, planned, log, verbose, role)
    finally:
        keras.mixed_precision.set_global_policy(policy)


def _fit(cfg, data, run_dir, built: _Built, manager, spe: int, planned: int, log, verbose,
         role: Role = Role(), scratch: Path | None = None) -> dict:
    """Fit; the chief writes ``run_dir``; a non-chief worker writes only to ``scratch``."""
    model, schedule = built.model, built.schedule
    start_step = int(model.optimizer.iterations.numpy())
    epochs_done = int(built.epochs_done.numpy())
    val_batches = math.ceil(data.num_val / cfg.batch_size)
    ctl = _Controller(model, schedule, planned, None if cfg.minutes is None else 60.0 * cfg.minutes,
                      float(built.seconds.numpy()), spe, val_batches, log)
    t_session = time.perf_counter()

    class Save(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            built.epochs_done.assign(epoch + 1)
            built.seconds.assign(ctl.elapsed())
            manager.save(checkpoint_number=ctl.step())

    lr_fn = lambda step: float(schedule(step))  # noqa: E731
    w_var = built.sdl_weight
    w_fn = (lambda: float(cfg.loss.sdl_weight)) if w_var is None else (lambda: float(w_var.numpy()))  # noqa: E731
    callbacks = [ctl.callback, _history_callback(run_dir / HISTORY_FILE, ctl, lr_fn, w_fn), Save(),
                 _tensorboard_callback(run_dir / LOG_DIR, ctl, lr_fn, w_fn)]
    if not role.chief:
        callbacks = [ctl.callback, Save()]
    if w_var is not None:
        callbacks.insert(0, _weight_schedule_callback(cfg.loss, w_var, ctl, schedule))
    remaining = max(0, int(schedule.total_steps.numpy()) - start_step)
    epochs = epochs_done + math.ceil(remaining / spe)
    log(f"training {cfg.model.preset} preset on {data.num_train} records: step {start_step} of "
        f"{int(schedule.total_steps.numpy()) if planned < 10 ** 9 else 'a time budget'}, "
        f"{spe} steps per epoch, batch {cfg.batch_size}, {built.strategy.num_replicas_in_sync} replica(s)")
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, ctl.handle_signal)
    try:
        if remaining > 0:
            train_ds = data.train(cfg.batch_size, cfg.seed + epochs_done, cfg.augment)
            val_ds = data.val(cfg.batch_size)
            if role.workers > 1:
                seed = cfg.seed + epochs_done
                train_ds = _slices_of_global_batches(
                    built.strategy, lambda: data.train(cfg.batch_size, seed, cfg.augment), cfg.batch_size)
                val_ds = _slices_of_global_batches(  # whole global batches only (the summary uses all)
                    built.strategy, lambda: data.val(cfg.batch_size).unbatch().batch(cfg.batch_size, drop_remainder=True),
                    cfg.batch_size)
            try:
                model.fit(train_ds, epochs=epochs, initial_epoch=epochs_done, steps_per_epoch=spe,
                          validation_data=val_ds, callbacks=callbacks,
                          verbose=verbose if verbose is not None else (1 if sys.stderr.isatty() else 2))
            except _PEER_ERRORS as e:
                if role.workers < 2:
                    raise
                raise _peer_failure(e, role, run_dir, ctl.step()) from None
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    steps = ctl.step()
    session_s = time.perf_counter() - t_session
    train_s = max(session_s - ctl.val_seconds, 1e-9)
    summary = {"steps": steps, "epochs": int(built.epochs_done.numpy()), "wall_seconds": round(ctl.elapsed(), 2),
               "session_seconds": round(session_s, 2),
               "images_per_s": round((steps - start_step) * cfg.batch_size / train_s, 2),
               "replicas": int(built.strategy.num_replicas_in_sync), "preset": cfg.model.preset}
    if ctl.signal is not None:
        summary["interrupted"] = int(ctl.signal)
        log(f"interrupted at step {steps}; checkpoint in {run_dir / CHECKPOINT_DIR}; continue with --resume")
        return summary
    if remaining == 0:
        log(f"nothing left to train (step {steps}); writing the model and summary")
    if manager.latest_checkpoint is None or not manager.latest_checkpoint.endswith(f"-{steps}"):
        manager.save(checkpoint_number=steps)
    if not role.chief:
        model.save(scratch / MODEL_FILE)  # as the chief does (saving may take part in collectives)
        log(f"done: {steps} steps; the chief writes the run")
        return {**summary, "chief": False}
    val = validation_error_mm(model, data, cfg)
    summary = {"val_mean_error_mm": val["mean_error_mm"], "val_per_joint_mm": val["per_joint_mm"],
               "val_frames": val["frames"], **summary}
    tmp = run_dir / f".{MODEL_FILE}.tmp.keras"
    model.save(tmp)
    os.replace(tmp, run_dir / MODEL_FILE)
    write_json(run_dir / SUMMARY_FILE, summary)
    log(f"done: {steps} steps, validation mean error {val['mean_error_mm']:.2f} mm "
        f"({summary['images_per_s']:.0f} images/s); model in {run_dir / MODEL_FILE}")
    return summary


# ---- benchmark (sdnet bench --only train) -----------------------------------------------------------

def _training_rate(cfg, batch: int, steps: int, repeats: int, precision: str = "float32") -> tuple[float, int]:
    """(images/s, forward FLOPs per image) of training ``cfg`` on random tensors in ``precision``
    (median over ``repeats`` of ``steps`` steps, after a warm-up); the global policy is restored."""
    from eval.bench import median_rate
    from models.losses import SDNetLoss
    from models.sdnet import build_model, count_flops

    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(keras_policy(precision))
    try:
        keras.utils.set_random_seed(0)
        model = build_model(cfg)
        model.compile(keras.optimizers.Adam(1e-4), SDNetLoss(0.5, penalty="hinge"), jit_compile=False)
        s = cfg.input_size
        ds = tf.data.Dataset.from_tensors((tf.random.uniform((batch, s, s, 1), -1, 1),
                                           tf.random.uniform((batch, 48), -0.5, 0.5))).repeat()
        model.fit(ds, steps_per_epoch=2, epochs=1, verbose=0)  # trace and warm up

        def run() -> int:
            model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
            return steps * batch

        return median_rate(run, repeats), count_flops(model)
    finally:
        keras.mixed_precision.set_global_policy(previous)


def bench_train(quick: bool = False) -> dict:
    """Training images/s and GFLOP/s per preset on random tensors, and a large fp32 matmul rate,
    all in one run (medians over repeats); on CPUs with native bfloat16, the cpu preset in bfloat16
    too. Training FLOPs = 3 x forward FLOPs per image."""
    from eval.bench import median_rate
    from models.sdnet import PRESETS

    repeats = 2 if quick else 3
    n = 2048
    a = tf.random.normal((n, n))
    tf.linalg.matmul(a, a).numpy()

    def matmul() -> int:
        tf.linalg.matmul(a, a).numpy()
        return 1

    figures = {"matmul_gflops_per_s": round(median_rate(matmul, 5) * 2 * n ** 3 / 1e9, 2)}
    for name, cfg in PRESETS.items():
        batch = 8 if name == "paper" else 32
        steps = 2 if (quick or name == "paper") else 8
        rate, flops = _training_rate(cfg, batch, steps, repeats)
        figures[f"train_images_per_s_{name}"] = round(rate, 2)
        figures[f"train_gflops_per_s_{name}"] = round(rate * 3 * flops / 1e9, 2)
        figures[f"forward_gflops_per_image_{name}"] = round(flops / 1e9, 4)
        if name == "cpu" and cpu_has_native_bf16():
            bf16, _ = _training_rate(cfg, batch, steps, repeats, "bfloat16")
            figures["train_images_per_s_cpu_bf16"] = round(bf16, 2)
            figures["train_bf16_speedup_cpu"] = round(bf16 / rate, 2)
    return figures
