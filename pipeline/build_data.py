"""Driver of ``sdnet data``: plan the frames, run the Beam job, assemble manifest and rejections.

Output layout (written to a temporary directory, renamed into place when complete)::

    DATA/manifest.json            schema version, dataset, its skeleton, the intrinsics, counts/bytes
                                  per split, crop and augmentation parameters (test cubes per
                                  subject when the dataset fixes them; the held-out test subject
                                  of a leave-one-subject-out dataset, "" otherwise), source root
    DATA/train-SSSSS-of-NNNNN.tfrecord.gz   (and val-..., test-00000-of-00001...)
    DATA/rejected.jsonl           one line per rejected frame: image path, split, label file and
                                  line, reason (a bad label line without an image path: path is
                                  '<label file>:<line>')
"""
from __future__ import annotations

import dataclasses
import glob
import json
import math
import os
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from beam_jobs import data_job
from beam_jobs.common import worker_logs_aside
from beam_jobs.data_job import RECORDS_PER_SHARD, REPORT_PREFIX
from pipeline.camera import Intrinsics
from pipeline.config import DataConfig, to_dict
from pipeline.convert import SPLITS, plan_frames, rotation_angles
from pipeline.datasets import get_dataset
from pipeline.errors import SdnetError
from pipeline.fsutil import atomic_output_dir, atomic_write_text, check_output_dir, write_json
from pipeline.schema import SCHEMA_VERSION

MANIFEST = "manifest.json"
REJECTED = "rejected.jsonl"


def shard_counts(frames_per_split: dict[str, int], cfg: DataConfig) -> dict[str, int]:
    """TFRecord shards per split: about RECORDS_PER_SHARD records each (``cfg.shards`` for train)."""
    out = {}
    for split in ("train", "val"):
        n = frames_per_split.get(split, 0) * len(rotation_angles(split, cfg))
        out[split] = max(1, math.ceil(n / RECORDS_PER_SHARD))
    if cfg.shards:
        out["train"] = cfg.shards
    return out


def _progress_thread(progress_dir: str, total: int, stop: threading.Event, enabled: bool, stream):
    def loop():
        with tqdm(total=total, unit="frame", desc="sdnet data", disable=not enabled,
                  mininterval=1.0, file=stream) as bar:
            while not stop.is_set():
                done = 0
                for f in glob.glob(os.path.join(progress_dir, "*")):
                    try:
                        done += int(open(f).read() or 0)
                    except (OSError, ValueError):
                        pass
                bar.n = min(done, total)
                bar.refresh()
                stop.wait(1.0)
            bar.n = total
            bar.refresh()

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return t


def collect_reports(out_dir: Path) -> tuple[dict[str, dict], list[dict]]:
    """Read and remove the shard reports the job left in ``out_dir``: (per-split sums of frames,
    records and bytes, the rejected frames)."""
    stats: dict[str, dict] = {}
    rejected: list[dict] = []
    for f in sorted(glob.glob(os.path.join(str(out_dir), f"{REPORT_PREFIX}*.json"))):
        with open(f) as fh:
            report = json.load(fh)
        os.remove(f)
        s = stats.setdefault(report["split"], {"split": report["split"], "frames": 0, "records": 0, "bytes": 0})
        for key in ("frames", "records", "bytes"):
            s[key] += int(report[key])
        rejected.extend(report["rejected"])
    return stats, rejected


