"""What the Beam jobs share: quiet local workers."""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile


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
