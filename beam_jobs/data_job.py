"""Beam job: ICVL tree -> augmented, sharded, compressed TFRecords + manifest.json + rejected.jsonl.

Thin by design: the per-frame work is ``pipeline.convert.convert_frame`` (pure, tested without Beam).
Steps (each with a unique label): CreateFrames -> Reshuffle -> ConvertFrames (records, rejected, stats)
-> per split: train/val written as sharded GZIP TFRecords, test gathered and written in
(sequence, frame) order -> counts and rejections written as text for the driver to assemble.

Runs on the DirectRunner in multi-processing mode by default (one worker per core); any standard Beam
pipeline option passes through (``--runner``, ``--project``, ``--temp_location``, ``--setup_file``...).
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.tfrecordio import WriteToTFRecord
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.camera import Intrinsics
from pipeline.config import DataConfig
from pipeline.convert import FrameItem, convert_frame

RECORDS_PER_SHARD = 2000
TFRECORD_SUFFIX = ".tfrecord.gz"


class ConvertFrameFn(beam.DoFn):
    """FrameItem -> ('records': (split, seq, frame, angle, bytes)), ('rejected': dict),
    ('stats': (split, (frames, records, bytes)))."""

    def __init__(self, cfg: DataConfig, intr: Intrinsics, progress_dir: str | None = None):
        self.cfg, self.intr, self.progress_dir = cfg, intr, progress_dir

    def setup(self):
        self._done = 0
        self._progress = None
        if self.progress_dir:
            path = os.path.join(self.progress_dir, f"{os.getpid()}-{uuid.uuid4().hex}")
            self._progress = open(path, "w")

    def process(self, item: FrameItem):
        from pipeline.schema import encode_example

        try:
            with FileSystems.open(item.image) as f:
                data = f.read()
        except Exception:  # noqa: BLE001 - any filesystem's "not found" becomes a rejection
            data = None
        records, reason = convert_frame(data, item, self.cfg, self.intr)
        self._tick()
        if reason:
            yield beam.pvalue.TaggedOutput("rejected", {
                "path": item.image, "split": item.split, "label_file": item.label_file,
                "line": item.line, "reason": reason})
            return
        total = 0
        for rec in records:
            ser = encode_example(rec)
            total += len(ser)
            yield (item.split, item.sequence, item.frame, float(rec["angle_deg"]), ser)
        yield beam.pvalue.TaggedOutput("stats", (item.split, (1, len(records), total)))

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


class WriteOrderedFn(beam.DoFn):
    """Writes a whole split, sorted by (sequence, frame, angle), as one GZIP TFRecord file."""

    def __init__(self, path: str):
        self.path = path

    def process(self, rows):
        rows = sorted(rows, key=lambda r: (r[1], r[2], r[3]))
        with FileSystems.create(self.path, compression_type=CompressionTypes.GZIP) as f:
            for r in rows:
                f.write(tfrecord_frame(r[4]))
        yield len(rows)


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


def build(p: beam.Pipeline, frames: list[FrameItem], cfg: DataConfig, intr: Intrinsics,
          out_dir: str, shards: dict[str, int], progress_dir: str | None = None) -> None:
    """Add the conversion steps to ``p``; outputs go under ``out_dir``."""
    results = (
        p
        | "CreateFrames" >> beam.Create(frames, reshuffle=False)
        | "Reshuffle" >> beam.Reshuffle()
        | "ConvertFrames" >> beam.ParDo(ConvertFrameFn(cfg, intr, progress_dir)).with_outputs(
            "rejected", "stats", main="records")
    )
    records = results.records
    for split in ("train", "val"):
        title = split.capitalize()
        (records
         | f"Select{title}" >> beam.Filter(lambda r, s=split: r[0] == s)
         | f"Serialized{title}" >> beam.Map(lambda r: r[4])
         | f"Write{title}" >> WriteToTFRecord(
             os.path.join(out_dir, split), file_name_suffix=TFRECORD_SUFFIX,
             num_shards=shards[split], compression_type=CompressionTypes.GZIP))
    (records
     | "SelectTest" >> beam.Filter(lambda r: r[0] == "test")
     | "GatherTest" >> beam.combiners.ToList()
     | "WriteTestInOrder" >> beam.ParDo(WriteOrderedFn(
         os.path.join(out_dir, f"test-00000-of-00001{TFRECORD_SUFFIX}"))))
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
    with beam.Pipeline(options=default_options(beam_args)) as p:
        build(p, frames, cfg, intr, str(out_dir), shards, progress_dir)
