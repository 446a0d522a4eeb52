"""The learning rate of a run: linear warm-up, then cosine decay to a floor at the planned last step.

The plan is ``WarmupCosine.total_steps``, a variable that only ``pipeline.training.length.RunLength``
assigns: the time budget re-plans it as it measures the speed, checkpoints keep it, and ``--resume``
with a new length re-plans it; the learning rate at step k is then the one a run planned for the new
total from the start would use at k.
"""
from __future__ import annotations

import math

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="sdnet")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Learning rate at optimizer step k (0-based; the k-th update uses it):

      k < W:            peak * (k + 1) / W                                   (linear warm-up)
      k >= W:           peak * (f + (1 - f) * (1 + cos(pi * p)) / 2),  p = clip((k - W) / (T - W), 0, 1)

    with W = max(warmup_steps, 1), T = ``total_steps``, f = ``min_fraction``: the peak at the end of
    the warm-up, ``peak * min_fraction`` from step T on. ``total_steps`` is a tf.Variable so a time
    budget can re-plan it and checkpoints keep it."""

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

