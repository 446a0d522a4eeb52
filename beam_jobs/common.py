"""What the Beam jobs share: quiet local workers, the runner choice (the DaskRunner by its short
name too) and runner-specific defaults."""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile

import apache_beam as beam
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.runners.dask.dask_runner import DaskRunner

from pipeline.errors import SdnetError


@contextlib.contextmanager
def worker_logs_aside():
    """Send everything written to file descriptor 2 (Beam's worker processes inherit it and log
    their start-up chatter there) to a temporary log while the job runs; yield a stream on the
    real stderr for the progress bar. On failure the log's tail is shown."""
    sys.stderr.flush()
    saved = os.dup(2)
    log = tempfile.TemporaryFile(mode="w+b")
    os.dup2(log.fileno(), 2)
    console = os.fdopen(os.dup(saved), "w")
    ok = False
    try:
        yield console
        ok = True
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        if not ok:
            log.seek(0)
            tail = log.read().decode("utf-8", "replace").splitlines()[-15:]
            print("\n".join(["[beam log tail]"] + tail), file=sys.stderr)
        log.close()
        console.close()


# Beam does not know the DaskRunner by its short name; these spellings of --runner select it.
DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"
_DASK_ALIASES = {"dask", "daskrunner", DASK_RUNNER.lower()}
DIRECT_RUNNERS = {"direct", "directrunner", "switchingdirectrunner", "bundlebaseddirectrunner"}


def runner_of(beam_args: list[str]) -> str | None:
    """The value of the last ``--runner`` option (``--runner=X`` or ``--runner X``), or None."""
    runner = None
    for i, a in enumerate(beam_args):
        if a.startswith("--runner="):
            runner = a.split("=", 1)[1]
        elif a == "--runner" and i + 1 < len(beam_args):
            runner = beam_args[i + 1]
    return runner


def is_dask(beam_args: list[str]) -> bool:
    return (runner_of(beam_args) or "").lower() in _DASK_ALIASES


def is_direct(beam_args: list[str]) -> bool:
    """True without --runner (Beam's default) or with a DirectRunner spelling."""
    runner = runner_of(beam_args)
    return runner is None or runner.lower() in DIRECT_RUNNERS


def has_option(beam_args: list[str], *names: str) -> bool:
    return any(a == n or a.startswith(n + "=") for a in beam_args for n in names)


def runner_defaults(beam_args: list[str], partitions: int) -> list[str]:
    """Defaults for the chosen runner, added only where the user gave none: on Dask, one bag
    partition per element up to ``partitions`` (its default of 128 elements per partition would put
    a small job's few large elements on one worker; Beam's Reshuffle is a no-op there)."""
    extra = []
    if is_dask(beam_args) and not has_option(beam_args, "--dask_npartitions", "--dask_partition_size"):
        extra.append(f"--dask_npartitions={max(1, partitions)}")
    return extra


def run_pipeline(options, build) -> None:
    """Create a pipeline with ``options`` (the DaskRunner also by its short name), let ``build(p)``
    add the steps, run it to completion. A Dask client is closed afterwards: it would otherwise stay
    the process's default Dask scheduler and keep its connections open."""
    runner = None
    name = options.view_as(StandardOptions).runner
    dask = bool(name) and name.lower() in _DASK_ALIASES
    if dask:
        runner = DaskRunner()
    try:
        p = beam.Pipeline(runner=runner, options=options)
    except (ValueError, ImportError) as e:  # an unknown --runner, or one whose extra is missing
        raise SdnetError(f"Beam: {str(e).split(' Valid values')[0]}") from None
    build(p)
    try:
        result = p.run()
    except (OSError, TimeoutError) as e:
        if not dask:
            raise
        address = options.get_all_options().get("address")
        raise SdnetError(f"cannot reach the Dask scheduler at {address} ({e})") from None
    try:
        result.wait_until_finish()
    finally:
        client = getattr(result, "client", None)
        if client is not None:
            client.close()
