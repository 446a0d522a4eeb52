"""How long a run trains, decided in one place: ``RunLength``.

The config asks for a ``Length``: ``steps``, else ``epochs`` x steps per epoch, else no step limit
(a ``minutes`` budget alone); ``minutes`` may end training earlier; ``steps_per_epoch`` (else one pass
over the training records) spaces the validations and checkpoints. ``RunLength`` turns that, with
what a resumed run restored (the step, the epochs done, the seconds spent, the saved config's
length), into

  the plan        ``WarmupCosine.total_steps``: the step at which the learning rate reaches its floor
                  and training stops. Only RunLength assigns it: on resume with a new length
                  (``resume``), and with a time budget at the start of the session and whenever the
                  budget re-plans (``start``, ``step_done``, ``validation_ends``).
  fit's epochs    ``initial_epoch`` and ``epochs`` for Keras ``fit``: enough epochs to reach the
                  plan, with a budget enough to reach the config's limit (the plan moves as the speed
                  is measured); ``remaining``: the steps the session plans at its start.
  when to stop    ``step_done``: StopControl's question after every step.
  the run's time  ``elapsed`` (all sessions), ``session_seconds``, ``val_seconds``.

``TimeBudget`` (``pipeline.training.budget``) is the clock-driven planner; RunLength feeds it the
session's steps and validation passes and applies its plans.
"""
from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Callable

from pipeline.config import TrainConfig
from pipeline.errors import SdnetError
from pipeline.training.budget import TimeBudget

# The plan of a run that only a time budget ends (no --steps or --epochs).
NO_LIMIT = 10 ** 9


