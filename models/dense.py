"""The dense model family: a light encoder-decoder that estimates every joint per pixel and reads the
joints out by weighted voting (the kind of network of A2J, AWR and TriHorn-Net, written for sdnet).

Input: a normalized depth crop, float32 (B, S, S, 1) in [-1, 1] (``pipeline.input``). Output: (B, 3J)
normalized joints, joint-major, in units of cube/2 relative to the hand centre, camera axes (x right,
y down, z away): the same contract as ``models.sdnet``'s regression presets, so the losses, the
refinement, evaluation, prediction and export take it unchanged.

Network: a stride-2 stem to S/4, then ``len(widths) - 1`` more stride-2 stages (one residual block
of two 3x3 convolutions each), then a decoder that upsamples back to the map resolution S/stride
(nearest neighbour, a 1x1 projection of the encoder feature of the same size added). Batch
normalization after every convolution with ``batch_norm`` (it halves the training rate on CPU).

Heads, at the map resolution h x w = S/stride:
  * ``heatmap`` (h, w, J): one logit per pixel and joint; a softmax over the pixels gives the joint's
    weights ``p`` (they sum to 1 per joint).
  * ``offsets`` (h, w, 3J): per pixel and joint, the joint's position relative to the pixel, in
    normalized units: (x - gx, y - gy, z), where (gx, gy) is the pixel centre in the crop's normalized
    plane coordinates (-1 at the left/top edge, +1 at the right/bottom: the cube's side at the centre
    depth, ``pipeline.geometry``).
  * readout ``voting``: joint = sum_pixels p * ((gx, gy, 0) + offset); ``soft_argmax``: x, y = sum p *
    (gx, gy) (the 2D soft-argmax of the heatmap) and z = sum p * offset_z (the offsets' x, y unused).
The grid is the crop plane, so a joint off the centre depth projects off its (x, y); the voting
readout learns that correction in the offsets, the soft-argmax readout cannot.

The loss on the joints alone leaves the maps free: they are whatever makes the joints right. With
``map_loss`` w > 0 the readout adds, in training, a loss on the maps: w times the heatmap-weighted
spread of the per-pixel votes v_p around their joint, sum_j sum_p p_pj ||v_pj - joint_j||^2 (normalized
units squared, the mean over the batch; for soft_argmax the votes are (gx, gy, offset_z)). It needs no
target, since sum_p p ||v_p - y||^2 = ||joint - y||^2 + spread: with w = 1 and the squared joint loss,
the total is the squared error of every pixel's vote weighted by its heatmap, the dense supervision of
A2J and AWR, while w = 0 supervises only the aggregate.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from pipeline.config import DENSE_READOUTS, ModelConfig

READOUTS = DENSE_READOUTS


def plane_grid(size: int) -> np.ndarray:
    """(size * size, 2) float32 pixel centres (gx, gy) of a size x size map, row-major, in the crop's
    normalized plane coordinates: the image's left/top edge is -1 and its right/bottom edge +1."""
    c = (np.arange(size, dtype=np.float32) + 0.5) / size * 2.0 - 1.0
    gy, gx = np.meshgrid(c, c, indexing="ij")
    return np.stack([gx.ravel(), gy.ravel()], axis=-1)


