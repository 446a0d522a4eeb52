"""Bounds for tests that start processes: a SIGALRM deadline for the test's own waits."""
from __future__ import annotations

import contextlib
import signal


@contextlib.contextmanager
def deadline(seconds: int, what: str):
    """Raise TimeoutError in the main thread when the block runs longer than ``seconds``."""
    def expired(_signum, _frame):
        raise TimeoutError(f"{what}: still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
