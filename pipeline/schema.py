"""The one TFRecord schema, with its matched encode/parse pair.

A record (tf.train.Example) holds one crop of one frame (one rotation of it for augmented copies):

  crop_png      bytes    S x S uint16 PNG of the normalized depth (``geometry.quantize_crop``)
  joints        48 float normalized crop-frame joints (``geometry.normalize_joints``), joint-major
  uvd           48 float original image joints [px, px, mm]
  xyz           48 float original camera joints [mm]
  centre_xyz    3 float  hand centre, camera xyz [mm]
  cube_mm       float    side of the crop cube [mm] (the nominal cube times any scale jitter)
  angle_deg     float    in-plane rotation of this copy (0 for the original)
  affine        6 float  2x3 map image (u, v, 1) -> crop pixels, row-major
  crop_size     int      S
  sequence      bytes    sequence id (the image's folder, e.g. 'test_seq_1')
  frame         int      frame index within the sequence (from image_NNNN.png)
  path          bytes    image path relative to its Depth folder

``encode_example`` takes numpy values; ``parse_example`` runs inside tf.data; both come from FEATURES.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from pipeline.skeleton import NUM_JOINTS

SCHEMA_VERSION = 1

_J3 = 3 * NUM_JOINTS
FEATURES = {
    "crop_png": tf.io.FixedLenFeature([], tf.string),
    "joints": tf.io.FixedLenFeature([_J3], tf.float32),
    "uvd": tf.io.FixedLenFeature([_J3], tf.float32),
    "xyz": tf.io.FixedLenFeature([_J3], tf.float32),
    "centre_xyz": tf.io.FixedLenFeature([3], tf.float32),
    "cube_mm": tf.io.FixedLenFeature([], tf.float32),
    "angle_deg": tf.io.FixedLenFeature([], tf.float32),
    "affine": tf.io.FixedLenFeature([6], tf.float32),
    "crop_size": tf.io.FixedLenFeature([], tf.int64),
    "sequence": tf.io.FixedLenFeature([], tf.string),
    "frame": tf.io.FixedLenFeature([], tf.int64),
    "path": tf.io.FixedLenFeature([], tf.string),
}


def _feature(spec: tf.io.FixedLenFeature, value) -> tf.train.Feature:
    if spec.dtype == tf.string:
        if isinstance(value, str):
            value = value.encode("utf-8")
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
    arr = np.asarray(value).reshape(-1)
    expected = int(np.prod(spec.shape)) if spec.shape else 1
    if arr.size != expected:
        raise ValueError(f"schema: expected {expected} values, got {arr.size}")
    if spec.dtype == tf.int64:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=arr.astype(np.int64).tolist()))
    return tf.train.Feature(float_list=tf.train.FloatList(value=arr.astype(np.float32).tolist()))


def encode_example(record: dict) -> bytes:
    """Serialize a record dict with exactly the keys of FEATURES (numpy or Python values)."""
    missing, extra = set(FEATURES) - set(record), set(record) - set(FEATURES)
    if missing or extra:
        raise ValueError(f"schema: missing keys {sorted(missing)}, unknown keys {sorted(extra)}")
    feats = {k: _feature(spec, record[k]) for k, spec in FEATURES.items()}
    return tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString()


def parse_example(serialized: tf.Tensor) -> dict:
    """Parse one serialized record into tensors; decodes the crop to float32 (S, S, 1) in [-1, 1]
    under the key ``image``, and reshapes joints/uvd/xyz to (J, 3)."""
    ex = tf.io.parse_single_example(serialized, FEATURES)
    q = tf.io.decode_png(ex.pop("crop_png"), channels=1, dtype=tf.uint16)
    ex["image"] = tf.cast(q, tf.float32) / 32767.5 - 1.0
    for key in ("joints", "uvd", "xyz"):
        ex[key] = tf.reshape(ex[key], (NUM_JOINTS, 3))
    return ex


def decode_records(serialized: list[bytes]) -> dict:
    """Eagerly parse a list of serialized records into a dict of stacked numpy arrays (tests, tools)."""
    parsed = [parse_example(tf.constant(s)) for s in serialized]
    out = {}
    for key in parsed[0]:
        vals = [p[key].numpy() for p in parsed]
        out[key] = np.stack(vals)
    return out
