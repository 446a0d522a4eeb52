"""A small fully convolutional net that finds the (right) hand in a whole depth frame.

Input: ``frame`` (B, H, W, 1) float32, a letterboxed full depth frame normalized per frame to [-1, 1]
(``pipeline.locator.normalize_depth``: (d - reference) / scale, background and invalid pixels +1);
H and W multiples of 8 (default 120 x 160). Outputs, both at stride ``STRIDE`` = 4 of the input, so
cell (i, j) covers input pixels 4i..4i+3, 4j..4j+3 (cell centre at input px 4j + 1.5, 4i + 1.5):
- ``heatmap`` (B, H/4, W/4, 1) float32: logits of "the palm joint is in this cell"; the confidence that
  the frame holds a hand is the sigmoid of the largest logit.
- ``depth`` (B, H/4, W/4, 1) float32: the palm joint's depth in the input's normalized units, meaningful
  at the cells near the heatmap's peak: the mean of the cell's valid input pixels (``CellDepth``) plus a learned correction.

Layers: a 4x4 patch convolution to stride 4, plain 3x3 convolutions at stride 8 and 16 (the
stride-16 stage gives a receptive field of most of the frame: the hand is told from a nearer arm or body by
its shape and surroundings), upsampled back to stride 4 and added to the stem's features, two 1x1
heads. About 21 k parameters at the default ``width_mult`` 0.5 (82 k at 1): 1.8-2.6 ms per 120x160 frame
at batch 1 on one 2.0 GHz AVX2 core (a tf.function call; about 0.6 ms of it the call itself).

Also the training loss (``locator_loss``) on the concatenated maps; no file I/O here.
"""
from __future__ import annotations

import keras
import tensorflow as tf

STRIDE = 4
# Initial heatmap bias: a prior of sigmoid(-4.6) = 1% per cell, so training starts from "no hand".
HEATMAP_PRIOR_BIAS = -4.6


@keras.saving.register_keras_serializable(package="sdnet")
class CellDepth(keras.layers.Layer):
    """(B, H, W, 1) normalized depth -> (B, H/s, W/s, 1): the mean of each s x s cell's valid pixels
    (those below +1, the background value); +1 for a cell without any."""

    def __init__(self, size: int, **kwargs):
        super().__init__(**kwargs)
        self.size = size

    def call(self, x):
        s = self.size
        h, w = x.shape[1] // s, x.shape[2] // s
        valid = keras.ops.cast(x < 1.0 - 1e-6, x.dtype)
        cells = (-1, h, s, w, s)  # (B, H/s, s, W/s, s)
        total = keras.ops.sum(keras.ops.reshape(x * valid, cells), axis=(2, 4))
        count = keras.ops.sum(keras.ops.reshape(valid, cells), axis=(2, 4))
        # no valid pixel: total 0, count 0 -> +1
        empty = keras.ops.cast(count == 0, x.dtype)
        return keras.ops.expand_dims((total + empty) / keras.ops.maximum(count, 1.0), -1)

    def get_config(self):
        return {**super().get_config(), "size": self.size}


def _ch(base: int, width_mult: float) -> int:
    return max(8, int(round(base * width_mult / 8.0)) * 8)


def _conv(x, channels: int, name: str, kernel: int = 3, stride: int = 1):
    return keras.layers.Conv2D(channels, kernel, strides=stride, padding="same", activation="relu",
                               kernel_initializer="he_normal", name=name)(x)


