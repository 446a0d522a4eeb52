import numpy as np
import pytest
import tensorflow as tf

from pipeline.datasets import ICVL, NYU
from pipeline.geometry import quantize_crop
from pipeline.icvl import encode_depth_png
from pipeline.input import decode_records, parse_example
from pipeline.schema import encode_example, spec

J_ICVL, J_NYU = ICVL.num_joints, NYU.num_joints
BOTH = pytest.mark.parametrize("j", [J_ICVL, J_NYU], ids=["icvl", "nyu"])


def _record(rng, j=J_ICVL):
    crop = rng.uniform(-1, 1, (16, 16)).astype(np.float32)
    return crop, {
        "crop_png": encode_depth_png(quantize_crop(crop)), "joints": rng.normal(size=(j, 3)),
        "uvd": rng.uniform(0, 300, (j, 3)), "xyz": rng.normal(size=(j, 3)) * 100,
        "centre_xyz": [1.0, 2.0, 300.0], "cube_mm": 250.0, "angle_deg": 22.5,
        "affine": np.arange(6.0), "crop_size": 16, "sequence": "test_seq_1", "frame": 7,
        "path": "test_seq_1/image_0007.png",
    }


@BOTH
def test_schema_round_trip_eager_and_in_tf_data(j):
    rng = np.random.default_rng(0)
    crop, rec = _record(rng, j)
    ser = encode_example(rec, j)
    out = decode_records([ser], j)
    np.testing.assert_allclose(out["image"][0, ..., 0], crop, atol=1e-4)
    np.testing.assert_allclose(out["joints"][0], rec["joints"], rtol=1e-6)
    np.testing.assert_allclose(out["uvd"][0], rec["uvd"], rtol=1e-6)
    assert out["sequence"][0] == b"test_seq_1" and out["frame"][0] == 7
    assert out["path"][0] == b"test_seq_1/image_0007.png" and out["cube_mm"][0] == 250.0
    np.testing.assert_allclose(out["xyz"][0], rec["xyz"], rtol=1e-6)
    ds = tf.data.Dataset.from_tensor_slices([ser, ser]).map(lambda x: parse_example(x, j))
    batch = next(iter(ds.batch(2)))
    assert batch["image"].shape == (2, 16, 16, 1) and batch["joints"].shape == (2, j, 3)
    assert set(batch) == (set(spec(j)) - {"crop_png"}) | {"image"}


def test_schema_refuses_missing_or_extra_keys():
    _, rec = _record(np.random.default_rng(1))
    with pytest.raises(ValueError, match="missing keys"):
        encode_example({k: v for k, v in rec.items() if k != "xyz"}, J_ICVL)
    with pytest.raises(ValueError, match="unknown keys"):
        encode_example({**rec, "extra": 1}, J_ICVL)
    with pytest.raises(ValueError, match="uvd: expected 48 values"):
        encode_example({**rec, "uvd": np.zeros(47)}, J_ICVL)


def test_the_joint_count_is_the_skeletons():
    """A record of one skeleton is refused as another's, and does not parse as another's."""
    _, nyu_rec = _record(np.random.default_rng(3), J_NYU)
    with pytest.raises(ValueError, match="joints: expected 48 values, got 42"):
        encode_example(nyu_rec, J_ICVL)
    ser = encode_example(nyu_rec, J_NYU)
    with pytest.raises(tf.errors.InvalidArgumentError):
        decode_records([ser], J_ICVL)


def _tf_example(rec) -> tf.train.Example:
    """The same record built with TensorFlow's own protocol buffer classes."""
    feats = {}
    for key, (kind, _) in spec(len(rec["uvd"])).items():
        v = rec[key]
        if kind == "string":
            v = v.encode() if isinstance(v, str) else v
            feats[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))
        elif kind == "int64":
            feats[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=np.ravel(v).astype(int).tolist()))
        else:
            feats[key] = tf.train.Feature(float_list=tf.train.FloatList(value=np.ravel(v).astype(np.float32).tolist()))
    return tf.train.Example(features=tf.train.Features(feature=feats))


@pytest.mark.parametrize("frame", [0, 7, 300, 2 ** 40, -3])
@BOTH
def test_hand_written_encoding_equals_tensorflows(frame, j):
    _, rec = _record(np.random.default_rng(2), j)
    rec = {**rec, "frame": frame}
    ours = tf.train.Example.FromString(encode_example(rec, j))
    assert ours == _tf_example(rec)
