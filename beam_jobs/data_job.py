"""Beam job: a labelled tree (any registered dataset) -> augmented, sharded, compressed TFRecords +
manifest.json + rejected.jsonl.

Thin by design: the per-frame work is ``pipeline.convert.convert_frame`` (pure, tested without Beam).
The driver groups the frames into shard tasks (``plan_shards``: a split's frames spread over its
shards by a hash of the path, each shard in (sequence, frame) order; 'test' is one shard, so its
file is in sequence and frame order). Steps (unique labels): CreateShards -> Reshuffle ->
ConvertShards: each task converts its frames, writes its own GZIP TFRecord file and, beside it, a
small JSON report (``_report-<file>.json``: frames, records, bytes, rejected frames) that the driver
reads after the job. Records and reports never travel through the runner, only the small frame
descriptions do; a retried task rewrites the same two files. One linear chain with no side inputs,
no tagged outputs and no second sink: every runner executes all of it (Beam's DaskRunner, for one,
computes only the last step's lineage and does not separate tagged outputs).

Runs on the DirectRunner in multi-processing mode by default (one worker per core); any standard Beam
pipeline option passes through (``--runner``, ``--project``, ``--temp_location``, ``--setup_file``,
``--runner=DaskRunner --dask_client_address=tcp://HOST:8786``...). Paths reach the workers absolute;
on a cluster of several machines the tree and the output directory must be on storage every
worker sees at the same path (or on a Beam filesystem such as gs://).
Workers do not import TensorFlow (``pipeline.schema.encode_example`` writes the protocol buffer),
except with centre method 'learned': each worker then loads the localizer (``cfg.centre.locator``, a
directory every worker must see) once, in ``DoFn.setup``.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
import uuid
from dataclasses import dataclass
from pathlib import Path

import apache_beam as beam
import crcmod.predefined  # a dependency of apache-beam[tfrecord]
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from beam_jobs.common import run_pipeline, runner_defaults, runner_of
from pipeline.camera import Intrinsics
from pipeline.config import DataConfig
from pipeline.convert import FrameItem, convert_frame
from pipeline.datasets import get_dataset
from pipeline.errors import SdnetError
from pipeline.schema import encode_example

RECORDS_PER_SHARD = 2000
TFRECORD_SUFFIX = ".tfrecord.gz"
REPORT_PREFIX = "_report-"


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

    @property
    def report_name(self) -> str:
        return f"{REPORT_PREFIX}{self.file_name}.json"


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
    """ShardTask -> its TFRecord file and its report (``task.report_name``, JSON: split, frames,
    records, bytes, rejected); outputs the TFRecord file's name."""

    def __init__(self, cfg: DataConfig, intr: Intrinsics, out_dir: str, progress_dir: str | None = None):
        self.cfg, self.intr, self.out_dir, self.progress_dir = cfg, intr, out_dir, progress_dir

    def setup(self):
        self._locator = load_centre_locator(self.cfg)
        self._done = 0
        self._progress = None
        if self.progress_dir:
            path = os.path.join(self.progress_dir, f"{os.getpid()}-{uuid.uuid4().hex}")
            try:  # a worker on another machine may not see the driver's directory: no progress then
                self._progress = open(path, "w")
            except OSError:
                self._progress = None

    def process(self, task: ShardTask):
        report = convert_shard(task, self.cfg, self.intr, self.out_dir, self._tick, self._locator)
        with FileSystems.create(FileSystems.join(self.out_dir, task.report_name)) as f:
            f.write(json.dumps(report).encode())
        yield task.file_name

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


def load_centre_locator(cfg: DataConfig):
    """The learned localizer of centre method 'learned' (``pipeline.locator.load_locator`` of
    ``cfg.centre.locator``), None for the rules; SdnetError when the directory holds none."""
    if cfg.centre.method != "learned":
        return None
    from pipeline.locator import load_locator  # deferred: TensorFlow only for the learned centre
    found = load_locator(Path(cfg.centre.locator))
    if found is None:
        raise SdnetError(f"{cfg.centre.locator}: no localizer (locator.keras) for --centre-method learned; "
                         "write one with `sdnet fit-locator --out DIR`")
    return found


def convert_shard(task: ShardTask, cfg: DataConfig, intr: Intrinsics, out_dir: str,
                  tick=lambda: None, locator=None) -> dict:
    """Convert a task's frames into ``out_dir/task.file_name`` (through Beam's filesystems); returns
    its report: {'split', 'frames', 'records', 'bytes', 'rejected': [dict per rejected frame]}.
    ``locator``: the localizer of centre method 'learned' (``load_centre_locator``).
    The same function serves every runner and the single-process loop (``convert_in_process``)."""
    frames = records = size = 0
    rejected = []
    num_joints = get_dataset(cfg.dataset).num_joints  # the record layout is the dataset's skeleton's
    path = FileSystems.join(out_dir, task.file_name)
    with FileSystems.create(path, compression_type=CompressionTypes.GZIP) as out:
        for item in task.frames:
            recs, reason = convert_frame(_read(item.image), item, cfg, intr, locator)
            tick()
            if reason:
                rejected.append({"path": item.image, "split": item.split, "label_file": item.label_file,
                                 "line": item.line, "reason": reason})
                continue
            for rec in recs:
                data = encode_example(rec, num_joints)
                out.write(tfrecord_frame(data))
                size += len(data)
            frames, records = frames + 1, records + len(recs)
    return {"split": task.split, "frames": frames, "records": records, "bytes": size, "rejected": rejected}


