"""Where a run's batches come from (``DataSource``: a ``sdnet data`` directory or in-memory arrays),
and the run's validation error in mm.

Joints are normalized as in ``pipeline.input``: (xyz - centre) / (cube_mm / 2), camera axes; errors
are reported in mm with each record's cube.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import numpy as np
import tensorflow as tf

from pipeline.augment import is_active
from pipeline.config import TrainConfig
from pipeline.errors import SdnetError
from pipeline.input import MANIFEST, augmented, check_manifest, make_dataset, read_manifest


@dataclasses.dataclass(frozen=True)
class DataSource:
    """Where a run's batches come from.

    train(batch_size, seed, augment=None, deterministic=False): endless shuffled batches (image
      (B, S, S, 1), joints (B, 3J)), augmented online with an ``AugmentConfig`` when one is given;
      with ``deterministic`` the same seed gives the same batches in every process (multi-worker
      training shards each global batch across the workers, so they must all see the same one).
    val(batch_size): one pass over the validation split, same structure.
    val_meta(batch_size): the same pass with a third element, a dict holding at least ``cube_mm`` (B,)
      [mm]; None when unavailable (the manifest's cube is then used).
    """

    manifest: dict
    num_train: int
    num_val: int
    train: Callable
    val: Callable
    val_meta: Callable | None = None
    data_dir: str = ""


def data_from_dir(data_dir: Path) -> DataSource:
    """A DataSource over ``sdnet data`` output; SdnetError when the manifest is missing or unusable."""

    manifest = read_manifest(data_dir)
    check_manifest(manifest, where=str(Path(data_dir) / MANIFEST))
    counts = manifest.get("counts", {})
    return DataSource(
        manifest=manifest, num_train=int(counts.get("train", 0)), num_val=int(counts.get("val", 0)),
        train=lambda b, seed, augment=None, deterministic=False: make_dataset(
            data_dir, "train", b, shuffle=True, repeat=True, seed=seed, drop_remainder=True, check=False,
            augment=augment, deterministic=deterministic),
        val=lambda b: make_dataset(data_dir, "val", b, check=False),
        val_meta=lambda b: make_dataset(data_dir, "val", b, with_meta=True, check=False),
        data_dir=str(data_dir))


def data_from_arrays(manifest: dict, train_images: np.ndarray, train_joints: np.ndarray,
                     val_images: np.ndarray, val_joints: np.ndarray, shuffle: bool = True,
                     train_centres: np.ndarray | None = None) -> DataSource:
    """A DataSource over in-memory arrays (tests, notebooks): images (N, S, S, 1) in [-1, 1], joints
    (N, 3J) normalized; the validation cube is the manifest's. ``train_centres`` (N, 3) [mm], camera
    xyz of each crop's hand centre, is needed for augmentation.

    ``shuffle=False`` keeps the array order: a distributed run then sees exactly the batches of a
    one-device run (a shuffled dataset is re-seeded when tf.distribute rebuilds it for its replicas).
    """

    def train(b, seed, augment=None, deterministic=False):  # (always deterministic)
        arrays = (train_images.astype("float32"), train_joints.astype("float32"))
        if is_active(augment):
            if train_centres is None:
                raise SdnetError("augmentation needs the training crops' hand centres (train_centres)")
            cube = np.full(len(train_images), float(manifest["cube_mm"]), "float32")
            arrays = (*arrays, np.asarray(train_centres, "float32"), cube)
        ds = tf.data.Dataset.from_tensor_slices(arrays)
        if shuffle:
            ds = ds.shuffle(len(train_images), seed=seed)
        ds = ds.repeat().batch(b, drop_remainder=True)
        return augmented(ds, augment, seed) if is_active(augment) else ds

    def val(b):
        return tf.data.Dataset.from_tensor_slices((val_images.astype("float32"), val_joints.astype("float32"))).batch(b)

    return DataSource(manifest=manifest, num_train=len(train_images), num_val=len(val_images), train=train,
                      val=val)


def with_deterministic_input(data: DataSource) -> DataSource:
    """``data`` whose training batches depend only on the seed (see DataSource.train)."""
    base = data.train
    return dataclasses.replace(data, train=lambda b, seed, augment=None, deterministic=True:
                               base(b, seed, augment, deterministic=True))


def training_poses(data: DataSource, cfg: TrainConfig, n: int = 8192) -> np.ndarray:
    """About ``n`` training poses (N, 3J), normalized, as training sees them (augmented)."""
    batches = max(1, n // cfg.batch_size)
    ds = data.train(cfg.batch_size, cfg.seed, cfg.augment).take(batches)
    return np.concatenate([joints.numpy() for _, joints in ds])


def validation_error_mm(model, data: DataSource, cfg: TrainConfig) -> dict:
    """Mean and per-joint validation error [mm], de-normalized with each record's cube (or the
    manifest's when the source has no metadata)."""
    ds = data.val_meta(cfg.batch_size) if data.val_meta is not None else data.val(cfg.batch_size)
    errs = []
    for batch in ds:
        image, joints = batch[0], batch[1]
        pred = model(image, training=False).numpy()  # (B, 3J)
        cube = batch[2]["cube_mm"].numpy() if len(batch) > 2 else np.full(len(pred), cfg.data.cube_mm)
        d = (pred - joints.numpy()).reshape(len(pred), -1, 3)  # (B, J, 3)
        errs.append(np.linalg.norm(d, axis=-1) * cube[:, None] / 2.0)  # (B, J) mm
    if not errs:
        raise SdnetError("the validation split is empty")
    e = np.concatenate(errs)  # (N, J)
    return {"mean_error_mm": float(e.mean()), "per_joint_mm": [float(v) for v in e.mean(axis=0)],
            "frames": int(len(e))}
