"""Beam job: render a synthetic ICVL or NYU tree (``sdnet synth``, ``sdnet synth --dataset nyu``).

Steps: per-sequence pose generation -> reshuffle -> per-frame rendering (each worker writes its PNG
files) -> labels grouped per label file and written in frame order. The per-frame work is the pure
functions of ``pipeline.synth.frames`` (ICVL) or ``pipeline.synth.nyu_mode`` (NYU); the tree's
format (``JobContext.dataset``) picks the three steps (``STEPS``). Every frame's randomness comes
from its own seed key, so the runner and its parallelism cannot change a byte.
"""
from __future__ import annotations

import dataclasses
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import apache_beam as beam
import numpy as np
from apache_beam.options.pipeline_options import PipelineOptions
from tqdm import tqdm

from beam_jobs.common import is_direct, run_pipeline, runner_defaults, worker_logs_aside
from pipeline import nyu_format
from pipeline.camera import Intrinsics
from pipeline.fsutil import atomic_write_text
from pipeline.icvl import write_depth_png
from pipeline.synth.frames import (FrameSpec, SequenceSpec, frame_scene, label_line, render_frame, rng_for,
                                   sequence_frames)
from pipeline.synth.nyu_mode import nyu_label_uvd, nyu_sequence_frames, render_nyu_depth
from pipeline.synth.sensor import SensorModel


# Dask bag partitions at most (Beam's Reshuffle is a no-op on Dask: the partitions of the created
# sequences or frames are the units of parallel work).
MAX_PARTITIONS = 64

SCENE_PNG_LEVEL = 1  # zlib effort for the PNGs of scene frames


@dataclass(frozen=True)
class JobContext:
    """What every worker needs: the output root, the camera, the sensor, the generator knobs and the
    tree's format (``dataset``: a key of ``STEPS``)."""

    root: str
    intr: Intrinsics
    sensor: SensorModel
    seed: int
    scale_range: float
    bone_noise: float
    scene_sensor: SensorModel | None = None  # the sensor of scene frames; None: ``sensor``
    dataset: str = "icvl"
    back_fraction: float = 0.0  # plain sequences turned around (``frames.sequence_view``)
    scene_back_fraction: float = 0.5  # scene sequences turned around


def generate_sequence(item: tuple[SequenceSpec, int], ctx: JobContext) -> list[FrameSpec]:
    """(sequence, index of its first line in its label file) -> the sequence's frames."""
    spec, offset = item
    return sequence_frames(spec, ctx.seed, ctx.intr, offset, ctx.scale_range, ctx.bone_noise,
                           back_fraction=ctx.back_fraction, scene_back_fraction=ctx.scene_back_fraction)


def render_and_write(frame: FrameSpec, ctx: JobContext) -> tuple[str, tuple[int, str]]:
    """Render one frame (in its scene, if it has one), write its PNG in the camera's depth unit under
    the root; returns (label file, (order, label line))."""
    scene = frame_scene(frame, ctx.seed, ctx.intr)
    sensor = ctx.scene_sensor if scene is not None and ctx.scene_sensor is not None else ctx.sensor
    depth = render_frame(frame.joints, frame.shape, ctx.intr, sensor, rng_for(ctx.seed, *frame.noise_key), scene)
    path = Path(ctx.root) / frame.depth_dir / frame.rel_path
    path.parent.mkdir(parents=True, exist_ok=True)
    # Scene frames are depth almost everywhere: zlib level 1 encodes them 3-4x faster than the
    # default 6, for files about 10 % larger (plain frames keep level 6 and their bytes).
    write_depth_png(path, depth, compress_level=SCENE_PNG_LEVEL if frame.scene_key is not None else 6)
    return frame.label_file, (frame.order, label_line(frame, ctx.intr))


def write_label_file(item, ctx: JobContext) -> str:
    """(label file, [(order, line), ...]) -> the file written with its lines in frame order."""
    label_file, lines = item
    ordered = [line for _, line in sorted(lines)]
    atomic_write_text(Path(ctx.root) / label_file, "".join(line + "\n" for line in ordered))
    return label_file


def generate_nyu_sequence(item: tuple[SequenceSpec, int], ctx: JobContext) -> list[FrameSpec]:
    """(sequence of an NYU tree, its first label row) -> the sequence's frames."""
    spec, offset = item
    return nyu_sequence_frames(spec, ctx.seed, ctx.intr, offset, ctx.bone_noise)


def render_and_write_nyu(frame: FrameSpec, ctx: JobContext) -> tuple[str, tuple[int, np.ndarray]]:
    """Render one frame of an NYU tree (every one a scene) and write its PNG (NYU's RGB encoding,
    camera 1); returns (label file, (label row, its 36 joints uvd (36, 3)))."""
    sensor = ctx.scene_sensor or ctx.sensor
    folder = Path(ctx.root) / frame.depth_dir
    folder.mkdir(parents=True, exist_ok=True)
    nyu_format.write_depth_frame(folder, frame.order + 1, render_nyu_depth(frame, ctx.seed, ctx.intr, sensor),
                                 ctx.intr, compress_level=SCENE_PNG_LEVEL)
    return frame.label_file, (frame.order, nyu_label_uvd(frame, ctx.intr))


