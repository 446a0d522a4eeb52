"""The Keras callbacks of a training run (``pipeline.train`` passes them to ``fit``):

  WeightSchedule   sets the scheduled skeleton-loss weight w before every step
  StopControl      ends fit when the RunLength says the run is done (the plan reached, the time budget
                   spent) or after the step during which SIGINT/SIGTERM arrived; tells the RunLength
                   when validation passes begin and end
  SaveCheckpoint   the checkpoint at every epoch end (after a stop too)
  RunHistory       RUN/history.csv and the TensorBoard scalars in RUN/logs, one record per epoch:
                   Keras's losses and metrics plus step, seconds, learning_rate and sdl_weight
  ProgressLog      one line per epoch for the user

Each computes what it records from the model, the RunLength and the checkpoint variables; none adds
keys to Keras's shared ``logs`` dict or reads keys another put there, so what they do does not depend
on their order. ``pipeline.train`` passes them in the order above; it shows only in the output:
ProgressLog last, so that its line means the epoch is recorded and checkpointed.

Epochs are numbered from 0 in history.csv and TensorBoard (Keras's convention) and go on from the
checkpoint's count on ``--resume``; the log line counts from 1, like Keras's progress bar.
"""
from __future__ import annotations

import csv
import signal
from typing import Callable

import keras
import tensorflow as tf

from pipeline.config import LossConfig
from pipeline.rundir import RunDir
from pipeline.training.length import RunLength


def _step(model) -> int:
    return int(model.optimizer.iterations.numpy())


class WeightSchedule(keras.callbacks.Callback):
    """Sets ``variable`` to w at the current fraction of the planned steps before every step
    (``LossConfig.weight_at``; the plan is ``length.total()``, which follows the re-plans)."""

    def __init__(self, loss: LossConfig, variable, length: RunLength):
        super().__init__()
        self.loss, self.variable, self.length = loss, variable, length

    def on_train_batch_begin(self, batch, logs=None):
        self.variable.assign(self.loss.weight_at(_step(self.model) / max(1, self.length.total())))


class StopControl(keras.callbacks.Callback):
    """Stops training after the step at which ``length.step_done`` says so, or after the step during
    which SIGINT/SIGTERM arrived (``handle_signal``; a validation pass is cut short too). Reports the
    validation passes to ``length`` (the time budget leaves them out of the step time and re-plans
    after each)."""

    def __init__(self, length: RunLength, log: Callable[[str], None]):
        super().__init__()
        self.length, self.log = length, log
        self.signal: int | None = None

    def handle_signal(self, signum, _frame) -> None:
        self.signal = signum
        self.log(f"received {signal.Signals(signum).name}: saving a checkpoint after this step")
        signal.signal(signum, signal.SIG_DFL)  # a second signal ends the process

    def on_train_batch_end(self, batch, logs=None):
        done = self.length.step_done(_step(self.model))  # every step counts, signal or not
        if done or self.signal is not None:
            self.model.stop_training = True

    def on_test_begin(self, logs=None):
        self.length.validation_begins()

    def on_test_batch_end(self, batch, logs=None):
        if self.signal is not None:
            self.model.stop_evaluating = True

    def on_test_end(self, logs=None):
        self.length.validation_ends(_step(self.model), complete=self.signal is None)


class RunHistory(keras.callbacks.Callback):
    """The run's records, appended to on ``--resume``: one per epoch, Keras's epoch logs (losses and
    metrics, ``val_`` for the validation pass) plus ``step`` (optimizer steps done), ``seconds``
    (wall time of the run over all sessions, ``length.elapsed``), ``learning_rate`` (the schedule's
    value for the next step) and ``sdl_weight`` (``weight()``, the w in force).

      RUN/history.csv  column ``epoch`` then the record's keys sorted; the header when the file is new
      RUN/logs         TensorBoard: scalars ``epoch_<key>`` in ``train/``, the ``val_`` ones (prefix
                       dropped) in ``validation/``, x axis the epoch; after each validation pass also
                       ``evaluation_<metric>_vs_iterations`` in ``validation/`` at the optimizer step
                       (what keras.callbacks.TensorBoard writes)"""

    def __init__(self, run: RunDir, length: RunLength, weight: Callable[[], float]):
        super().__init__()
        self.run, self.length, self.weight = run, length, weight
        self._columns: list[str] | None = None
        self._writers: dict = {}

    def record(self, logs: dict) -> dict:
        step = _step(self.model)
        return {**logs, "step": step, "seconds": round(self.length.elapsed(), 2),
                "learning_rate": float(self.length.schedule(step)), "sdl_weight": float(self.weight())}

    def on_epoch_end(self, epoch, logs=None):
        record = self.record(logs or {})
        self._append_row({"epoch": epoch, **record})
        self._scalars("train", {f"epoch_{k}": v for k, v in record.items() if not k.startswith("val_")}, epoch)
        self._scalars("validation", {f"epoch_{k[4:]}": v for k, v in record.items() if k.startswith("val_")},
                      epoch)

    def on_test_end(self, logs=None):
        self._scalars("validation", {f"evaluation_{k}_vs_iterations": v for k, v in (logs or {}).items()},
                      _step(self.model))

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def _append_row(self, row: dict) -> None:
        path = self.run.history
        if self._columns is None:  # the columns of the session's first record
            self._columns = ["epoch", *sorted(k for k in row if k != "epoch")]
        new = not path.is_file() or path.stat().st_size == 0
        with open(path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self._columns, restval="NA", extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)

    def _scalars(self, part: str, values: dict, step: int) -> None:
        if not values:
            return
        if part not in self._writers:
            self._writers[part] = tf.summary.create_file_writer(str(self.run.logs / part))
        with self._writers[part].as_default():
            for name, value in values.items():
                tf.summary.scalar(name, value, step=step)
        self._writers[part].flush()


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