@dataclasses.dataclass(frozen=True)
class Length:
    """The length a config asks for: ``steps_per_epoch`` (steps between validations and checkpoints),
    ``steps`` (the planned total: ``cfg.steps``, else ``cfg.epochs`` x steps per epoch, else NO_LIMIT)
    and ``minutes`` (the wall-clock budget over all sessions; None: none)."""

    steps_per_epoch: int
    steps: int
    minutes: float | None = None

    @classmethod
    def of(cls, cfg: TrainConfig, num_train: int) -> Length:
        """The length of ``cfg`` on ``num_train`` training records (an epoch is one pass, at least one
        step, unless ``cfg.steps_per_epoch`` is set)."""
        spe = cfg.steps_per_epoch or max(1, num_train // cfg.batch_size)
        if cfg.steps is not None:
            steps = cfg.steps
        elif cfg.epochs is not None:
            steps = cfg.epochs * spe
        else:
            steps = NO_LIMIT
        return cls(spe, steps, cfg.minutes)

    @property
    def budget_s(self) -> float | None:
        return None if self.minutes is None else 60.0 * self.minutes


class RunLength:
    """The length of one run's session, from the config (``cfg``, ``num_train`` records,
    ``val_batches`` batches per validation pass) and, on resume, the restored state. In order:

      ``wanted.steps``   the plan a fresh run builds its schedule with (``build``)
      ``resume``         after a checkpoint is restored: re-plan to a new length, or refuse it
      ``start``          the session begins: the clock, the budget and its first plan; ``initial_epoch``,
                         ``epochs`` and ``remaining`` are set
      ``step_done``, ``validation_begins``/``validation_ends``   during fit, from StopControl

    ``log`` gets the re-plans; ``clock`` (monotonic seconds) times the session and the budget."""

    def __init__(self, cfg: TrainConfig, num_train: int, val_batches: int, log: Callable[[str], None],
                 clock: Callable[[], float] = time.perf_counter):
        self.wanted = Length.of(cfg, num_train)
        self.num_train, self.val_batches, self.log, self.clock = num_train, int(val_batches), log, clock
        self.schedule = None  # the WarmupCosine whose total_steps is the plan (set by ``start``)
        self.budget: TimeBudget | None = None
        self.start_step = self.initial_epoch = self.epochs = self.remaining = 0
        self.val_seconds = 0.0  # seconds validating in this session
        self._spent_s = 0.0
        self._t0 = self._val_t0 = clock()

    # ---- before the session ------------------------------------------------------------------------

    def resume(self, schedule, saved: TrainConfig, step: int, spent_s: float, where: Path) -> None:
        """After restoring a checkpoint (``schedule.total_steps`` as saved; the run at optimizer ``step``
        with ``spent_s`` seconds spent; ``saved``: the run's saved config): keep the saved plan when
        the length is the saved one; otherwise plan the new length from the start (its steps, or for a
        budget alone NO_LIMIT, which the budget cuts to what fits). SdnetError naming ``where`` when
        the run has already passed the new length."""
        if Length.of(saved, self.num_train) == self.wanted:
            return
        total = self.wanted.steps
        if total <= step:
            raise SdnetError(f"{where}: the run is at step {step} already, the new length plans {total} steps; "
                             "give more --steps or --epochs")
        if self.wanted.budget_s is not None and spent_s >= self.wanted.budget_s:
            raise SdnetError(f"{where}: the run has trained {spent_s / 60:.2f} min already, "
                             f"the new budget is {self.wanted.minutes:g} min; give more --minutes")
        schedule.total_steps.assign(total)
        self.log(f"resuming at step {step} with a new length: the schedule is re-planned to "
                 f"{total if total < NO_LIMIT else 'the time budget'}")

    def start(self, schedule, step: int, epochs_done: int, spent_s: float) -> None:
        """The session begins at optimizer ``step`` with ``epochs_done`` and ``spent_s`` seconds of the
        earlier sessions (zeros for a fresh run): start the clock and the budget (a resumed run plans
        from the earlier sessions' mean speed until it has measured its own), apply its first plan,
        and set ``remaining`` (0: nothing left to train), ``initial_epoch`` and ``epochs``."""
        self.schedule, self.start_step, self._spent_s = schedule, int(step), float(spent_s)
        wanted = self.wanted
        if wanted.budget_s is not None:
            self.budget = TimeBudget(wanted.budget_s, spent_s, wanted.steps, wanted.steps_per_epoch,
                                     self.val_batches, prior_step_s=spent_s / step if step else None,
                                     clock=self.clock)
            self._t0 = self.budget.t0  # one clock: elapsed() is the budget's
            self._replan(step)
        else:
            self._t0 = self.clock()
        spent = self.budget is not None and self.budget.exhausted()
        self.remaining = 0 if spent else max(0, self.total() - step)
        # with a budget, fit may go on to the config's limit: step_done ends it at the plan
        reach = max(self.remaining, wanted.steps - step) if self.budget is not None else self.remaining
        self.initial_epoch = int(epochs_done)
        self.epochs = self.initial_epoch + math.ceil(reach / wanted.steps_per_epoch)

    # ---- the plan and the clock --------------------------------------------------------------------

    def total(self) -> int:
        """The plan: the total optimizer steps of the run as now planned."""
        return int(self.schedule.total_steps.numpy())

    def elapsed(self) -> float:
        """Seconds spent by the run so far, this session and the earlier ones."""
        return self._spent_s + self.clock() - self._t0

    def session_seconds(self) -> float:
        return self.clock() - self._t0

    # ---- during fit (StopControl) ------------------------------------------------------------------

    def step_done(self, step: int) -> bool:
        """Optimizer ``step`` is done; True when training should stop: the plan is reached or the
        budget spent. With a budget: re-plan once the speed is measured, and before stopping at the
        plan (a plan made too short on a slow start is checked with the latest speed first); the
        config's steps are a hard limit (a re-plan there would move the plan past them)."""
        if self.budget is None:
            return step >= self.total()
        if step >= self.wanted.steps:
            return True
        if self.budget.step_done():
            self._replan(step)
        spent = self.budget.exhausted()
        if step >= self.total():
            self._replan(step)
        return spent or step >= self.total()

    def validation_begins(self) -> None:
        self._val_t0 = self.clock()

    def validation_ends(self, step: int, complete: bool = True) -> None:
        """A validation pass ended at optimizer ``step`` (``complete``: not cut short by a signal): its
        time is left out of the step time, a complete one sets the validation cost, and the budget
        re-plans."""
        seconds = self.clock() - self._val_t0
        self.val_seconds += seconds
        if self.budget is not None:
            self.budget.validation_done(seconds, complete)
            self._replan(step)

    def _replan(self, step: int) -> None:
        """Apply the budget's plan at optimizer ``step``; logged when it moves by more than 1%."""
        total, before = self.budget.plan(step), self.total()
        if total is None or total == before:
            return
        self.schedule.total_steps.assign(total)
        if abs(total - before) > 0.01 * before:
            step_s = self.budget.step_s
            speed = f"{step_s * 1e3:.0f} ms/step" if step_s else "earlier sessions' speed"
            self.log(f"time budget: planning {total} steps ({speed})")