def write_nyu_label_file(item, ctx: JobContext) -> str:
    """(a split's joint_data.mat, [(row, uvd (36, 3)), ...]) -> the file written, rows in order."""
    label_file, rows = item
    rows = sorted(rows, key=lambda r: r[0])
    if [r for r, _ in rows] != list(range(len(rows))):
        raise ValueError(f"{label_file}: label rows are not 0..{len(rows) - 1}")
    nyu_format.write_split_labels((Path(ctx.root) / label_file).parent, np.stack([uvd for _, uvd in rows]), ctx.intr)
    return label_file


# Per tree format: (a sequence's frames, render and write a frame, write a label file).
STEPS = {"icvl": (generate_sequence, render_and_write, write_label_file),
         "nyu": (generate_nyu_sequence, render_and_write_nyu, write_nyu_label_file)}


def pipeline_options(beam_args: list[str], num_workers: int, running_mode: str, partitions: int = 1):
    """PipelineOptions: on the DirectRunner (no --runner, or a DirectRunner spelling) with
    ``num_workers`` workers in ``running_mode``; on Dask with ``partitions`` bag partitions
    (``beam_jobs.common.runner_defaults``); ``beam_args`` (any Beam option) come last and win."""
    args = ["--default_sdk_harness_log_level=WARNING"]
    if is_direct(beam_args):
        args = [f"--direct_num_workers={num_workers}", f"--direct_running_mode={running_mode}", *args]
    return PipelineOptions([*args, *runner_defaults(beam_args, partitions), *beam_args])


def run(ctx: JobContext, sequences: list[SequenceSpec] | None = None,
        frames: list[FrameSpec] | None = None, *, beam_args: list[str] = (),
        num_workers: int | None = None, running_mode: str = "multi_processing",
        progress_total: int | None = None) -> None:
    """Run the job: ``sequences`` to generate, or ready ``frames`` (labelled poses), into ctx.root.

    ``num_workers`` (DirectRunner) defaults to the machine's cores. A progress bar counts the PNG
    files that appear under the root (it works whatever process writes them) when ``progress_total``
    is set. The root reaches the workers as an absolute path (they may run elsewhere: on several
    machines it must be on storage they all see at that path).
    """
    if num_workers is None:
        num_workers = 1 if running_mode == "in_memory" else (os.cpu_count() or 1)
    ctx = dataclasses.replace(ctx, root=os.path.abspath(ctx.root))
    items = len(sequences) if sequences is not None else len(frames or ())
    stop = threading.Event()
    watcher = None
    with worker_logs_aside() as console:
        options = pipeline_options(list(beam_args), num_workers, running_mode, min(items, MAX_PARTITIONS))
        if progress_total:
            watcher = threading.Thread(target=_progress, args=(Path(ctx.root), progress_total, stop, console),
                                       daemon=True)
            watcher.start()
        try:
            run_pipeline(options, lambda p: _build(p, ctx, sequences, frames))
        finally:
            stop.set()
            if watcher is not None:
                watcher.join()


def _build(p, ctx: JobContext, sequences, frames) -> None:
    generate, render, write_labels = STEPS[ctx.dataset]
    if sequences is not None:
        items = _with_offsets(sequences)
        frame_pc = (p
                    | "CreateSequences" >> beam.Create(items)
                    | "GenerateSequencePoses" >> beam.FlatMap(generate, ctx))
    else:
        frame_pc = p | "CreateLabelledFrames" >> beam.Create(frames)
    _ = (frame_pc
         | "SpreadFrames" >> beam.Reshuffle()
         | "RenderAndWritePng" >> beam.Map(render, ctx)
         | "GroupByLabelFile" >> beam.GroupByKey()
         | "WriteLabelFiles" >> beam.Map(write_labels, ctx))


def _with_offsets(sequences: list[SequenceSpec]) -> list[tuple[SequenceSpec, int]]:
    """Each sequence with the line index of its first frame within its label file."""
    seen: dict[str, int] = {}
    out = []
    for spec in sequences:
        offset = seen.get(spec.label_file, 0)
        out.append((spec, offset))
        seen[spec.label_file] = offset + spec.frames
    return out


def count_pngs(root: Path) -> int:
    """Number of .png files under ``root``."""
    n = 0
    for _, _, files in os.walk(root):
        n += sum(1 for f in files if f.endswith(".png"))
    return n


def _progress(root: Path, total: int, stop: threading.Event, stream) -> None:
    with tqdm(total=total, unit="frame", desc="sdnet synth", mininterval=1.0, file=stream) as bar:
        while True:
            done = stop.wait(1.0)
            n = count_pngs(root)
            bar.update(n - bar.n)
            if done:
                break
