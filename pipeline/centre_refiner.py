"""Train, store and apply the learned hand-centre refinement (``models.centre``) of a run.

Training data: the training split of ``sdnet data``'s records, each crop re-cut online around a
centre moved by a Gaussian shift (``AugmentConfig.shift_mm`` per axis, exact: ``pipeline.augment``)
plus rotation and scale, so the network sees centres that missed the hand by tens of mm. Target:
``palm - mu`` (B, 3), where palm is the record's normalized palm joint (units of cube/2, relative to
the crop centre) and ``mu`` its mean over the un-augmented training records: the move that puts the
hand where the rule's training crops held it on average. (The palm, not the mean of all joints: the
latter moves with the fingers' pose, 44 mm around the rule's centre on the default test frames
against 14 mm for the palm.) The validation split measures the centre error (mm) with and without
the network under the same shifts.

Files in the run directory: ``centre.keras`` (the network) and ``centre.json`` (mu, the training
settings and the validation figures).
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from models.centre import build_centre_model
from pipeline.config import AugmentConfig
from pipeline.errors import SdnetError
from pipeline.fsutil import write_json
from pipeline.input import check_manifest, make_dataset, read_manifest
from pipeline.rundir import RunDir, check_data_for_run

# Centre misses the refiner is trained on: a Gaussian shift of this std per axis (mm), any in-plane
# angle, +-10% scale, a few missing pixels.
TRAIN_AUGMENT = AugmentConfig(rotation_deg=180.0, scale=0.1, shift_mm=25.0, pixel_dropout=0.05)
# Moves shorter than this (mm) are not applied: the rule's centre is then as good as the network's
# (default tree, validation sequences, every other frame: pose error 14.31 / 16.31 mm on plain /
# scene frames without the refiner, 14.42 / 15.86 applying every move, 14.30 / 14.97 with this gate;
# gates of 10 and 20 mm in between).
MIN_MOVE_MM = 30.0


def palm_offset(joints, root: int):
    """Joints (B, 3J) normalized -> the skeleton's root joint ``root`` (the palm; B, 3), units of
    cube/2 (tf or numpy)."""
    return tf.reshape(joints, (tf.shape(joints)[0], -1, 3))[:, root]


def training_mu(data_dir: Path, root: int, batches: int = 40, batch_size: int = 256) -> np.ndarray:
    """mu (3,): the mean normalized root joint ``root`` (the palm) of the un-augmented training records
    (cube/2)."""
    total, n = np.zeros(3), 0
    for _, joints in make_dataset(data_dir, "train", batch_size).take(batches):
        total += palm_offset(joints, root).numpy().sum(axis=0)
        n += int(joints.shape[0])
    if n == 0:
        raise SdnetError(f"{data_dir}: no training records for the centre refiner")
    return total / n


def _pairs(data_dir: Path, split: str, batch_size: int, mu: np.ndarray, seed: int, repeat: bool, root: int):
    """(crop, target move) batches with the centre misses of ``TRAIN_AUGMENT``."""
    mu_t = tf.constant(mu, tf.float32)
    ds = make_dataset(data_dir, split, batch_size, shuffle=repeat, repeat=repeat, seed=seed,
                      drop_remainder=repeat, augment=TRAIN_AUGMENT)
    return ds.map(lambda image, joints: (image, palm_offset(joints, root) - mu_t))


def train_centre_refiner(data_dir: Path, run_dir: Path, steps: int, batch_size: int, seed: int,
                         progress: bool = True) -> dict:
    """Fit the centre refiner on ``data_dir``'s training split, write RUN/centre.keras and
    RUN/centre.json, and return the latter's content."""
    if steps < 1:
        raise SdnetError(f"--steps must be >= 1, got {steps}")
    if batch_size < 1:
        raise SdnetError(f"--batch-size must be >= 1, got {batch_size}")
    manifest = read_manifest(data_dir)
    check_data_for_run(run_dir, manifest, data_dir)
    root = check_manifest(manifest, where=str(data_dir)).skeleton.root
    crop, cube = int(manifest["crop_size"]), float(manifest["cube_mm"])
    t0 = time.time()
    keras.utils.set_random_seed(seed)
    mu = training_mu(data_dir, root)
    model = build_centre_model(crop)
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, steps, alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=keras.losses.Huber(delta=0.2))
    train = _pairs(data_dir, "train", batch_size, mu, seed, repeat=True, root=root)
    # a live bar on a terminal, one summary line in a log
    model.fit(train, steps_per_epoch=steps, epochs=1, shuffle=False,  # the tf.data pipeline shuffles
              verbose=(1 if sys.stdout.isatty() else 2) if progress else 0)
    val_split = "val" if manifest.get("counts", {}).get("val") else "train"
    before, after = [], []
    for image, target in _pairs(data_dir, val_split, 256, mu, seed + 1, repeat=False, root=root).take(8):
        move = model(image, training=False)
        before.append(tf.norm(target, axis=1).numpy())
        after.append(tf.norm(target - move, axis=1).numpy())
    half = cube / 2.0
    doc = {
        "mu": [float(m) for m in mu],
        "units": "mu and the network's output: cube/2, camera axes (x right, y down, z away)",
        "crop_size": crop, "cube_mm": cube, "steps": steps, "batch_size": batch_size, "seed": seed,
        "augment": {"rotation_deg": TRAIN_AUGMENT.rotation_deg, "scale": TRAIN_AUGMENT.scale,
                    "shift_mm": TRAIN_AUGMENT.shift_mm, "pixel_dropout": TRAIN_AUGMENT.pixel_dropout},
        "validation": {"split": val_split,
                       "centre_error_mm_before": float(np.mean(np.concatenate(before)) * half),
                       "centre_error_mm_after": float(np.mean(np.concatenate(after)) * half)},
        "seconds": round(time.time() - t0, 1),
    }
    run = RunDir(run_dir)
    run.path.mkdir(parents=True, exist_ok=True)
    tmp = run.path / f".{run.centre_model.name}.tmp.keras"
    model.save(tmp)
    tmp.replace(run.centre_model)
    write_json(run.centre, doc)
    if progress:
        v = doc["validation"]
        print(f"centre refiner: {val_split} centre error {v['centre_error_mm_before']:.1f} mm -> "
              f"{v['centre_error_mm_after']:.1f} mm under shifts of {TRAIN_AUGMENT.shift_mm:g} mm "
              f"per axis ({doc['seconds']:.0f} s)", file=sys.stderr)
    return doc


