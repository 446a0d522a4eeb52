"""The one TFRecord schema, with its matched encode/parse pair.

A record (tf.train.Example) holds one crop of one frame (one rotation of it for augmented copies):

  crop_png      bytes    S x S uint16 PNG of the normalized depth (``geometry.quantize_crop``)
  joints        3J float normalized crop-frame joints (``geometry.normalize_joints``), joint-major
  uvd           3J float original image joints [px, px, mm]
  xyz           3J float original camera joints [mm] (``pipeline.camera``: x right, y down, z forward)
  centre_xyz    3 float  hand centre, camera xyz [mm]
  cube_mm       float    side of the crop cube [mm] (the nominal cube times any scale jitter)
  angle_deg     float    in-plane rotation of this copy (0 for the original)
  affine        6 float  2x3 map image (u, v, 1) -> crop pixels, row-major
  crop_size     int      S
  sequence      bytes    sequence id (ICVL: the image's folder, e.g. 'test_seq_1'; NYU: the subject)
  frame         int      frame index within the sequence (from image_NNNN.png)
  path          bytes    image path relative to its Depth folder

``encode_example`` takes numpy values and needs no TensorFlow (this module does not import it, so
the Beam workers that encode records never load it); its inverse ``pipeline.input.parse_example`` runs
inside tf.data. Both come from ``spec(J)``: J is the skeleton's joint count (the dataset's, recorded
in the data manifest), so the layout is the skeleton's, not a constant.
"""
from __future__ import annotations

import numpy as np

SCHEMA_VERSION = 1

# The fields that hold 3 values per joint (J x 3, joint-major).
JOINT_FIELDS = ("joints", "uvd", "xyz")


def spec(num_joints: int) -> dict[str, tuple[str, int]]:
    """The record layout of a skeleton of ``num_joints`` joints: name -> (kind, number of values); the
    single source of the record layout."""
    if int(num_joints) < 1:
        raise ValueError(f"schema: a skeleton has at least one joint, got {num_joints}")
    j3 = 3 * int(num_joints)
    return {
        "crop_png": ("string", 1),
        "joints": ("float32", j3),
        "uvd": ("float32", j3),
        "xyz": ("float32", j3),
        "centre_xyz": ("float32", 3),
        "cube_mm": ("float32", 1),
        "angle_deg": ("float32", 1),
        "affine": ("float32", 6),
        "crop_size": ("int64", 1),
        "sequence": ("string", 1),
        "frame": ("int64", 1),
        "path": ("string", 1),
    }


# ---- encoding without TensorFlow ----------------------------------------------------------------
# Beam workers encode records; importing TensorFlow there costs seconds per worker, so the
# tf.train.Example protocol buffer is written directly (its wire format is small and stable):
#   Example   { Features features = 1; }
#   Features  { map<string, Feature> feature = 1; }      (each entry: key = 1, value = 2)
#   Feature   { oneof { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; } }
#   BytesList { repeated bytes value = 1; }  FloatList { repeated float value = 1 [packed]; }
#   Int64List { repeated int64 value = 1 [packed]; }
# ``tests/test_schema.py`` checks the bytes against TensorFlow's own serializer.

def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # int64 two's complement, as protobuf does for negative values
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


_KINDS = {"string": 1, "float32": 2, "int64": 3}


def _feature_bytes(key: str, kind: str, count: int, value) -> bytes:
    """Serialized Feature message of one schema field."""
    if kind == "string":
        if isinstance(value, str):
            value = value.encode("utf-8")
        return _field(1, _field(1, bytes(value)))
    arr = np.asarray(value).reshape(-1)
    if arr.size != count:
        raise ValueError(f"schema: {key}: expected {count} values, got {arr.size}")
    if kind == "int64":
        packed = b"".join(_varint(int(v)) for v in arr.astype(np.int64))
        return _field(3, _field(1, packed))
    return _field(2, _field(1, arr.astype("<f4").tobytes()))


def encode_example(record: dict, num_joints: int) -> bytes:
    """Serialize a record dict with exactly the keys of ``spec(num_joints)`` (numpy or Python values)
    as a tf.train.Example, without importing TensorFlow. ValueError when a key is missing or unknown,
    or a field does not hold its count (joints/uvd/xyz: 3 x ``num_joints``, the skeleton's J)."""
    layout = spec(num_joints)
    missing, extra = set(layout) - set(record), set(record) - set(layout)
    if missing or extra:
        raise ValueError(f"schema: missing keys {sorted(missing)}, unknown keys {sorted(extra)}")
    entries = b"".join(
        _field(1, _field(1, key.encode()) + _field(2, _feature_bytes(key, kind, count, record[key])))
        for key, (kind, count) in layout.items())
    return _field(1, entries)
