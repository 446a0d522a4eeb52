"""The Keras callbacks of a training run, in the order ``pipeline.train`` passes them to ``fit``:

  WeightSchedule   sets the scheduled skeleton-loss weight w before every step
  StopControl      ends fit at the planned step, on SIGINT/SIGTERM, or when the time budget is spent;
                   re-plans the schedule's total steps from the TimeBudget
  RunLogs          adds step, seconds (over all sessions), learning_rate and sdl_weight to each
                   epoch's logs, so that the two writers below record them
  history_logger   keras.callbacks.CSVLogger on RUN/history.csv (appends on --resume)
  tensorboard      keras.callbacks.TensorBoard on RUN/logs (train/, validation/; x axis: epoch)
  SaveCheckpoint   the checkpoint at every epoch end (after a stop too)
  ProgressLog      one line per epoch for the user

Epochs are numbered from 0 in history.csv and TensorBoard (Keras's convention) and go on from the
checkpoint's count on ``--resume``; the log line counts from 1, like Keras's progress bar.
"""
from __future__ import annotations

import csv
import signal
import time
from pathlib import Path
from typing import Callable

import keras

from pipeline.config import LossConfig
from pipeline.training.budget import TimeBudget


def _step(model) -> int:
    return int(model.optimizer.iterations.numpy())


class WeightSchedule(keras.callbacks.Callback):
    """Sets ``variable`` to w at the current fraction of the planned steps before every step
    (``LossConfig.weight_at``; the plan follows ``schedule.total_steps`` as it is re-planned)."""

    def __init__(self, loss: LossConfig, variable, schedule):
        super().__init__()
        self.loss, self.variable, self.schedule = loss, variable, schedule

    def on_train_batch_begin(self, batch, logs=None):
        total = max(1, int(self.schedule.total_steps.numpy()))
        self.variable.assign(self.loss.weight_at(_step(self.model) / total))


class StopControl(keras.callbacks.Callback):
    """Stops training after the step that reaches ``schedule.total_steps``, after the step during
    which SIGINT/SIGTERM arrived (``handle_signal``; validation is cut short too), or when ``budget``
    is spent. With a budget, the total is re-planned once the speed is measured and after every
    validation. ``val_seconds``: seconds spent validating in this session."""

    def __init__(self, schedule, budget: TimeBudget | None, log: Callable[[str], None]):
        super().__init__()
        self.schedule, self.budget, self.log = schedule, budget, log
        self.signal: int | None = None
        self.val_seconds = 0.0
        self._val_t0 = 0.0
        self._clock = budget.clock if budget is not None else time.perf_counter  # one clock with the budget

    def handle_signal(self, signum, _frame) -> None:
        self.signal = signum
        self.log(f"received {signal.Signals(signum).name}: saving a checkpoint after this step")
        signal.signal(signum, signal.SIG_DFL)  # a second signal ends the process

    def total(self) -> int:
        return int(self.schedule.total_steps.numpy())

    def replan(self, step: int | None = None) -> None:
        """Apply the budget's plan at optimizer step ``step`` (default: the model's) to the schedule;
        logged when it moves by more than 1%."""
        if self.budget is None:
            return
        total = self.budget.plan(_step(self.model) if step is None else step)
        if total is None or total == self.total():
            return
        before = self.total()
        self.schedule.total_steps.assign(total)
        if abs(total - before) > 0.01 * before:
            speed = f"{self.budget.step_s * 1e3:.0f} ms/step" if self.budget.step_s else "earlier sessions' speed"
            self.log(f"time budget: planning {total} steps ({speed})")

    def on_train_batch_end(self, batch, logs=None):
        if self.budget is not None and self.budget.step_done():
            self.replan()
        spent = self.budget is not None and self.budget.exhausted()
        if self.budget is not None and _step(self.model) >= self.total():
            self.replan()  # the plan may have been too short: check it with the latest speed
        if self.signal is not None or spent or _step(self.model) >= self.total():
            self.model.stop_training = True

    def on_test_begin(self, logs=None):
        self._val_t0 = self._clock()

    def on_test_batch_end(self, batch, logs=None):
        if self.signal is not None:
            self.model.stop_evaluating = True

    def on_test_end(self, logs=None):
        seconds = self._clock() - self._val_t0
        self.val_seconds += seconds
        if self.budget is not None:
            self.budget.validation_done(seconds, complete=self.signal is None)

    def on_epoch_end(self, epoch, logs=None):
        self.replan()