def convert_tree(root: Path, out: Path, cfg: DataConfig, intr: Intrinsics,
                 beam_args: list[str] | None = None, overwrite: bool = False,
                 progress: bool = True, in_process: bool = False) -> dict:
    """Convert the tree at ``root`` (of the dataset ``cfg.dataset``, read by its registry reader; ``intr``
    its camera) into ``out``; returns the manifest.

    ``in_process``: no Beam, the same shard tasks converted one after another in this process
    (``beam_jobs.data_job.convert_in_process``; the reference of the equivalence tests).

    Raises SdnetError when the root has no label files, no frame converts, or more than
    ``cfg.max_reject_fraction`` of the frames are rejected (nothing is left at ``out`` then).
    """
    # Absolute paths: workers (Dask's, a cluster's) do not share the driver's working directory.
    root, out = Path(root).absolute(), Path(out).absolute()
    t0 = time.time()
    check_output_dir(out, overwrite)  # fail before any work
    if cfg.centre.method == "learned":  # the localizer's directory reaches the workers absolute, checked here
        cfg = dataclasses.replace(cfg, centre=dataclasses.replace(cfg.centre, locator=str(Path(cfg.centre.locator).absolute())))
        data_job.load_centre_locator(cfg)
    plan = plan_frames(root, cfg, intr)
    planned = Counter(f.split for f in plan.frames)
    total_frames = len(plan.frames) + len(plan.rejected)
    shards = shard_counts(planned, cfg)
    with atomic_output_dir(out, overwrite) as tmp:
        progress_dir = tempfile.mkdtemp(prefix="progress-", dir=tmp)
        stop = threading.Event()
        try:
            with worker_logs_aside() as console:
                thread = _progress_thread(progress_dir, len(plan.frames), stop, progress, console)
                try:
                    if in_process:
                        data_job.convert_in_process(plan.frames, cfg, intr, str(tmp), shards)
                    else:
                        data_job.run(plan.frames, cfg, intr, tmp, shards, beam_args or [], progress_dir)
                finally:
                    stop.set()
                    thread.join(timeout=5)
        finally:
            for f in glob.glob(os.path.join(progress_dir, "*")):
                os.remove(f)
            os.rmdir(progress_dir)
        stats, job_rejected = collect_reports(tmp)
        rejected = plan.rejected + job_rejected
        rejected.sort(key=lambda r: (r.get("path", ""), r.get("line", 0)))
        _check_rejections(rejected, total_frames, cfg)
        atomic_write_text(Path(tmp) / REJECTED, "".join(json.dumps(r) + "\n" for r in rejected))
        manifest = _manifest(root, cfg, intr, plan, stats, rejected, tmp, beam_args or [],
                             time.time() - t0)
        if not sum(manifest["counts"].values()):
            raise SdnetError(f"{root}: no frame could be converted ({_top_reasons(rejected)})")
        write_json(Path(tmp) / MANIFEST, manifest)
    return manifest


def _check_rejections(rejected: list[dict], total: int, cfg: DataConfig) -> None:
    if total and len(rejected) / total > cfg.max_reject_fraction:
        raise SdnetError(
            f"{len(rejected)} of {total} frames rejected, more than the allowed "
            f"{cfg.max_reject_fraction:.0%} (--max-reject {cfg.max_reject_fraction:g}; most common: "
            f"{_top_reasons(rejected)})")


def _top_reasons(rejected: list[dict], k: int = 3) -> str:
    reasons = Counter(r["reason"] for r in rejected).most_common(k)
    return "; ".join(f"{n}x {reason}" for reason, n in reasons) or "no frames"


def _manifest(root, cfg, intr, plan, stats, rejected, tmp, beam_args, seconds) -> dict:
    files = {s: sorted(os.path.basename(p) for p in glob.glob(str(Path(tmp) / f"{s}-*")))
             for s in SPLITS}
    dataset = get_dataset(cfg.dataset)
    return {
        "schema_version": SCHEMA_VERSION,
        "dataset": dataset.name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "source_root": str(Path(root).resolve()),
        "label_files": plan.label_files,
        "crop_size": cfg.crop_size,
        "cube_mm": cfg.cube_mm,
        "test_cubes_mm": plan.test_cubes_mm,
        "test_subject": cfg.test_subject,
        "config": to_dict(cfg),
        "rotations_deg": rotation_angles("train", cfg),
        "skeleton": dataset.skeleton.to_dict(),
        "intrinsics": intr.to_dict(),
        "counts": {s: stats.get(s, {}).get("records", 0) for s in SPLITS},
        "frames": {s: stats.get(s, {}).get("frames", 0) for s in SPLITS},
        "bytes": {s: sum(os.path.getsize(Path(tmp) / f) for f in files[s]) for s in SPLITS},
        "files": files,
        "val_sequences": plan.val_sequences,
        "val_from": plan.val_from,
        "rejected": len(rejected),
        "beam_args": beam_args,
        "seconds": round(seconds, 1),
    }
