"""A small CNN that refines the label-free hand centre (after DeepPrior++'s centre refinement).

Input: the normalized depth crop cut around a rule-based hand centre, float32 (B, S, S, 1) in [-1, 1]
(background +1, ``pipeline.geometry``). Output: (B, 3) the move of the centre, in units of cube/2,
camera axes (x right, y down, z away): the crop cut around ``centre + output * cube/2`` holds the hand
where the training crops held it on average.

The crop is first average-pooled to about ``WORK_SIZE`` px (the centre needs no finger detail), then
three conv/pool stages and two dense layers: about 0.1 M parameters.
"""
from __future__ import annotations

import keras

WORK_SIZE = 32


def build_centre_model(crop_size: int, width: int = 16) -> keras.Model:
    """The centre refiner for crops of ``crop_size`` px; ``width`` = channels of the first conv."""
    inputs = keras.Input((crop_size, crop_size, 1), name="crop")
    x = inputs
    pool = max(1, crop_size // WORK_SIZE)
    if pool > 1:
        x = keras.layers.AveragePooling2D(pool, name="shrink")(x)
    for k, channels in enumerate((width, 2 * width, 4 * width)):
        x = keras.layers.Conv2D(channels, 3, padding="same", activation="relu", name=f"conv{k + 1}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{k + 1}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(128, activation="relu", name="fc")(x)
    outputs = keras.layers.Dense(3, name="centre_move", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="centre_refiner")
