"""The Beam jobs give the same output on every runner: the DirectRunner in its in-memory and
multi-processing modes, the single-process conversion loop (no Beam), and a real Dask distributed
cluster (a scheduler and two worker processes on 127.0.0.1, started and torn down here).

Same output means: for `sdnet synth`, the same bytes in every file; for `sdnet data`, the same
manifest counts (records, frames, bytes per split), the same rejected.jsonl, and per split the
same serialized records (as a multiset for train/val, in file order for test).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from distributed import Client

from beam_jobs.data_job import read_tfrecords
from pipeline.build_data import convert_tree
from pipeline.camera import ICVL_INTRINSICS
from pipeline.cli import main
from pipeline.config import DataConfig
from pipeline.convert import SPLITS
from pipeline.dask_cluster import free_port, local_cluster
from tests.limits import deadline

SYNTH = ["--train-frames", "24", "--test-frames", "8", "--sequence-length", "6", "--seed", "2", "--no-progress",
         "--scene-fraction", "0"]  # plain frames: the rejection count below is exact
DATA = ["--crop", "32", "--rotations", "2", "--val-fraction", "0.3", "--scale-jitter", "0.1",
        "--centre-jitter", "5", "--quiet"]
IN_MEMORY = ["--runner=DirectRunner", "--direct_running_mode=in_memory", "--direct_num_workers=1"]


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(Path(root).rglob("*")) if p.is_file()}


def records(data_dir: Path) -> dict[str, list[bytes]]:
    """Per split, the serialized records of its shards (shards in name order, records in file order)."""
    return {s: [r for f in sorted(Path(data_dir).glob(f"{s}-*")) for r in read_tfrecords(str(f))] for s in SPLITS}


def assert_same_conversion(got: Path, want: Path) -> None:
    mg, mw = (json.loads((d / "manifest.json").read_text()) for d in (got, want))
    for key in ("counts", "frames", "bytes", "files", "rejected", "val_sequences", "config"):
        assert mg[key] == mw[key], key
    assert (got / "rejected.jsonl").read_text() == (want / "rejected.jsonl").read_text()
    rg, rw = records(got), records(want)
    assert sorted(rg["train"]) == sorted(rw["train"]) and sorted(rg["val"]) == sorted(rw["val"])
    assert rg["test"] == rw["test"]
    assert not [p.name for p in got.iterdir() if p.name.startswith(("_", "progress-"))]  # reports collected


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A small `sdnet synth` tree (DirectRunner in memory) with one training PNG missing."""
    out = tmp_path_factory.mktemp("runners") / "tree"
    assert main(["synth", "--out", str(out), *SYNTH, "--", *IN_MEMORY]) == 0
    next(iter(sorted((out / "Training/Depth").rglob("*.png")))).unlink()  # one rejection
    return out


@pytest.fixture(scope="module")
def reference(tree, tmp_path_factory) -> Path:
    """`sdnet data` on the DirectRunner in memory: the output every other runner must match."""
    out = tmp_path_factory.mktemp("runners") / "in-memory"
    assert main(["data", "--icvl-root", str(tree), "--out", str(out), *DATA, "--", *IN_MEMORY]) == 0
    return out


def test_direct_runner_modes_and_the_single_process_loop_write_the_same_records(tree, reference, tmp_path):
    m = json.loads((reference / "manifest.json").read_text())
    assert m["rejected"] == 1 and all(m["counts"][s] > 0 for s in SPLITS)
    assert m["counts"]["train"] == 2 * m["frames"]["train"]
    mp = tmp_path / "multi-processing"
    with deadline(180, "multi-processing DirectRunner"):
        assert main(["data", "--icvl-root", str(tree), "--out", str(mp), *DATA, "--",
                     "--runner=DirectRunner", "--direct_running_mode=multi_processing",
                     "--direct_num_workers=2"]) == 0
    assert_same_conversion(mp, reference)
    cfg = DataConfig(crop_size=32, rotations=2, val_fraction=0.3, scale_jitter=0.1, centre_jitter_mm=5.0)
    loop = tmp_path / "loop"
    convert_tree(tree, loop, cfg, ICVL_INTRINSICS, progress=False, in_process=True)
    assert_same_conversion(loop, reference)


def test_more_shards_hold_the_same_records(tree, reference, tmp_path):
    out = tmp_path / "sharded"
    assert main(["data", "--icvl-root", str(tree), "--out", str(out), *DATA, "--shards", "3", "--", *IN_MEMORY]) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert len(m["files"]["train"]) == 3
    got, want = records(out), records(reference)
    assert sorted(got["train"]) == sorted(want["train"]) and got["test"] == want["test"]


@pytest.fixture(scope="module")
def dask_cluster():
    """A Dask scheduler and two single-threaded worker processes on 127.0.0.1 (no nanny); the
    workers' working directory is not the test's, as on a real cluster."""
    with deadline(150, "starting the Dask cluster"):
        cluster = local_cluster(workers=2, threads=1, timeout=120, idle_timeout_s=300)
        address = cluster.__enter__()
    try:
        yield address
    finally:
        cluster.__exit__(None, None, None)


def _executed_per_worker(address: str) -> dict[str, int]:
    with Client(address, timeout=30) as client:
        return client.run(lambda dask_worker: dask_worker.state.executed_count)


@pytest.mark.cluster
def test_dask_cluster_writes_what_the_direct_runner_writes(dask_cluster, tree, reference, tmp_path):
    before = sum(_executed_per_worker(dask_cluster).values())
    dask = ["--runner=DaskRunner", f"--dask_client_address={dask_cluster}"]
    cwd = os.getcwd()
    os.chdir(tmp_path)  # relative --out paths: the workers must still write where the driver means
    try:
        with deadline(240, "sdnet synth and sdnet data on Dask"):
            assert main(["synth", "--out", "tree", *SYNTH, "--", *dask]) == 0
            assert main(["data", "--icvl-root", str(tree), "--out", "data", *DATA, "--", *dask]) == 0
    finally:
        os.chdir(cwd)
    after = _executed_per_worker(dask_cluster)
    assert len(after) == 2 and sum(after.values()) > before  # the cluster's workers did the work
    # synth: the same bytes as the DirectRunner's tree (which then lost one PNG)
    got, want = files(tmp_path / "tree"), files(tree)
    missing = set(got) - set(want)
    assert len(missing) == 1 and missing.pop().endswith(".png")
    assert {k: v for k, v in got.items() if k in want} == want
    assert_same_conversion(tmp_path / "data", reference)
    m = json.loads((tmp_path / "data/manifest.json").read_text())
    assert m["beam_args"] == dask  # passed through unchanged


def test_beam_options_after_the_separator_reach_beam_and_bad_ones_fail_clearly(tree, tmp_path, capsys):
    """`sdnet synth ... -- OPTIONS` and `sdnet data ... -- OPTIONS` reach Beam: a bad runner or an
    unreachable Dask scheduler is one clear error line, and nothing is left at --out."""
    assert main(["synth", "--out", str(tmp_path / "t"), *SYNTH, "--", "--runner=NoSuchRunner"]) == 2
    assert "Unexpected pipeline runner: NoSuchRunner" in capsys.readouterr().err
    nobody = f"tcp://127.0.0.1:{free_port()}"
    with deadline(60, "connecting to no scheduler"):
        assert main(["data", "--icvl-root", str(tree), "--out", str(tmp_path / "d"), *DATA, "--",
                     "--runner=DaskRunner", f"--dask_client_address={nobody}", "--dask_connection_timeout=2"]) == 2
    assert f"cannot reach the Dask scheduler at {nobody}" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == []
