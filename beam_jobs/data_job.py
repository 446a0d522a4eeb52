"""Beam job: ICVL tree -> augmented, sharded, compressed TFRecords + manifest.json + rejected.jsonl.

Thin by design: the per-frame work is ``pipeline.convert.convert_frame`` (pure, tested without Beam).
The driver groups the frames into shard tasks (``plan_shards``: a split's frames spread over its
shards by a hash of the path, each shard in (sequence, frame) order; 'test' is one shard, so its
file is in sequence and frame order). Steps (unique labels): CreateShards -> Reshuffle ->
ConvertShards (each task converts its frames and writes its own GZIP TFRecord file; it emits
per-split stats and the rejected frames) -> counts and rejections written as text for the driver.
Records never travel through the runner, only the small frame descriptions do; a retried task
rewrites the same file.

Runs on the DirectRunner in multi-processing mode by default (one worker per core); any standard Beam
pipeline option passes through (``--runner``, ``--project``, ``--temp_location``, ``--setup_file``...).
Workers do not import TensorFlow (``pipeline.schema.encode_example`` writes the protocol buffer).
"""
from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.camera import Intrinsics
from pipeline.config import DataConfig
from pipeline.convert import FrameItem, convert_frame

RECORDS_PER_SHARD = 2000
TFRECORD_SUFFIX = ".tfrecord.gz"


@dataclass(frozen=True)
class ShardTask:
    """Frames to convert into one file ``<split>-<index>-of-<count>.tfrecord.gz``."""

    split: str
    index: int
    count: int
    frames: tuple[FrameItem, ...]

    @property
    def file_name(self) -> str:
        return f"{self.split}-{self.index:05d}-of-{self.count:05d}{TFRECORD_SUFFIX}"


def plan_shards(frames: list[FrameItem], shards: dict[str, int]) -> list[ShardTask]:
    """Group frames into shard tasks: ``shards[split]`` shards per split (1 when absent), frames
    assigned by a hash of their path (mixing sequences), each shard sorted by (sequence, frame)."""
    groups: dict[tuple[str, int], list[FrameItem]] = {}
    for f in frames:
        n = max(1, shards.get(f.split, 1))
        slot = int(hashlib.sha1(f.rel_path.encode()).hexdigest()[:8], 16) % n if n > 1 else 0
        groups.setdefault((f.split, slot), []).append(f)
    tasks = []
    for split in sorted({k[0] for k in groups}):
        slots = sorted(k[1] for k in groups if k[0] == split)
        for i, slot in enumerate(slots):
            items = sorted(groups[(split, slot)], key=lambda f: (f.sequence, f.frame, f.rel_path))
            tasks.append(ShardTask(split, i, len(slots), tuple(items)))
    return tasks


class ConvertShardFn(beam.DoFn):
    """ShardTask -> its TFRecord file; outputs ('stats': (split, (frames, records, bytes))) per
    task and ('rejected': dict) per rejected frame."""

    def __init__(self, cfg: DataConfig, intr: Intrinsics, out_dir: str, progress_dir: str | None = None):
        self.cfg, self.intr, self.out_dir, self.progress_dir = cfg, intr, out_dir, progress_dir

    def setup(self):
        self._done = 0
        self._progress = None
        if self.progress_dir:
            path = os.path.join(self.progress_dir, f"{os.getpid()}-{uuid.uuid4().hex}")
            self._progress = open(path, "w")

    def process(self, task: ShardTask):
        from pipeline.schema import encode_example

        frames = records = size = 0
        path = FileSystems.join(self.out_dir, task.file_name)
        with FileSystems.create(path, compression_type=CompressionTypes.GZIP) as out:
            for item in task.frames:
                recs, reason = convert_frame(_read(item.image), item, self.cfg, self.intr)
                self._tick()
                if reason:
                    yield beam.pvalue.TaggedOutput("rejected", {
                        "path": item.image, "split": item.split, "label_file": item.label_file,
                        "line": item.line, "reason": reason})
                    continue
                for rec in recs:
                    data = encode_example(rec)
                    out.write(tfrecord_frame(data))
                    size += len(data)
                frames, records = frames + 1, records + len(recs)
        yield beam.pvalue.TaggedOutput("stats", (task.split, (frames, records, size)))

    def _tick(self):
        self._done += 1
        if self._progress and self._done % 20 == 0:
            self._progress.seek(0)
            self._progress.write(str(self._done))
            self._progress.flush()

    def teardown(self):
        if self._progress:
            self._progress.seek(0)
            self._progress.write(str(self._done))
            self._progress.close()