class CentreRefiner:
    """A loaded refiner: ``move(crops)`` (N, S, S) -> (N, 3) centre moves in cube/2 units, zero for
    moves shorter than ``MIN_MOVE_MM``."""

    def __init__(self, model, doc: dict):
        self.model, self.doc = model, doc
        self.min_move = MIN_MOVE_MM / (float(doc["cube_mm"]) / 2.0)  # cube/2 units
        spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)
        self._fn = tf.function(lambda x: model(x, training=False), input_signature=[spec])

    def move(self, crops: np.ndarray) -> np.ndarray:
        moves = self._fn(np.asarray(crops, np.float32)[..., None]).numpy().astype(np.float64)
        return moves * (np.linalg.norm(moves, axis=1) > self.min_move)[:, None]


def load_centre_refiner(run_dir: Path) -> CentreRefiner | None:
    """The run's refiner, or None when it has none; SdnetError when its files are broken."""
    path, meta = RunDir(run_dir).centre_model, RunDir(run_dir).centre
    if not path.is_file():
        return None
    try:
        doc = json.loads(meta.read_text())
        model = keras.models.load_model(path, compile=False)
    except Exception as e:  # noqa: BLE001 - any failure is a corrupt run for the user
        raise SdnetError(f"{path}: cannot load the centre refiner ({type(e).__name__}: {e})") from None
    if not all(math.isfinite(m) for m in doc.get("mu", [math.nan])) or not doc.get("cube_mm", 0) > 0:
        raise SdnetError(f"{meta}: no valid mu and cube_mm")
    return CentreRefiner(model, doc)
