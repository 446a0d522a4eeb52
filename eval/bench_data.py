"""Data-stage benchmark: the Beam job against the same work in a plain loop, on a Dask cluster, and
the tf.data reader. Figures (frames or examples per second, medians over repeats, one run):

  data_frames_per_s                 source frames/s through the whole Beam job (DirectRunner,
                                    multi-processing, one worker per core; rotations on)
  data_single_process_frames_per_s  the job's shard conversion (decode, centre, K crops, encode, GZIP
                                    write) in a loop in this process, on a sample of the frames
  data_beam_speedup                 the ratio of the two
  data_dask_frames_per_s            the same Beam job on a local Dask cluster (a scheduler and
                                    ``data_dask_workers`` single-threaded worker processes, started
                                    with the ``dask`` command; its start-up not counted)
  data_dask_vs_direct               data_dask_frames_per_s / data_frames_per_s (on one 2-core
                                    machine expect no speed-up: the figure is for real clusters)
  data_dask_cluster_start_s         seconds until the cluster's workers had joined
  input_examples_per_s              training examples/s out of ``make_dataset`` (shuffle, batch 32)
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from beam_jobs.data_job import convert_in_process
from eval.bench import median_rate
from pipeline.build_data import convert_tree
from pipeline.build_synth import BeamOptions, build_synth_tree, synth_config
from pipeline.camera import ICVL_INTRINSICS
from pipeline.config import DataConfig
from pipeline.convert import plan_frames
from pipeline.dask_cluster import local_cluster
from pipeline.input import make_dataset

ROTATIONS = 4
DASK_WORKERS = 2


def _synth_tree(root: Path, frames: int) -> None:
    """The tree of ``sdnet synth --train-frames FRAMES --test-frames 20 --sequence-length 100``."""
    build_synth_tree(root, synth_config(train_frames=frames, test_frames=20, sequence_length=100),
                     BeamOptions(progress=False), overwrite=True)


def bench_data(quick: bool = False) -> dict:
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

        def loop() -> int:  # the loop the equivalence tests check against the runners
            out = work / "loop"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            convert_in_process(sample, cfg, ICVL_INTRINSICS, str(out), {"train": 1})
            return len(sample)

        def job(beam_args: list[str]) -> int:
            out = work / "data"
            convert_tree(tree, out, cfg, ICVL_INTRINSICS, beam_args, overwrite=True, progress=False)
            return len(plan.frames)

        single = median_rate(loop, repeats)
        beam = median_rate(lambda: job([]), repeats)
        t0 = time.perf_counter()
        with local_cluster(workers=DASK_WORKERS, threads=1, timeout=180) as address:
            started = time.perf_counter() - t0
            dask = median_rate(lambda: job(["--runner=DaskRunner", f"--dask_client_address={address}"]),
                               repeats)
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
        "data_dask_frames_per_s": round(dask, 1),
        "data_dask_vs_direct": round(dask / beam, 2),
        "data_dask_workers": DASK_WORKERS,
        "data_dask_cluster_start_s": round(started, 1),
        "input_examples_per_s": round(reader, 1),
    }
