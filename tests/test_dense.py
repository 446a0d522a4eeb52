"""The dense model family (models/dense.py): the voting readout's geometry, the network's contract
(any skeleton's J, (B, 3J) normalized joints), its gradients, saving, and its configuration checks."""
import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.dense import VotingReadout, build_dense_model, plane_grid
from models.sdnet import build_model, preset
from pipeline.config import PRESETS, ModelConfig
from pipeline.datasets import DATASETS


def test_plane_grid_spans_the_crop_plane_row_major():
    g = plane_grid(4)
    assert g.shape == (16, 2)
    np.testing.assert_allclose(g[0], [-0.75, -0.75])  # top-left pixel centre
    np.testing.assert_allclose(g[3], [0.75, -0.75])  # top-right: x grows along a row
    np.testing.assert_allclose(g[4], [-0.75, -0.25])  # next row: y grows downwards
    np.testing.assert_allclose(g.mean(axis=0), [0.0, 0.0], atol=1e-7)


def _peaked(h: int, j: int, pixels: list[int], peak: float = 60.0) -> np.ndarray:
    """Heatmap logits (1, h, h, j) with joint k's mass on pixel ``pixels[k]`` (row-major index)."""
    logits = np.zeros((1, h * h, j), np.float32)
    for k, p in enumerate(pixels):
        logits[0, p, k] = peak
    return logits.reshape(1, h, h, j)


@pytest.mark.parametrize("readout", ["voting", "soft_argmax"])
def test_a_peaked_heatmap_reads_out_its_pixel_plus_the_offset(readout):
    h, j = 8, 2
    grid = plane_grid(h)
    heat = _peaked(h, j, [0, 27])
    off = np.zeros((1, h, h, 3 * j), np.float32)
    off[..., 0:3] = [0.1, -0.2, 0.3]  # joint 0's offset at every pixel
    off[..., 3:6] = [0.0, 0.0, -0.5]
    out = VotingReadout(readout)([tf.constant(heat), tf.constant(off)]).numpy().reshape(j, 3)
    if readout == "voting":
        np.testing.assert_allclose(out[0], [grid[0, 0] + 0.1, grid[0, 1] - 0.2, 0.3], atol=1e-5)
    else:  # the 2-D soft-argmax ignores the x, y offsets
        np.testing.assert_allclose(out[0], [grid[0, 0], grid[0, 1], 0.3], atol=1e-5)
    np.testing.assert_allclose(out[1], [grid[27, 0], grid[27, 1], -0.5], atol=1e-5)


def test_flat_heatmap_votes_the_mean_of_the_grid():
    h, j = 4, 1
    out = VotingReadout("voting")([tf.zeros((1, h, h, j)), tf.zeros((1, h, h, 3))]).numpy()
    np.testing.assert_allclose(out, [[0.0, 0.0, 0.0]], atol=1e-6)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_dense_model_outputs_the_joints_of_any_skeleton_with_finite_gradients(name):
    j = DATASETS[name].num_joints
    cfg = PRESETS["dense-smoke"]
    model = build_dense_model(cfg, j)
    x = tf.random.uniform((2, cfg.input_size, cfg.input_size, 1), -1, 1, seed=0)
    target = tf.random.uniform((2, 3 * j), -1, 1, seed=1)
    with tf.GradientTape() as tape:
        pred = model(x, training=True)
        loss = tf.reduce_mean(tf.square(pred - target))
    grads = tape.gradient(loss, model.trainable_variables)
    assert pred.shape == (2, 3 * j) and pred.dtype == tf.float32
    assert all(g is not None and np.isfinite(g.numpy()).all() for g in grads)
    assert any(float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)


