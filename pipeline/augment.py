"""Online augmentation of training crops in tf.data: in-plane rotation, scale, centre shift, pixel dropout.

Works on batches of records as ``sdnet data`` writes them: images (B, S, S, 1) normalized depth in
[-1, 1] (background +1), joints (B, 3J) normalized by cube/2 relative to the hand centre, camera axes
(x right, y down, z away), and each record's hand centre ``centre_xyz`` (B, 3) [mm] in camera
coordinates. Every transform is the crop the converter would have cut with a different centre, cube
or angle, so image and joints stay consistent:

* centre shift by (dx, dy) mm in x/y: the crop moves by S/2 * d / (cube/2) pixels; joints move by
  -d / (cube/2). Exact (the crop scale depends only on the centre's depth).
* centre shift along the ray through the centre by a fraction e (dz = e * Zc): the crop zooms by
  (1 + e) about its centre, depth values and joints move by -e * centre / (cube/2). Exact.
* scale s (a cube of cube/s): the crop zooms by s, depth values and joints scale by s. Exact.
* rotation by theta about the crop centre (image plane, as ``geometry.rotation_matrix_2d``): joints
  rotate as the converter rotates them, x_y' = R (x_y - a z) + a z with a = centre_xy / centre_z the
  direction of the centre's ray, so off-axis hands keep their perspective. Exact for fx = fy.
* pixel dropout: a share of the hand's pixels set to background (as missing depth).

Resampling is nearest-neighbour (hand and background never blend), new pixels are background.
Randomness is stateless: a batch's transforms depend only on its (2,) int64 seed.
"""
from __future__ import annotations

import math

import tensorflow as tf

from pipeline.config import AugmentConfig


def is_active(cfg: AugmentConfig | None) -> bool:
    """True when ``cfg`` changes anything."""
    return cfg is not None and (cfg.rotation_deg > 0 or cfg.scale > 0 or cfg.shift_mm > 0
                                or cfg.pixel_dropout > 0)


def draw_params(batch: int, cfg: AugmentConfig, seed):
    """Per-record transform parameters (stateless): angle [rad], zoom s, xy shift [mm] (B, 2), ray
    shift fraction e. ``seed``: (2,) int tensor."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 4)
    angle = tf.random.stateless_uniform((batch,), seeds[0], -1.0, 1.0) * math.radians(cfg.rotation_deg)
    zoom = 1.0 + tf.random.stateless_uniform((batch,), seeds[1], -1.0, 1.0) * cfg.scale
    shift = tf.random.stateless_normal((batch, 3), seeds[2]) * cfg.shift_mm  # (B, 3) mm
    return angle, zoom, shift, seeds[3]


def augment_batch(images, joints, centre_xyz, cube_mm, cfg: AugmentConfig, seed):
    """Augmented (images, joints) of one batch; see the module docstring for the transforms.

    images (B, S, S, 1) float32 in [-1, 1]; joints (B, 3J) normalized; centre_xyz (B, 3) [mm];
    cube_mm (B,) [mm]; seed (2,) int. Output shapes and conventions equal the input's.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    b = tf.shape(images)[0]
    s = tf.cast(tf.shape(images)[1], tf.float32)
    half = tf.reshape(tf.cast(cube_mm, tf.float32), (-1, 1)) / 2.0  # (B, 1) mm
    centre = tf.cast(centre_xyz, tf.float32)  # (B, 3) mm
    angle, zoom, shift, drop_seed = draw_params(b, cfg, seed)

    # Centre shift: in x/y exactly; in depth as a move along the centre's ray (fraction e).
    shift_xy = shift[:, :2]  # (B, 2) mm
    shifted = centre + tf.pad(shift_xy, [[0, 0], [0, 1]])  # (B, 3) centre after the x/y shift
    ray = shift[:, 2] / centre[:, 2]  # (B,) e
    centre_after = shifted * (1.0 + ray)[:, None]  # (B, 3)
    j = tf.reshape(tf.cast(joints, tf.float32), (b, -1, 3))  # (B, J, 3)
    j = (j - (centre_after - centre)[:, None, :] / half[:, :, None]) * zoom[:, None, None]
    a = centre_after[:, :2] / centre_after[:, 2:]  # (B, 2) ray direction of the new centre
    c, sn = tf.cos(angle), tf.sin(angle)
    rot = tf.reshape(tf.stack([c, sn, -sn, c], axis=1), (b, 2, 2))  # (B, 2, 2), geometry.rotation_matrix_2d
    xy = j[..., :2] - a[:, None, :] * j[..., 2:]  # (B, J, 2)
    xy = tf.einsum("bij,bkj->bki", rot, xy) + a[:, None, :] * j[..., 2:]
    j = tf.concat([xy, j[..., 2:]], axis=-1)

    # Image: output pixel p (relative to the crop centre) samples input q = R^T p / z + t.
    z = zoom * (1.0 + ray)  # (B,) total zoom
    t = (s / 2.0) * shift_xy / half  # (B, 2) crop pixels of the new centre in the old crop
    m = (s - 1.0) / 2.0
    inv = tf.transpose(rot, (0, 2, 1)) / z[:, None, None]  # (B, 2, 2), acts on (u, v) = (col, row)
    a0, a1, b0, b1 = inv[:, 0, 0], inv[:, 0, 1], inv[:, 1, 0], inv[:, 1, 1]
    a2 = m + t[:, 0] - (a0 + a1) * m
    b2 = m + t[:, 1] - (b0 + b1) * m
    zeros = tf.zeros_like(a0)
    transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)  # (B, 8)
    size = tf.shape(images)[1:3]
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=size, fill_value=1.0,
        interpolation="NEAREST", fill_mode="CONSTANT")
    hand = warped < 1.0
    depth_offset = (ray * centre[:, 2])[:, None, None, None] / half[:, :, None, None]
    values = (warped - depth_offset) * zoom[:, None, None, None]
    if cfg.pixel_dropout > 0:
        keep = tf.random.stateless_uniform(tf.shape(warped), drop_seed) >= cfg.pixel_dropout
        hand = hand & keep
    out = tf.where(hand, tf.clip_by_value(values, -1.0, 1.0), tf.ones_like(warped))
    return out, tf.reshape(j, (b, -1))
