"""Inference benchmark: the ``cpu``- and ``dense``-preset CNNs alone, and ``sdnet predict``'s path end to end.

Figures (medians over repeats, after warm-up; untrained weights, which do not change the speed):

  infer_ms_batch1               ms for one forward pass of one 128x128 crop (a tf.function)
  infer_ms_batch1_eager         the same, calling the Keras model directly (eager dispatch)
  infer_images_per_s_batched    crops/s in batches of 64 (tf.function)
  infer_ms_batch1_dense, infer_images_per_s_batched_dense   the same two for the ``dense`` preset
  predict_ms_per_frame          ms per frame through ``pipeline.predict.predict_chunk`` (PNG read and
                                decode, hand centre, crop, CNN in one batch, mapping to uvd; no
                                refinement) on synthetic 320x240 frames
  predict_{read,crop,cnn}_ms_per_frame   the same split by stage

The machine is shared with other jobs: read the figures as rough, and compare ratios within a run.
"""
from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from models.sdnet import build_model, preset, with_input_size
from pipeline.camera import ICVL_INTRINSICS
from pipeline.config import CentreConfig
from pipeline.datasets import ICVL
from pipeline.frame_sources import collect_frames
from pipeline.icvl import write_depth_png
from pipeline.predictor import Predictor, predict_chunk
from pipeline.synth.preview import synthetic_preview_frames
from pipeline.synth.sensor import SensorModel

CROP = 128
BATCH = 64


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times)


def _write_frames(folder: Path, n: int) -> None:
    folder.mkdir(parents=True)
    for i, (depth, _, _) in enumerate(synthetic_preview_frames(7, n, ICVL_INTRINSICS, SensorModel())):
        write_depth_png(folder / f"image_{i:04d}.png", depth)


def _compiled_forward(model, *warm_up):
    """``model``'s inference as a tf.function on (B, CROP, CROP, 1) float32, warmed up on each of
    ``warm_up`` (tracing, oneDNN kernel selection, allocator) before it is timed."""
    forward = tf.function(lambda x: model(x, training=False),
                          input_signature=[tf.TensorSpec((None, CROP, CROP, 1), tf.float32)])
    for x in warm_up:
        for _ in range(3):
            forward(x).numpy()
    return forward


def bench_infer(quick: bool = False) -> dict:
    keras.utils.set_random_seed(0)
    model = build_model(with_input_size(preset("cpu"), CROP), ICVL.num_joints)  # benched on ICVL frames
    # Untrained output layers put joints anywhere (even behind the camera, which predict rejects);
    # shrinking the last layer keeps them near the hand, as a trained net does. Speed is unchanged.
    kernel, bias = model.get_layer("joints").get_weights()
    model.get_layer("joints").set_weights([kernel * 0.05, bias])
    rng = np.random.default_rng(0)
    x1 = tf.constant(rng.uniform(-1, 1, (1, CROP, CROP, 1)).astype(np.float32))
    xb = tf.constant(rng.uniform(-1, 1, (BATCH, CROP, CROP, 1)).astype(np.float32))
    forward = _compiled_forward(model, x1, xb)
    for _ in range(3):  # the eager path's warm-up
        model(x1, training=False).numpy()
    n1, nb = (30, 3) if quick else (200, 10)
    out = {
        "infer_ms_batch1": _median_ms(lambda: forward(x1).numpy(), n1),
        "infer_ms_batch1_eager": _median_ms(lambda: model(x1, training=False).numpy(), n1),
        "infer_images_per_s_batched": BATCH / (_median_ms(lambda: forward(xb).numpy(), nb) / 1000.0),
    }
    dense = _compiled_forward(build_model(with_input_size(preset("dense"), CROP), ICVL.num_joints), x1, xb)
    out["infer_ms_batch1_dense"] = _median_ms(lambda: dense(x1).numpy(), n1)
    out["infer_images_per_s_batched_dense"] = BATCH / (_median_ms(lambda: dense(xb).numpy(), nb) / 1000.0)

    frames = 8 if quick else 24
    work = Path(tempfile.mkdtemp(prefix="sdnet-bench-infer-"))
    try:
        _write_frames(work / "seq", frames)
        refs = collect_frames(work / "seq")[1]
        pred = Predictor(model=model, crop_size=CROP, cube_mm=250.0, centre=CentreConfig(),
                         intrinsics=ICVL_INTRINSICS, dataset=ICVL)
        predict_chunk(pred, refs[:2])  # warm-up
        runs = []
        for _ in range(1 if quick else 3):
            timing = {}
            t0 = time.perf_counter()
            results = predict_chunk(pred, refs, BATCH, timing)
            runs.append(((time.perf_counter() - t0), timing, sum(r.status == "ok" for r in results)))
        total, timing, ok = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
        out["predict_ms_per_frame"] = 1000.0 * total / len(refs)
        for stage in ("read", "crop", "cnn"):
            out[f"predict_{stage}_ms_per_frame"] = 1000.0 * timing.get(stage, 0.0) / max(1, ok)
        out["predict_frames_with_hand"] = f"{ok}/{len(refs)}"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in out.items()}
