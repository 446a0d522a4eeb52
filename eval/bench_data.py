"""Data-stage benchmark: the Beam job against the same per-frame functions in a plain loop, and the
tf.data reader. Figures (frames or examples per second, medians over repeats, one run):

  data_frames_per_s                 source frames/s through the whole Beam job (rotations on)
  data_single_process_frames_per_s  the same per-frame work (decode, centre, K crops, encode) in a loop
  data_beam_speedup                 the ratio of the two
  input_examples_per_s              training examples/s out of ``make_dataset`` (shuffle, batch 32)
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from eval.bench import median_rate

ROTATIONS = 4


def _synth_tree(root: Path, frames: int) -> None:
    from pipeline.cli import main

    code = main(["synth", "--out", str(root), "--train-frames", str(frames), "--test-frames", "20",
                 "--sequence-length", "100", "--no-progress", "--overwrite"])
    if code:
        raise RuntimeError("bench: sdnet synth failed")


def bench_data(quick: bool = False) -> dict:
    from pipeline.build_data import convert_tree
    from pipeline.camera import ICVL_INTRINSICS
    from pipeline.config import DataConfig
    from pipeline.convert import convert_frame, plan_frames
    from pipeline.input import make_dataset
    from pipeline.schema import encode_example

    # The job has a few seconds of fixed cost (worker start-up, stage barriers): a 6000-frame job
    # (a quarter of `make data`) shows the rate that matters for real datasets.
    frames = 240 if quick else 6000
    repeats = 1 if quick else 2
    cfg = DataConfig(crop_size=128, rotations=ROTATIONS)
    work = Path(tempfile.mkdtemp(prefix="sdnet-bench-data-"))
    try:
        tree = work / "icvl"
        _synth_tree(tree, frames)
        plan = plan_frames(tree, cfg)
        sample = plan.frames[: min(len(plan.frames), 100 if quick else 300)]

        def loop() -> int:
            for item in sample:
                records, _ = convert_frame(Path(item.image).read_bytes(), item, cfg, ICVL_INTRINSICS)
                for rec in records:
                    encode_example(rec)
            return len(sample)

        def job() -> int:
            out = work / "data"
            convert_tree(tree, out, cfg, ICVL_INTRINSICS, [], overwrite=True, progress=False)
            return len(plan.frames)

        single = median_rate(loop, repeats)
        beam = median_rate(job, repeats)
        ds = make_dataset(work / "data", "train", 32, shuffle=True, repeat=True)
        it = iter(ds)
        next(it)

        def read() -> int:
            n = 0
            t_end = time.perf_counter() + (2.0 if quick else 5.0)
            while time.perf_counter() < t_end:
                n += int(next(it)[0].shape[0])
            return n

        reader = median_rate(read, repeats)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "data_frames_per_s": round(beam, 1),
        "data_single_process_frames_per_s": round(single, 1),
        "data_bench_frames": len(plan.frames),
        "data_beam_speedup": round(beam / single, 2),
        "data_rotations": ROTATIONS,
        "data_workers": os.cpu_count(),
        "input_examples_per_s": round(reader, 1),
    }