def _read(path: str) -> bytes | None:
    """The file's bytes through Beam's filesystems (local, gs://, ...), None when unreadable."""
    try:
        with FileSystems.open(path) as f:
            return f.read()
    except Exception:  # noqa: BLE001 - any filesystem's "not found" becomes a rejection
        return None


def _masked_crc32c(data: bytes) -> int:
    import crcmod.predefined  # a dependency of apache-beam[tfrecord]

    global _CRC32C
    if _CRC32C is None:
        _CRC32C = crcmod.predefined.mkPredefinedCrcFun("crc-32c")
    crc = _CRC32C(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


_CRC32C = None


def tfrecord_frame(data: bytes) -> bytes:
    """One TFRecord: length (uint64 LE), masked CRC-32C of the length, data, masked CRC-32C of data."""
    import struct

    length = struct.pack("<Q", len(data))
    return (length + struct.pack("<I", _masked_crc32c(length)) + data
            + struct.pack("<I", _masked_crc32c(data)))


def _sum_stats(values):
    frames = records = size = 0
    for f, r, b in values:
        frames, records, size = frames + f, records + r, size + b
    return frames, records, size


def default_options(beam_args: list[str]) -> PipelineOptions:
    """Pipeline options from ``beam_args``; without a runner, the DirectRunner in multi-processing
    mode with one worker per core."""
    args = list(beam_args)
    if not any(a.startswith("--default_sdk_harness_log_level") for a in args):
        args += ["--default_sdk_harness_log_level=WARNING"]
    if not any(a.startswith("--runner") for a in args):
        args += ["--runner=DirectRunner"]
        if not any(a.startswith("--direct_running_mode") for a in args):
            args += ["--direct_running_mode=multi_processing"]
        if not any(a.startswith("--direct_num_workers") for a in args):
            args += [f"--direct_num_workers={os.cpu_count() or 1}"]
    return PipelineOptions(args)


def build(p: beam.Pipeline, tasks: list[ShardTask], cfg: DataConfig, intr: Intrinsics,
          out_dir: str, progress_dir: str | None = None) -> None:
    """Add the conversion steps to ``p``; outputs go under ``out_dir``."""
    results = (
        p
        | "CreateShards" >> beam.Create(tasks, reshuffle=False)
        | "Reshuffle" >> beam.Reshuffle()
        | "ConvertShards" >> beam.ParDo(ConvertShardFn(cfg, intr, out_dir, progress_dir)).with_outputs(
            "rejected", "stats")
    )
    (results.stats
     | "SumStatsPerSplit" >> beam.CombinePerKey(_sum_stats)
     | "FormatStats" >> beam.Map(lambda kv: json.dumps(
         {"split": kv[0], "frames": kv[1][0], "records": kv[1][1], "bytes": kv[1][2]}))
     | "WriteStats" >> beam.io.WriteToText(os.path.join(out_dir, "_stats"),
                                           file_name_suffix=".jsonl", shard_name_template=""))
    (results.rejected
     | "FormatRejected" >> beam.Map(json.dumps)
     | "WriteRejected" >> beam.io.WriteToText(os.path.join(out_dir, "_rejected"),
                                              file_name_suffix=".jsonl", shard_name_template=""))


def run(frames: list[FrameItem], cfg: DataConfig, intr: Intrinsics, out_dir: Path,
        shards: dict[str, int], beam_args: list[str], progress_dir: str | None = None) -> None:
    """Build and run the job to completion."""
    tasks = plan_shards(frames, shards)
    with beam.Pipeline(options=default_options(beam_args)) as p:
        build(p, tasks, cfg, intr, str(out_dir), progress_dir)
