"""`sdnet train` across two worker processes (MultiWorkerMirroredStrategy, TF_CONFIG on loopback
ports): both exit 0, only the chief writes the run, the first steps match a one-process run with
the same global batch, and a worker that dies mid-run stops the chief with a clear message and a
checkpoint that `--resume` continues.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tensorflow as tf

from pipeline.cli import main as cli_main
from pipeline.dask_cluster import free_port
from pipeline.rundir import RunDir
from pipeline.train import train
from pipeline.training.data import data_from_dir, with_deterministic_input
from pipeline.experiment import bind_data, load_experiment
from tests.helpers import data_section_args, make_tiny_data_dir

pytestmark = pytest.mark.cluster

# smoke preset, a global batch of 8 (4 per worker), no time budget (each worker would stop at its own
# time), nothing fitted after training
ARGS = ["--preset", "smoke", "--batch-size", "8", "--precision", "float32", "--seed", "0", "--set", "minutes=null",
        "--no-fit-refine", "--no-fit-centre"]
# first-step loss: one-process vs two workers (float32, all-reduce order); stated in the README
FIRST_STEP_RTOL = 1e-4
START_S = 240  # both processes import TensorFlow and join the cluster on 2 busy cores


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """32 training records (16 frames x 2 rotations), 16 validation records."""
    return make_tiny_data_dir(tmp_path_factory.mktemp("mw"), rotations=2, crop_size=32, train_seqs=4,
                              frames_per_seq=8, test_frames=(2,))


def launch(data: Path, run: Path, base: Path, *extra: str) -> list[tuple[subprocess.Popen, Path]]:
    """Start `sdnet train` as worker 0 (chief) and worker 1 of a two-worker cluster; each process
    has its own working and temporary directory under ``base``; returns (process, its folder)."""
    cluster = {"worker": [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]}
    procs = []
    for i in range(2):
        home = base / f"worker{i}"
        (home / "tmp").mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
        env.update(TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}),
                   TMPDIR=str(home / "tmp"), TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
        log = open(home / "log.txt", "wb")
        procs.append((subprocess.Popen(
            [sys.executable, "-m", "pipeline", "train", "--data", str(data), "--out", str(run), *ARGS,
             *data_section_args(data), *extra],
            cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True), home))
        log.close()
    return procs


def stop_all(procs) -> None:
    for p, _ in procs:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=30)


def log_of(home: Path) -> str:
    return (home / "log.txt").read_text(errors="replace")


def losses(run: Path) -> list[float]:
    with open(RunDir(run).history) as f:
        return [float(row["loss"]) for row in csv.DictReader(f)]


def test_two_workers_train_like_one_process_and_only_the_chief_writes(data_dir, tmp_path):
    run = tmp_path / "run"
    procs = launch(data_dir, run, tmp_path, "--steps", "3", "--steps-per-epoch", "1")
    try:
        codes = [p.wait(timeout=START_S) for p, _ in procs]
    finally:
        stop_all(procs)
    assert codes == [0, 0], "\n".join(log_of(h)[-3000:] for _, h in procs)
    (chief, chief_home), (_, worker_home) = procs
    assert "worker 1: done: 3 steps; the chief writes the run" in log_of(worker_home)
    # only the chief wrote: the run, nothing in the workers' own folders, temporary dirs cleaned up
    for name in ("config.json", "model.keras", "summary.json", "history.csv", "batch_check.png"):
        assert (run / name).is_file(), name
    assert tf.train.latest_checkpoint(str(run / "checkpoints")).endswith("-3")
    for home in (chief_home, worker_home):
        assert sorted(p.name for p in home.iterdir()) == ["log.txt", "tmp"]
        assert not list((home / "tmp").iterdir()), list((home / "tmp").iterdir())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["replicas"] == 2 and summary["steps"] == 3

    # The same config in one process, with the same global batch of 8 and the same (deterministic) input.
    data = data_from_dir(data_dir)
    sets = {"model.preset": "smoke", "batch_size": 8, "precision": "float32", "seed": 0, "steps": 3,
            "steps_per_epoch": 1, "minutes": None, "data": data.manifest["config"]}
    cfg = bind_data(load_experiment(None, sets), data.manifest, data_dir)
    one = tmp_path / "one-process"
    train(cfg, with_deterministic_input(data), one, log=lambda _m: None, verbose=0)
    two, single = losses(run), losses(one)
    print(f"loss per step, two workers: {two}; one process: {single}")
    assert two[0] == pytest.approx(single[0], rel=FIRST_STEP_RTOL), (two, single)
    assert two == pytest.approx(single, rel=1e-3), (two, single)  # and the next steps after all-reduced updates


def test_a_dying_worker_stops_the_chief_clearly_and_resume_continues(data_dir, tmp_path):
    run = tmp_path / "run"
    steps = "120"  # 3 epochs of 40 steps: the worker dies after the first checkpoint (step 40)
    procs = launch(data_dir, run, tmp_path, "--steps", steps, "--steps-per-epoch", "40")
    (chief, chief_home), (worker, _) = procs
    try:
        t_end = time.monotonic() + START_S
        while not (run / "checkpoints" / "checkpoint").exists():
            assert time.monotonic() < t_end and chief.poll() is None, log_of(chief_home)[-3000:]
            time.sleep(0.1)
        worker.kill()  # mid-run: the chief cannot step on without it
        code = chief.wait(timeout=120)
    finally:
        stop_all(procs)
    text = log_of(chief_home)
    assert code == 2, text[-3000:]
    error = [line for line in text.splitlines() if line.startswith("sdnet train: error:")]
    assert len(error) == 1, text[-3000:]
    # (TensorFlow names the dead task in most of its error texts, not in all)
    assert error[0].startswith("sdnet train: error: worker 0: ") and "stopped responding" in error[0], error
    assert "worker 1 of the training cluster" in error[0] or "another process" in error[0], error
    assert "/checkpoints/ckpt-40: start every worker again with --resume" in error[0], error
    assert not (run / "summary.json").exists() and not (run / "model.keras").exists()
    done = int(Path(str(tf.train.latest_checkpoint(str(run / "checkpoints")))).name.split("-")[-1])
    assert done == 40

    # The checkpoint left behind resumes in one process (no TF_CONFIG) to the planned end.
    assert "TF_CONFIG" not in os.environ
    assert cli_main(["train", "--data", str(data_dir), "--out", str(run), "--resume"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == int(steps) and summary["replicas"] == 1
    assert (run / "model.keras").is_file()
