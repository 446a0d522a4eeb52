"""``sdnet bench`` entry ``synth``: frames per second of the whole synth Beam job.

Figures (frames/s, medians over repeats, measured in one run):
  * synth_frames_per_s: the Beam job with the DirectRunner in multi_processing mode, one worker per
    core (pose generation, rendering, sensor model, PNG writing, label files), start-up included;
  * synth_single_process_frames_per_s: the same job in one process (in_memory, 1 worker);
  * synth_render_ms_per_frame: render + sensor + PNG encode of one frame, no Beam (median).
"""
from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from beam_jobs import synth_job
from pipeline.camera import ICVL_INTRINSICS
from pipeline.icvl import encode_depth_png
from pipeline.synth.frames import plan_sequences, render_frame, rng_for, sequence_frames
from pipeline.synth.sensor import SensorModel


def _job_rate(frames: int, running_mode: str, workers: int, repeats: int) -> float:
    specs = plan_sequences(frames, 0, 100)
    rates = []
    for r in range(repeats):
        root = Path(tempfile.mkdtemp(prefix="sdnet-bench-synth-"))
        try:
            ctx = synth_job.JobContext(root=str(root), intr=ICVL_INTRINSICS, sensor=SensorModel(), seed=r,
                                       scale_range=0.15, bone_noise=0.04)
            t0 = time.perf_counter()
            synth_job.run(ctx, sequences=specs, num_workers=workers, running_mode=running_mode)
            rates.append(frames / (time.perf_counter() - t0))
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return statistics.median(rates)


def _render_ms(frames: int) -> float:
    spec = plan_sequences(frames, 0, frames)[0]
    times = []
    for f in sequence_frames(spec, 0, ICVL_INTRINSICS, 0):
        t0 = time.perf_counter()
        encode_depth_png(render_frame(f.joints, f.shape, ICVL_INTRINSICS, SensorModel(),
                                      rng_for(0, *f.noise_key)))
        times.append(time.perf_counter() - t0)
    return 1000.0 * float(np.median(times))


def bench_synth(quick: bool = False) -> dict:
    """The synth figures; about 1-2 minutes on 2 cores (seconds with ``quick``). The Beam job's
    start-up (about 3-4 s for two worker processes) is included, as a user pays it."""
    cores = os.cpu_count() or 1
    repeats = 1 if quick else 3
    return {
        "synth_frames_per_s": round(_job_rate(120 if quick else 1200, "multi_processing", cores, repeats), 1),
        "synth_single_process_frames_per_s": round(_job_rate(60 if quick else 300, "in_memory", 1, repeats), 1),
        "synth_render_ms_per_frame": round(_render_ms(30 if quick else 100), 2),
        "synth_workers": cores,
    }