class RunLogs(keras.callbacks.Callback):
    """Adds to each epoch's ``logs`` (the dict the later callbacks receive): ``step`` (optimizer steps
    done), ``seconds`` (wall time of the run over all sessions), ``learning_rate`` (the schedule's
    value for the next step) and ``sdl_weight`` (the w in force).

    ``history``: RUN/history.csv; when it exists with other columns than this run logs (a file
    written by an older sdnet), it is rewritten with these columns (absent values left empty) before
    CSVLogger appends to it, so every row stays under its own header."""

    def __init__(self, elapsed: Callable[[], float], schedule, weight: Callable[[], float],
                 history: Path | None = None):
        super().__init__()
        self.elapsed, self.schedule, self.weight, self.history = elapsed, schedule, weight, history

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        step = _step(self.model)
        logs.update(step=step, seconds=round(self.elapsed(), 2), learning_rate=float(self.schedule(step)),
                    sdl_weight=float(self.weight()))
        if self.history is not None:
            match_history_columns(self.history, ["epoch", *sorted(logs)])
            self.history = None


def match_history_columns(path: Path, columns: list[str]) -> bool:
    """Rewrite the CSV file ``path`` in place under ``columns`` when its header differs (values of
    columns it lacks left empty, columns not in ``columns`` dropped); True when rewritten. In place,
    so a writer that holds the file open for appending keeps appending to it."""
    path = Path(path)
    if not path.is_file():
        return False
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
        fields = list(rows[0].keys()) if rows else []
    if not rows or fields == columns:
        return False
    with open(path, "r+", newline="") as f:
        f.truncate(0)
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return True


def history_logger(path: Path) -> keras.callbacks.CSVLogger:
    """RUN/history.csv: one row per epoch, the epoch (from 0) then the logs' keys in sorted order
    (losses and metrics, their ``val_`` counterparts, and RunLogs's columns); appended to on resume."""
    return keras.callbacks.CSVLogger(str(path), append=True)


def tensorboard(log_dir: Path) -> keras.callbacks.TensorBoard:
    """TensorBoard event files of every epoch's logs in ``log_dir/train`` and ``log_dir/validation``."""
    return keras.callbacks.TensorBoard(str(log_dir), write_graph=False, update_freq="epoch")


class SaveCheckpoint(keras.callbacks.Callback):
    """At every epoch end: the epochs done and the run's seconds into their checkpoint variables, then
    a checkpoint numbered by the optimizer step."""

    def __init__(self, manager, epochs_done, seconds, elapsed: Callable[[], float]):
        super().__init__()
        self.manager, self.epochs_done, self.seconds, self.elapsed = manager, epochs_done, seconds, elapsed

    def on_epoch_end(self, epoch, logs=None):
        self.epochs_done.assign(epoch + 1)
        self.seconds.assign(self.elapsed())
        self.manager.save(checkpoint_number=_step(self.model))


class ProgressLog(keras.callbacks.Callback):
    """``epoch N: step S, loss L, val mean error E mm`` after every epoch (N from 1)."""

    def __init__(self, log: Callable[[str], None]):
        super().__init__()
        self.log = log

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        msg = f"epoch {epoch + 1}: step {_step(self.model)}, loss {logs.get('loss', float('nan')):.4g}"
        if "val_mean_error_mm" in logs:
            msg += f", val mean error {logs['val_mean_error_mm']:.2f} mm"
        self.log(msg)
