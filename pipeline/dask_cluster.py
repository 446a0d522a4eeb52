"""A real Dask distributed cluster on this machine: a scheduler and worker *processes* started with
the ``dask`` command, on 127.0.0.1, torn down on exit (used by the tests and ``sdnet bench``).

On a real cluster the same commands run on several machines (see README, "Scaling out")::

    dask scheduler --host HOST --port 8786
    dask worker tcp://HOST:8786 --nworkers 1 --nthreads 1      (on every worker machine)
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

from distributed import Client

from pipeline.errors import SdnetError


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def dask_command() -> str:
    """The ``dask`` executable of this environment (beside the running Python)."""
    exe = Path(sys.executable).parent / "dask"
    if exe.is_file():
        return str(exe)
    found = shutil.which("dask")
    if not found:
        raise SdnetError("the `dask` command is not installed (pip install dask distributed)")
    return found


def _wait_for_port(host: str, port: int, proc: subprocess.Popen, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SdnetError(f"dask scheduler exited with status {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.2)
    raise SdnetError(f"dask scheduler did not listen on {host}:{port} in time")


def _wait_for_workers(address: str, n: int, procs: list[subprocess.Popen], deadline: float) -> None:
    with Client(address, timeout=max(1.0, deadline - time.monotonic())) as client:
        while time.monotonic() < deadline:
            dead = [p for p in procs if p.poll() is not None]
            if dead:
                raise SdnetError(f"a dask worker exited with status {dead[0].returncode}")
            if len(client.scheduler_info(n_workers=-1)["workers"]) >= n:
                return
            time.sleep(0.3)
    raise SdnetError(f"fewer than {n} dask workers joined {address} in time")


def _stop(procs: list[subprocess.Popen], grace: float = 10.0) -> None:
    """SIGTERM each process (its own process group), then SIGKILL what is left after ``grace`` s."""
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
    end = time.monotonic() + grace
    for p in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=max(0.1, end - time.monotonic()))
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=5)


@contextlib.contextmanager
def local_cluster(workers: int = 2, threads: int = 1, timeout: float = 120.0,
                  log_dir: Path | None = None, idle_timeout_s: int = 900) -> Iterator[str]:
    """Start ``dask scheduler`` and ``workers`` ``dask worker`` processes (``threads`` threads each,
    no nanny) on 127.0.0.1; yield the scheduler address ``tcp://127.0.0.1:PORT``; stop them all on
    exit, also on error. ``timeout``: seconds for the cluster to come up. Should this process die
    without cleaning up, the scheduler ends itself after ``idle_timeout_s`` seconds without work and
    the workers 60 s after it. Worker output goes to ``log_dir`` (a temporary directory by default);
    the workers' working directory is there too, never the caller's."""
    host, port = "127.0.0.1", free_port()
    address = f"tcp://{host}:{port}"
    own_logs = log_dir is None
    logs = Path(tempfile.mkdtemp(prefix="sdnet-dask-")) if own_logs else Path(log_dir)
    logs.mkdir(parents=True, exist_ok=True)
    dask = dask_command()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    procs: list[subprocess.Popen] = []
    deadline = time.monotonic() + timeout

    def start(args: list[str], name: str) -> subprocess.Popen:
        out = open(logs / f"{name}.log", "wb")
        try:
            p = subprocess.Popen([dask, *args], stdout=out, stderr=subprocess.STDOUT, env=env,
                                 cwd=str(logs), start_new_session=True)
        finally:
            out.close()
        procs.append(p)
        return p

    try:
        scheduler = start(["scheduler", "--host", host, "--port", str(port), "--no-dashboard",
                           "--idle-timeout", f"{idle_timeout_s}s"], "scheduler")
        _wait_for_port(host, port, scheduler, deadline)
        for i in range(workers):
            start(["worker", address, "--nworkers", "1", "--nthreads", str(threads), "--no-nanny",
                   "--no-dashboard", "--memory-limit", "0", "--name", f"sdnet-worker-{i}",
                   "--death-timeout", "60"], f"worker-{i}")
        _wait_for_workers(address, workers, procs[1:], deadline)
        yield address
    except SdnetError as e:
        tail = _log_tail(logs)
        raise SdnetError(f"{e}{tail}") from None
    finally:
        _stop(procs[1:], grace=5.0)  # the workers first: they say goodbye to a live scheduler
        _stop(procs[:1], grace=5.0)
        if own_logs:
            shutil.rmtree(logs, ignore_errors=True)


def _log_tail(logs: Path, lines: int = 5) -> str:
    out = []
    for f in sorted(logs.glob("*.log")):
        text = f.read_text(errors="replace").strip().splitlines()[-lines:]
        if text:
            out.append(f"\n[{f.name}] " + "\n".join(text))
    return "".join(out)