@pytest.mark.parametrize("stride", [2, 4, 8])
def test_map_stride_sets_the_heatmap_resolution(stride):
    cfg = dataclasses.replace(PRESETS["dense-smoke"], map_stride=stride)
    model = build_dense_model(cfg, 14)
    assert model.get_layer("heatmap").output.shape[1:3] == (32 // stride, 32 // stride)


def test_dense_model_saves_and_reloads_with_the_same_outputs(tmp_path):
    cfg = PRESETS["dense-smoke"]
    model = build_dense_model(cfg, 16)
    x = np.random.default_rng(0).uniform(-1, 1, (3, cfg.input_size, cfg.input_size, 1)).astype("float32")
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras", compile=False)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_dense_configuration_errors_are_clear():
    with pytest.raises(ValueError, match="map_stride must be a power of 2"):
        ModelConfig(family="dense", map_stride=3)
    with pytest.raises(ValueError, match="map_stride must be a power of 2"):
        ModelConfig(family="dense", dense_widths=(8,), map_stride=8)  # deeper than the encoder
    with pytest.raises(ValueError, match="family must be one of"):
        ModelConfig(family="voxels")
    with pytest.raises(ValueError, match="not divisible"):
        build_dense_model(dataclasses.replace(PRESETS["dense-smoke"], input_size=36), 16)


def test_build_model_builds_the_dense_family_from_its_preset():
    model = build_model(preset("dense-smoke"), 14)
    assert model.output_shape == (None, 42)
    assert any(isinstance(layer, VotingReadout) for layer in model.layers)
    with pytest.raises(ValueError, match="regression family only"):
        build_model(dataclasses.replace(preset("dense-smoke"), pca_dims=4), 14)


def test_the_model_runs_on_batches_of_unknown_height_and_width():
    """tf.data batches reach the model as (B, None, None, 1) tensors: the readout must not take its map
    size from them (a training run failed that way)."""
    model = build_dense_model(PRESETS["dense-smoke"], 16)
    s = PRESETS["dense-smoke"].input_size

    @tf.function(input_signature=[tf.TensorSpec((None, None, None, 1), tf.float32)])
    def forward(x):
        return model(x, training=True)

    out = forward(tf.zeros((2, s, s, 1)))
    assert out.shape == (2, 48) and np.isfinite(out.numpy()).all()


@pytest.mark.parametrize("readout", ["voting", "soft_argmax"])
def test_map_loss_plus_the_squared_joint_loss_is_every_votes_weighted_squared_error(readout):
    """The loss on the maps is what makes the dense supervision of A2J/AWR exact: the squared error
    of the read-out joint plus the vote spread equals sum_p p ||vote_p - target||^2, by brute force."""
    rng = np.random.default_rng(3)
    h, j = 4, 3
    heat = rng.normal(0, 2, (2, h, h, j)).astype("float32")
    off = rng.normal(0, 0.3, (2, h, h, 3 * j)).astype("float32")
    target = rng.uniform(-1, 1, (2, j, 3)).astype("float32")
    layer = VotingReadout(readout, map_loss=1.0)
    joints = layer([tf.constant(heat), tf.constant(off)], training=True).numpy().reshape(2, j, 3)
    (spread,) = [float(v) for v in layer.losses]
    joint_sq = np.mean(np.sum((joints - target) ** 2, axis=(1, 2)))

    p = np.exp(heat.reshape(2, h * h, j))
    p /= p.sum(axis=1, keepdims=True)
    votes = off.reshape(2, h * h, j, 3).copy()
    votes[..., :2] = plane_grid(h)[None, :, None, :] + (votes[..., :2] if readout == "voting" else 0.0)
    brute = np.mean(np.sum(p * np.sum((votes - target[:, None]) ** 2, axis=-1), axis=(1, 2)))
    np.testing.assert_allclose(joint_sq + spread, brute, rtol=1e-5)
    assert spread > 0


def test_map_loss_is_added_in_training_only_and_trains():
    cfg = dataclasses.replace(PRESETS["dense-smoke"], map_loss=0.5)
    model = build_dense_model(cfg, 16)
    x = np.random.default_rng(0).uniform(-1, 1, (4, cfg.input_size, cfg.input_size, 1)).astype("float32")
    model(x, training=False)
    assert model.losses == []
    model(x, training=True)
    assert len(model.losses) == 1 and float(model.losses[0]) > 0
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, np.zeros((4, 48), "float32"), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    with pytest.raises(ValueError, match="map_loss must be >= 0"):
        ModelConfig(family="dense", map_loss=-1.0)
