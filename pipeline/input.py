"""The tf.data input pipeline over ``sdnet data`` output, and the manifest checks.

``make_dataset`` yields ``(image, joints)``: image float32 (B, S, S, 1) in [-1, 1] (background +1),
joints float32 (B, 3J) normalized by cube/2 in the crop frame (see ``pipeline/geometry.py``). With
``with_meta`` it yields ``(image, joints, meta)`` with the record's other fields (uvd, xyz, centre,
cube, angle, affine, sequence, frame, path) for mapping predictions back to the image and camera.
``parse_example`` reads one record of ``pipeline.schema`` (the inverse of its ``encode_example``) of a
skeleton of J joints; ``make_dataset`` takes J from the data directory's manifest (its dataset's skeleton).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tensorflow as tf

from pipeline.augment import augment_batch, is_active
from pipeline.datasets import Dataset, dataset_of
from pipeline.errors import SdnetError
from pipeline.schema import JOINT_FIELDS, SCHEMA_VERSION, spec

MANIFEST = "manifest.json"


def read_manifest(data_dir: Path) -> dict:
    """Load DATA/manifest.json; SdnetError when it is missing or not JSON."""
    path = Path(data_dir) / MANIFEST
    if not path.is_file():
        raise SdnetError(f"{path}: no manifest (is {data_dir} the output of `sdnet data`?)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise SdnetError(f"{path}: not valid JSON ({e})") from None


def check_manifest(manifest: dict, crop_size: int | None = None, where: str = "manifest") -> Dataset:
    """The registered dataset of the data (``datasets.dataset_of(manifest["dataset"],
    manifest["skeleton"])``); SdnetError (one line naming ``where``) on a schema version, dataset,
    skeleton or crop size that this code cannot use."""
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise SdnetError(f"{where}: schema version {manifest.get('schema_version')} but this sdnet "
                         f"reads version {SCHEMA_VERSION}; re-run `sdnet data`")
    if "dataset" not in manifest or "skeleton" not in manifest:
        raise SdnetError(f"{where}: records no dataset or skeleton (made by an older sdnet); re-run `sdnet data`")
    dataset = dataset_of(manifest["dataset"], manifest["skeleton"], where)
    if crop_size is not None and manifest.get("crop_size") != crop_size:
        raise SdnetError(f"{where}: crop size {manifest.get('crop_size')} px, expected {crop_size} px")
    return dataset


def record_features(num_joints: int) -> dict:
    """The tf.io parsing spec of ``schema.spec(num_joints)`` (scalars for one value, vectors otherwise)."""
    dtypes = {"string": tf.string, "float32": tf.float32, "int64": tf.int64}
    return {k: tf.io.FixedLenFeature([] if n == 1 else [n], dtypes[kind])
            for k, (kind, n) in spec(num_joints).items()}


def parse_example(serialized, num_joints: int) -> dict:
    """Parse one serialized record of a ``num_joints``-joint skeleton into tensors; decodes the crop to
    float32 (S, S, 1) in [-1, 1] under the key ``image``, and reshapes joints/uvd/xyz to (J, 3)
    (normalized crop frame; image px, px, mm; camera mm)."""
    ex = tf.io.parse_single_example(serialized, record_features(num_joints))
    q = tf.io.decode_png(ex.pop("crop_png"), channels=1, dtype=tf.uint16)
    ex["image"] = tf.cast(q, tf.float32) / 32767.5 - 1.0
    for key in JOINT_FIELDS:
        ex[key] = tf.reshape(ex[key], (num_joints, 3))
    return ex


def decode_records(serialized: list[bytes], num_joints: int) -> dict:
    """Eagerly parse a list of serialized records of a ``num_joints``-joint skeleton into a dict of
    stacked numpy arrays (tests, tools)."""
    parsed = [parse_example(tf.constant(s), num_joints) for s in serialized]
    out = {}
    for key in parsed[0]:
        vals = [p[key].numpy() for p in parsed]
        out[key] = np.stack(vals)
    return out


def split_files(data_dir: Path, split: str) -> list[str]:
    """The TFRecord files of ``split`` (SdnetError when there are none)."""
    files = sorted(str(p) for p in Path(data_dir).glob(f"{split}-*.tfrecord.gz"))
    if not files:
        raise SdnetError(f"{data_dir}: no TFRecord files for split '{split}'")
    return files


def make_dataset(data_dir: Path, split: str, batch_size: int, *, shuffle: bool = False,
                 repeat: bool = False, seed: int = 0, with_meta: bool = False,
                 drop_remainder: bool = False, shuffle_buffer: int = 4096, check: bool = True,
                 augment=None, deterministic: bool = False):
    """A batched, prefetched tf.data.Dataset over one split (files read in parallel).

    Without ``shuffle`` the records come in file order (for 'test': sequence, then frame order).
    ``augment``: an ``AugmentConfig`` applied to every batch (``pipeline.augment``; not with
    ``with_meta``), its randomness drawn from ``seed``. Shuffled reading is parallel and not in a
    fixed order unless ``deterministic`` (then the seed alone fixes the batches, in any process).
    """
    manifest = read_manifest(data_dir)
    where = str(Path(data_dir) / MANIFEST)
    # J (the skeleton's joints) comes from the manifest: its dataset, checked, or as recorded.
    num_joints = check_manifest(manifest, where=where).num_joints if check else _recorded_joints(manifest, where)
    files = split_files(data_dir, split)
    autotune = tf.data.AUTOTUNE
    if shuffle:
        ds = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), seed=seed)
        ds = ds.interleave(lambda f: tf.data.TFRecordDataset(f, compression_type="GZIP"),
                           cycle_length=min(4, len(files)), num_parallel_calls=autotune,
                           deterministic=deterministic)
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    else:
        ds = tf.data.TFRecordDataset(files, compression_type="GZIP")
    if repeat:
        ds = ds.repeat()

    augmenting = is_active(augment)
    if augmenting and with_meta:
        raise ValueError("augmentation is for training batches, not for records with metadata")

    def to_tuple(serialized):
        ex = parse_example(serialized, num_joints)
        image = ex.pop("image")
        joints = tf.reshape(ex["joints"], (-1,))
        if with_meta:
            return image, joints, ex
        if augmenting:
            return image, joints, ex["centre_xyz"], ex["cube_mm"]
        return image, joints

    ds = ds.map(to_tuple, num_parallel_calls=autotune, deterministic=deterministic or not shuffle)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder, num_parallel_calls=autotune)
    if augmenting:
        ds = augmented(ds, augment, seed)
    return ds.prefetch(autotune)


def _recorded_joints(manifest: dict, where: str) -> int:
    """J of the manifest's skeleton as recorded (no registry check: ``make_dataset(check=False)``)."""
    names = manifest.get("skeleton", {}).get("joint_names")
    if not names:
        raise SdnetError(f"{where}: records no skeleton (made by an older sdnet); re-run `sdnet data`")
    return len(names)


def augmented(ds, augment, seed: int):
    """Batches (image, joints, centre_xyz, cube_mm) -> augmented (image, joints), one stateless seed
    per batch drawn from ``seed`` (``pipeline.augment``)."""
    seeds = tf.data.Dataset.random(seed=seed).batch(2)
    return tf.data.Dataset.zip((ds, seeds)).map(
        lambda batch, s: augment_batch(*batch, augment, s), num_parallel_calls=tf.data.AUTOTUNE)
