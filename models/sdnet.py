"""The SDNet joint-regression CNN (paper Sec. 3.1) as named presets.

Input: a normalized depth crop, float32 (B, S, S, 1) in [-1, 1] (``pipeline.input``). Output: (B, 3J)
normalized joints, joint-major (x0, y0, z0, x1, ...), in units of cube/2 relative to the hand centre,
camera axes (x right, y down, z away).

The design is the paper's: ZF-net's five convolutional layers (ReLU; 3x3/2 max-pooling after the
1st, 2nd and 5th), one fully connected layer with dropout 0.5, and 3J linear outputs. We use 'same'
padding throughout so any crop size works (ZF-net pads conv layers and uses valid pooling; at 224 px our
last feature map is 7x7 instead of its 6x6). ZF-net's local contrast normalization is left out.

Presets (``pipeline.config.PRESETS``):
  * ``paper``: 96 7x7/2, pool, 256 5x5/2, pool, 384 3x3, 384 3x3, 256 3x3, pool; FC 2048; 224 px.
  * ``cpu``: the same layers with 48, 96, 128, 128, 96 channels and FC 1024 at 128 px (129 MFLOPs per
    image forward, vs 2.35 GFLOPs for ``paper`` at 224 px), sized to train at
    80+ images/s on 2 CPU cores (measured with ``sdnet bench --only train``), and no dropout: this
    small model underfits, and dropout 0.5 cost 1.1 mm of validation error at equal wall time
    (docs/recipe/README.md).
  * ``smoke``: tiny widths and no dropout (a 64-unit layer), for tests.
The input size is always replaced by the dataset's crop size (``with_input_size``).
"""
from __future__ import annotations

import dataclasses

import keras
import numpy as np

from models.dense import build_dense_model
from pipeline.config import PRESETS, ModelConfig

POOL_SIZE, POOL_STRIDE = 3, 2


def preset(name: str) -> ModelConfig:
    """The ModelConfig of a named preset; ValueError naming the choices otherwise."""
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; choose from {sorted(PRESETS)}")
    return PRESETS[name]


def with_input_size(cfg: ModelConfig, input_size: int) -> ModelConfig:
    """``cfg`` for crops of ``input_size`` pixels (the manifest's crop_size)."""
    return dataclasses.replace(cfg, input_size=int(input_size))


def fit_pose_pca(joints: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """PCA of training poses: (components (dims, 3J), mean (3J,)) of joints (N, 3J), normalized
    units. Components are orthonormal rows, ordered by explained variance."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 2 or len(joints) <= dims:
        raise ValueError(f"pose PCA: need more than {dims} poses of shape (N, 3J), got {joints.shape}")
    mean = joints.mean(axis=0)
    _, _, vt = np.linalg.svd(joints - mean, full_matrices=False)
    return vt[:dims].astype("float32"), mean.astype("float32")


def build_model(cfg: ModelConfig, num_joints: int,
                pca: tuple[np.ndarray, np.ndarray] | None = None) -> keras.Model:
    """A Keras functional model (B, S, S, 1) -> (B, 3 * num_joints), S = cfg.input_size; ``num_joints``
    is the skeleton's J (``pipeline.rundir.run_skeleton(cfg).num_joints``: 16 for ICVL, 14 for NYU).

    Layers follow the global dtype policy (mixed precision when set); the output layer is float32.
    Weights are drawn from Keras' global seed (``keras.utils.set_random_seed``). With
    ``cfg.pca_dims`` the output layer is the fixed PCA basis ``pca`` = (components, mean) of
    ``fit_pose_pca`` (zeros when None, e.g. before loading saved weights). ``cfg.family`` 'dense'
    builds the per-pixel network of ``models.dense`` instead (same input and output; no PCA).
    """
    if cfg.family == "dense":
        if cfg.pca_dims > 0:
            raise ValueError("model: pca_dims applies to the regression family only")
        return build_dense_model(cfg, num_joints)
    s = cfg.input_size
    inputs = keras.Input((s, s, 1), name="depth")  # (B, S, S, 1)
    x = inputs
    layers = zip(cfg.conv_filters, cfg.conv_kernels, cfg.conv_strides, cfg.pool_after)
    bn = bool(cfg.batch_norm)
    for i, (filters, kernel, stride, pool) in enumerate(layers, start=1):
        x = keras.layers.Conv2D(int(filters), int(kernel), strides=int(stride), padding="same",
                                activation=None if bn else "relu", use_bias=not bn,
                                kernel_initializer="he_normal", name=f"conv{i}")(x)
        if bn:
            x = keras.layers.BatchNormalization(name=f"bn{i}")(x)
            x = keras.layers.ReLU(name=f"relu{i}")(x)
        if pool:
            x = keras.layers.MaxPooling2D(POOL_SIZE, POOL_STRIDE, padding="same", name=f"pool{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)  # (B, h * w * C)
    x = keras.layers.Dense(int(cfg.fc_units), activation=None if bn else "relu", use_bias=not bn,
                           kernel_initializer="he_normal", name="fc")(x)
    if bn:
        x = keras.layers.BatchNormalization(name="bn_fc")(x)
        x = keras.layers.ReLU(name="relu_fc")(x)
    if cfg.dropout > 0:
        x = keras.layers.Dropout(cfg.dropout, name="dropout")(x)
    if cfg.pca_dims > 0:
        x = keras.layers.Dense(int(cfg.pca_dims), name="pose_pca")(x)  # (B, K) pose coefficients
        basis = keras.layers.Dense(3 * num_joints, dtype="float32", trainable=False, name="joints")
        outputs = basis(x)  # (B, 3J) = coefficients @ components + mean
        if pca is not None:
            components, mean = pca
            basis.set_weights([np.asarray(components, "float32"), np.asarray(mean, "float32")])
        else:
            basis.set_weights([np.zeros((cfg.pca_dims, 3 * num_joints), "float32"),
                               np.zeros(3 * num_joints, "float32")])
        return keras.Model(inputs, outputs, name=f"sdnet_{cfg.preset}")
    outputs = keras.layers.Dense(3 * num_joints, dtype="float32", name="joints")(x)  # (B, 3J)
    return keras.Model(inputs, outputs, name=f"sdnet_{cfg.preset}")


def count_flops(model: keras.Model) -> int:
    """Forward FLOPs per image of the conv and dense layers (2 per multiply-add, plus bias adds).

    Pooling, ReLU and dropout are not counted (they are < 1% here). One training step costs about
    3x this per image (forward, and the two backward products).
    """
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            c_in = layer.input.shape[-1]
            kh, kw = layer.kernel_size
            total += h * w * c_out * (2 * kh * kw * c_in + (1 if layer.use_bias else 0))
        elif isinstance(layer, keras.layers.Dense):
            n_in, n_out = layer.input.shape[-1], layer.units
            total += n_out * (2 * n_in + (1 if layer.use_bias else 0))
    return int(total)