def build_locator_model(height: int = 120, width: int = 160, width_mult: float = 0.5) -> keras.Model:
    """The localizer for (height, width) px work frames (multiples of 8); ``width_mult`` scales every
    layer's channels. Outputs ``heatmap`` and ``depth``, each (B, height/4, width/4, 1) (module doc)."""
    if height % 8 or width % 8:
        raise ValueError(f"locator: work size must be a multiple of 8, got {width}x{height}")
    h8, w8 = height // 8, width // 8
    inputs = keras.Input((height, width, 1), name="frame")
    s4 = _conv(inputs, _ch(16, width_mult), "stem", kernel=4, stride=4)      # (B, H/4, W/4, C)
    x = _conv(s4, _ch(32, width_mult), "s8_down", stride=2)                 # (B, H/8, W/8, C)
    x = _conv(x, _ch(32, width_mult), "s8_conv1")
    s8 = _conv(x, _ch(32, width_mult), "s8_conv2")
    x = keras.layers.MaxPooling2D(2, padding="same", name="s16_pool")(s8)  # (B, ~H/16, ~W/16, C)
    x = _conv(x, _ch(48, width_mult), "s16_conv1")
    x = _conv(x, _ch(48, width_mult), "s16_conv2")
    x = keras.layers.Resizing(h8, w8, interpolation="nearest", name="s16_up")(x)  # (B, H/8, W/8, C)
    x = keras.layers.Concatenate(name="s8_merge")([x, s8])
    x = _conv(x, _ch(32, width_mult), "s8_conv3")
    x = keras.layers.UpSampling2D(2, interpolation="nearest", name="s8_up")(x)   # (B, H/4, W/4, C)
    x = keras.layers.Conv2D(_ch(16, width_mult), 1, name="s4_proj")(x)
    x = keras.layers.ReLU(name="s4_relu")(keras.layers.Add(name="s4_merge")([x, s4]))
    heat = keras.layers.Conv2D(1, 1, name="heatmap", dtype="float32",
                               bias_initializer=keras.initializers.Constant(HEATMAP_PRIOR_BIAS))(x)
    # depth = the cell's mean input depth + a learned correction (palm below the surface, holes)
    cell_mean = CellDepth(STRIDE, name="cell_depth")(inputs)  # (B, H/4, W/4, 1)
    correction = keras.layers.Conv2D(1, 1, name="depth_correction", kernel_initializer="zeros")(x)
    depth = keras.layers.Add(name="depth", dtype="float32")([cell_mean, correction])
    return keras.Model(inputs, {"heatmap": heat, "depth": depth}, name="locator")


def training_model(model: keras.Model) -> keras.Model:
    """The same layers with one output, the maps concatenated: (B, h, w, 2) = [heatmap logit, depth],
    to train with ``locator_loss``."""
    inputs = keras.Input(model.input_shape[1:], name="frame")
    out = model(inputs)
    maps = keras.layers.Concatenate(name="maps")([out["heatmap"], out["depth"]])
    return keras.Model(inputs, maps, name="locator_train")


def focal_heatmap_loss(target, logits, alpha: float = 2.0, beta: float = 4.0):
    """CenterNet's penalty-reduced per-cell focal loss, summed over cells and divided by the batch's
    number of peaks (at least 1). ``target`` (B, h, w) in [0, 1], exactly 1 at the peak cell of a
    frame with a hand, all 0 for a frame without; ``logits`` (B, h, w)."""
    p = tf.sigmoid(logits)
    log_p, log_not_p = tf.math.log_sigmoid(logits), tf.math.log_sigmoid(-logits)
    peak = tf.cast(target >= 1.0 - 1e-6, tf.float32)
    pos = -peak * (1.0 - p) ** alpha * log_p
    neg = -(1.0 - peak) * (1.0 - target) ** beta * p ** alpha * log_not_p
    n_peaks = tf.maximum(tf.reduce_sum(peak), 1.0)
    return (tf.reduce_sum(pos) + tf.reduce_sum(neg)) / n_peaks


def weighted_depth_loss(target, weight, depth):
    """L1 on the normalized depth, weighted per cell (B, h, w) (the Gaussian target around the peak;
    0 for frames without a hand) and divided by the weights' sum (at least 1e-3)."""
    return tf.reduce_sum(weight * tf.abs(depth - target)) / tf.maximum(tf.reduce_sum(weight), 1e-3)


def locator_loss(depth_weight: float = 1.0):
    """A Keras loss on (y_true (B, h, w, 3) = [heatmap target, depth target, depth weight],
    y_pred (B, h, w, 2) = [logit, depth]): focal heatmap loss + ``depth_weight`` x weighted L1."""
    def loss(y_true, y_pred):
        y_true = tf.cast(y_true, tf.float32)
        y_pred = tf.cast(y_pred, tf.float32)
        return (focal_heatmap_loss(y_true[..., 0], y_pred[..., 0])
                + depth_weight * weighted_depth_loss(y_true[..., 1], y_true[..., 2], y_pred[..., 1]))
    return loss