def convert_in_process(frames: list[FrameItem], cfg: DataConfig, intr: Intrinsics, out_dir: str,
                       shards: dict[str, int]) -> list[dict]:
    """The job's work without Beam: every shard task in turn, in this process; returns the reports.
    Writes the same files as the job (the reference the runners are tested against)."""
    reports, locator = [], load_centre_locator(cfg)
    for task in plan_shards(frames, shards):
        report = convert_shard(task, cfg, intr, out_dir, locator=locator)
        with FileSystems.create(FileSystems.join(out_dir, task.report_name)) as f:
            f.write(json.dumps(report).encode())
        reports.append(report)
    return reports


def _read(path: str) -> bytes | None:
    """The file's bytes through Beam's filesystems (local, gs://, ...), None when unreadable."""
    try:
        with FileSystems.open(path) as f:
            return f.read()
    except Exception:  # noqa: BLE001 - any filesystem's "not found" becomes a rejection
        return None


def _masked_crc32c(data: bytes) -> int:
    global _CRC32C
    if _CRC32C is None:
        _CRC32C = crcmod.predefined.mkPredefinedCrcFun("crc-32c")
    crc = _CRC32C(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


_CRC32C = None


def tfrecord_frame(data: bytes) -> bytes:
    """One TFRecord: length (uint64 LE), masked CRC-32C of the length, data, masked CRC-32C of data."""
    length = struct.pack("<Q", len(data))
    return (length + struct.pack("<I", _masked_crc32c(length)) + data
            + struct.pack("<I", _masked_crc32c(data)))


def read_tfrecords(path: str) -> list[bytes]:
    """The serialized records of a (GZIP) TFRecord file written by ``tfrecord_frame``, in file order;
    ValueError on a bad checksum or a truncated record (the inverse of ``tfrecord_frame``)."""
    compression = CompressionTypes.GZIP if path.endswith(".gz") else CompressionTypes.UNCOMPRESSED
    with FileSystems.open(path, compression_type=compression) as f:
        blob = f.read()
    out, pos = [], 0
    while pos < len(blob):
        if pos + 12 > len(blob):
            raise ValueError(f"{path}: truncated record header at byte {pos}")
        header = blob[pos:pos + 8]
        (n,) = struct.unpack("<Q", header)
        if struct.unpack("<I", blob[pos + 8:pos + 12])[0] != _masked_crc32c(header):
            raise ValueError(f"{path}: bad length checksum at byte {pos}")
        data = blob[pos + 12:pos + 12 + n]
        crc = blob[pos + 12 + n:pos + 16 + n]
        if len(data) != n or len(crc) != 4 or struct.unpack("<I", crc)[0] != _masked_crc32c(data):
            raise ValueError(f"{path}: truncated or corrupt record at byte {pos}")
        out.append(data)
        pos += 16 + n
    return out


def default_options(beam_args: list[str], partitions: int = 1) -> PipelineOptions:
    """Pipeline options from ``beam_args``; without a runner, the DirectRunner in multi-processing
    mode with one worker per core; on Dask, ``partitions`` bag partitions unless given
    (``beam_jobs.common.runner_defaults``). DirectRunner options are added only for it."""
    args = list(beam_args)
    if not any(a.startswith("--default_sdk_harness_log_level") for a in args):
        args += ["--default_sdk_harness_log_level=WARNING"]
    if runner_of(args) is None:
        args += ["--runner=DirectRunner"]
        if not any(a.startswith("--direct_running_mode") for a in args):
            args += ["--direct_running_mode=multi_processing"]
        if not any(a.startswith("--direct_num_workers") for a in args):
            args += [f"--direct_num_workers={os.cpu_count() or 1}"]
    return PipelineOptions(args + runner_defaults(args, partitions))


def build(p: beam.Pipeline, tasks: list[ShardTask], cfg: DataConfig, intr: Intrinsics,
          out_dir: str, progress_dir: str | None = None) -> None:
    """Add the conversion steps to ``p``; outputs go under ``out_dir``."""
    _ = (p
         | "CreateShards" >> beam.Create(tasks, reshuffle=False)
         | "Reshuffle" >> beam.Reshuffle()
         | "ConvertShards" >> beam.ParDo(ConvertShardFn(cfg, intr, out_dir, progress_dir)))


def run(frames: list[FrameItem], cfg: DataConfig, intr: Intrinsics, out_dir: Path,
        shards: dict[str, int], beam_args: list[str], progress_dir: str | None = None) -> None:
    """Build and run the job to completion (reports under ``out_dir``, see ``ConvertShardFn``)."""
    tasks = plan_shards(frames, shards)
    out = os.path.abspath(str(out_dir)) if "://" not in str(out_dir) else str(out_dir)
    progress = os.path.abspath(progress_dir) if progress_dir else None
    run_pipeline(default_options(beam_args, len(tasks)),
                 lambda p: build(p, tasks, cfg, intr, out, progress))
