"""Training on several devices or machines: the tf.distribute strategy, this process's role in a
cluster, the input of multi-worker runs (each global batch sliced across the workers), the fixes
Keras 3's ``fit`` needs under MultiWorkerMirroredStrategy, and the error of a process whose peer died.
"""
from __future__ import annotations

import dataclasses
import os
import re
import types
from pathlib import Path
from typing import Callable

import tensorflow as tf
from keras.src.backend.tensorflow import trainer as keras_tf_trainer

from pipeline.errors import SdnetError
from pipeline.rundir import RunDir


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


def keras_multi_worker_fixes(model) -> None:
    """Make Keras 3's ``fit`` work under MultiWorkerMirroredStrategy, which it does not as released
    (keras-team/keras#20585; Keras 3.15): (1) before training it reduces a whole (x, y) batch of
    per-replica values with ``strategy.reduce``, which the collective ops reject: we build from the
    shapes of this worker's part of a batch (taking a batch, as Keras does, would also start the
    training input's shuffle afresh, so the first step would not see the first batch); (2) it averages each step's
    scalar logs over the workers with ``axis=0``, which a scalar does not have: we average with no
    axis. Both changes apply only to multi-worker strategies (checked by the first-step-loss test
    against a one-process run)."""

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


def slices_of_global_batches(strategy, make: Callable, batch: int):
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
PEER_ERRORS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError,
                tf.errors.CancelledError)


def peer_failure(e: Exception, role: Role, run_dir: Path, step: int) -> SdnetError:
    """The one-line error of a process whose peer died: which task, at which step, what to do."""

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
    latest = tf.train.latest_checkpoint(str(RunDir(run_dir).checkpoints))
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
