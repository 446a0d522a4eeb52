"""The wall-clock budget of a run (``--minutes``): how many steps fit, from the measured speed.

``TimeBudget`` only plans; it knows nothing of Keras or of the schedule:
``pipeline.training.length.RunLength`` feeds it the steps and validation passes of a session and
applies its plans to the learning-rate schedule. The clock is an argument, so the planning can be
tested with a fake one.
"""
from __future__ import annotations

import time
from typing import Callable


class TimeBudget:
    """Plans the total optimizer steps of a run so that training and validation end within a budget.

    ``budget_s``: seconds for training and validation over all sessions of the run (resumes add up);
    ``spent_s``: seconds spent in earlier sessions; ``limit``: the most steps the run may take (its
    ``--steps``/``--epochs`` plan, or ``length.NO_LIMIT``); ``steps_per_epoch``: steps between
    validation passes; ``val_batches``: batches of one validation pass; ``prior_step_s``: mean seconds
    per step of the earlier sessions, validation included (None on a fresh run), used until this
    session's speed is measured; ``clock``: a monotonic clock in seconds.

    The step time ``step_s`` is first measured over this session's steps CALIBRATE[0] to CALIBRATE[1]
    (the first steps trace the graph and are slower), then over every step since CALIBRATE[0]; the
    time spent validating in between is left out. A validation pass costs what the last one took, or
    ``val_batches * step_s / 3`` (a forward pass only) until one other than the session's first (which
    traces the graph) has been timed.
    """

    CALIBRATE = (3, 23)

    def __init__(self, budget_s: float, spent_s: float, limit: int, steps_per_epoch: int, val_batches: int,
                 prior_step_s: float | None = None, clock: Callable[[], float] = time.perf_counter):
        self.budget_s, self.spent_s, self.limit = float(budget_s), float(spent_s), int(limit)
        self.spe, self.val_batches, self.prior_step_s, self.clock = (
            int(steps_per_epoch), int(val_batches), prior_step_s, clock)
        self.t0 = clock()
        self.session_steps = 0
        self.val_s: float | None = None
        self._val_total = 0.0  # seconds validating in this session
        self._val_passes = 0
        self._mark: tuple[float, float] | None = None  # (clock, _val_total) at step CALIBRATE[0]
        self._last: tuple[float, float] = (self.t0, 0.0)  # (clock, _val_total) at the last step

    @property
    def step_s(self) -> float | None:
        """Seconds per training step in this session (validation left out); None before CALIBRATE[1]."""
        first, last = self.CALIBRATE
        if self.session_steps < last or self._mark is None:
            return None
        (t_mark, val_mark), (t_last, val_last) = self._mark, self._last
        return (t_last - t_mark - (val_last - val_mark)) / (self.session_steps - first)

    def elapsed(self) -> float:
        """Seconds spent by the run so far, this session and the earlier ones."""
        return self.spent_s + self.clock() - self.t0

    def exhausted(self) -> bool:
        return self.elapsed() >= self.budget_s

    def step_done(self) -> bool:
        """Count one training step of this session; True when it completed the speed measurement."""
        self.session_steps += 1
        self._last = (self.clock(), self._val_total)
        first, last = self.CALIBRATE
        if self.session_steps == first:
            self._mark = self._last
        return self.session_steps == last

    def validation_done(self, seconds: float, complete: bool = True) -> None:
        """Record ``seconds`` spent validating; a ``complete`` pass other than the session's first
        (which traces the graph) also sets the validation cost."""
        self._val_total += float(seconds)
        if complete:
            self._val_passes += 1
            if self._val_passes > 1:
                self.val_s = float(seconds)

    def plan(self, step: int) -> int | None:
        """The total steps that fit the budget, seen at optimizer step ``step`` (in [step + 1, limit]);
        None while the speed is unknown.

        Measured speed: the remaining budget, less one validation pass kept for the end, buys
        ``remaining / (step_s + val_s / steps_per_epoch)`` steps (a validation per epoch). Before it:
        ``(budget - elapsed) / prior_step_s`` steps at the earlier sessions' mean speed.
        """
        step_s = self.step_s
        if step_s is not None:
            val_s = self.val_s if self.val_s is not None else self.val_batches * step_s / 3.0
            remaining = self.budget_s - self.elapsed() - val_s
            fit = int(remaining / (step_s + val_s / self.spe))
        elif self.prior_step_s:
            fit = int((self.budget_s - self.elapsed()) / self.prior_step_s)
        else:
            return None
        return max(step + 1, min(self.limit, step + max(0, fit)))