@keras.saving.register_keras_serializable(package="sdnet")
class VotingReadout(keras.layers.Layer):
    """(heatmap (B, h, w, J), offsets (B, h, w, 3J)) -> joints (B, 3J), float32 (see the module
    docstring). ``readout``: 'voting' or 'soft_argmax'; ``map_loss``: the weight of the vote-spread
    loss added in training (0: none)."""

    def __init__(self, readout: str = "voting", map_loss: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        if map_loss < 0.0:
            raise ValueError(f"map_loss must be >= 0, got {map_loss}")
        self.readout = readout
        self.map_loss = float(map_loss)

    def build(self, input_shapes):
        """Fixes the map size from the static shapes the model is built with (batches may arrive
        with unknown height and width, e.g. from tf.data)."""
        h, w, j = input_shapes[0][1], input_shapes[0][2], input_shapes[0][3]
        if h is None or w is None or h != w:
            raise ValueError(f"VotingReadout needs square maps of a known size, got {h}x{w}")
        self.map_size, self.num_joints = int(h), int(j)
        super().build(input_shapes)

    def call(self, inputs, training=None):
        heatmap, offsets = inputs
        heatmap = ops.cast(heatmap, "float32")
        offsets = ops.cast(offsets, "float32")
        h = w = self.map_size
        j = self.num_joints
        grid = ops.convert_to_tensor(plane_grid(h))  # (P, 2)
        logits = ops.reshape(heatmap, (-1, h * w, j))  # (B, P, J)
        weights = ops.softmax(logits, axis=1)
        off = ops.reshape(offsets, (-1, h * w, j, 3))  # (B, P, J, 3)
        xy_grid = ops.einsum("bpj,pc->bjc", weights, grid)  # (B, J, 2)
        if self.readout == "voting":
            xyz = ops.einsum("bpj,bpjc->bjc", weights, off)  # (B, J, 3)
            xyz = xyz + ops.pad(xy_grid, ((0, 0), (0, 0), (0, 1)))
        else:
            z = ops.einsum("bpj,bpj->bj", weights, off[..., 2])
            xyz = ops.concatenate([xy_grid, z[..., None]], axis=-1)
        if training and self.map_loss > 0.0:
            self.add_loss(self.map_loss * self._replica_share(vote_spread(weights, off, grid, xyz, self.readout)))
        return ops.reshape(xyz, (-1, 3 * j))

    @staticmethod
    def _replica_share(loss):
        """``loss`` divided by the replicas in sync, as Keras scales the compiled loss: under
        tf.distribute every replica's gradients are summed, so the added loss must be too."""
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync if context is not None else 1
        return loss / float(replicas)

    def compute_output_shape(self, input_shapes):
        return (input_shapes[0][0], 3 * input_shapes[0][3])

    def get_config(self):
        return {**super().get_config(), "readout": self.readout, "map_loss": self.map_loss}


def vote_spread(weights, off, grid, joints, readout: str):
    """The heatmap-weighted spread of the per-pixel votes around their joint, the mean over the batch
    of sum_j sum_p p_pj ||v_pj - joint_j||^2 (normalized units squared). weights (B, P, J) sum to 1 over
    the P pixels; off (B, P, J, 3) offsets; grid (P, 2) pixel centres; joints (B, J, 3) the readout.
    The votes v are grid + offset (voting) or (grid, offset_z) (soft_argmax)."""
    xy = grid[None, :, None, :] + (off[..., :2] if readout == "voting" else 0.0)  # (B or 1, P, J, 2)
    xy_err = ops.sum(ops.square(xy - joints[:, None, :, :2]), axis=-1)  # (B, P, J)
    z_err = ops.square(off[..., 2] - joints[:, None, :, 2])  # (B, P, J)
    return ops.mean(ops.sum(weights * (xy_err + z_err), axis=[1, 2]))


def _conv_bn(x, filters: int, kernel: int, stride: int, name: str, bn: bool, relu: bool = True):
    """A 'same' convolution, batch normalization when ``bn`` (then no bias), and a ReLU when ``relu``."""
    x = keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=not bn,
                            kernel_initializer="he_normal", name=f"{name}_conv")(x)
    if bn:
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x) if relu else x


def _residual(x, filters: int, name: str, bn: bool):
    """Two 3x3 conv layers with an identity shortcut (the input has ``filters`` channels)."""
    y = _conv_bn(x, filters, 3, 1, f"{name}a", bn)
    y = _conv_bn(y, filters, 3, 1, f"{name}b", bn, relu=False)
    return keras.layers.ReLU(name=f"{name}_out")(keras.layers.Add(name=f"{name}_add")([x, y]))


def build_dense_model(cfg: ModelConfig, num_joints: int) -> keras.Model:
    """The dense network (B, S, S, 1) -> (B, 3 * num_joints) for ``cfg`` (family 'dense'): encoder
    widths ``cfg.dense_widths`` (the first at S/4), maps at S / ``cfg.map_stride``, readout
    ``cfg.readout``. Layers follow the global dtype policy; the heads and the readout are float32."""
    s, widths, stride = cfg.input_size, tuple(int(c) for c in cfg.dense_widths), int(cfg.map_stride)
    levels = len(widths)  # encoder resolutions S/4, S/8, ... S/2^(levels+1)
    if s % (2 ** (levels + 1)):
        raise ValueError(f"dense model: crop size {s} px is not divisible by 2^{levels + 1} "
                         f"({levels} encoder stages below a stride-4 stem)")
    bn = bool(cfg.batch_norm)
    inputs = keras.Input((s, s, 1), name="depth")
    x = _conv_bn(inputs, max(16, widths[0] // 2), 5, 2, "stem1", bn)  # S/2
    x = _conv_bn(x, widths[0], 3, 2, "stem2", bn)  # S/4
    x = _residual(x, widths[0], "enc1", bn)
    skips = {4: x}
    for k, width in enumerate(widths[1:], start=2):
        x = _conv_bn(x, width, 3, 2, f"down{k}", bn)
        x = _residual(x, width, f"enc{k}", bn)
        skips[2 ** (k + 1)] = x
    at = 2 ** (levels + 1)  # the deepest stride
    while at > stride:
        at //= 2
        width = int(skips[at].shape[-1]) if at in skips else widths[0]
        x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"up{at}")(x)
        x = _conv_bn(x, width, 1, 1, f"up{at}_proj", bn, relu=False)
        if at in skips:
            x = keras.layers.Add(name=f"up{at}_skip")([x, skips[at]])
        x = keras.layers.ReLU(name=f"up{at}_relu")(x)
        x = _conv_bn(x, width, 3, 1, f"dec{at}", bn)
    heatmap = keras.layers.Conv2D(num_joints, 1, dtype="float32", name="heatmap")(x)
    offsets = keras.layers.Conv2D(3 * num_joints, 1, dtype="float32", kernel_initializer="zeros",
                                  name="offsets")(x)
    outputs = VotingReadout(cfg.readout, cfg.map_loss, dtype="float32", name="joints")([heatmap, offsets])
    return keras.Model(inputs, outputs, name=f"sdnet_{cfg.preset}")
