"""The files of a run directory: their names and ``RunDir``, which joins them to a run's path.

A run directory (``RUN``) is self-contained: everything ``sdnet predict`` needs is inside it, so it can be
copied to another machine and used without the dataset it was trained on.

  config.json        the resolved experiment (TrainConfig; itself an experiment file that repeats the
                     run), with the facts of the data it was trained on (camera, skeleton, counts)
                                                                    written by ``sdnet train``
  batch_check.png    one training batch with its joints drawn     ``sdnet train``
  checkpoints/       tf.train checkpoints for ``--resume``         ``sdnet train``
  logs/              TensorBoard event files                       ``sdnet train``
  history.csv        one row per epoch: losses, errors [mm], learning rate, seconds   ``sdnet train``
  model.keras        the trained pose network                      ``sdnet train``
  summary.json       final validation error [mm], steps, wall time  ``sdnet train`` (written last)
  prior.json         the bone-length mixture (fitted on the training split)   ``sdnet fit-refine``
  refine.json        the refinement weights chosen on the validation split   ``sdnet fit-refine``
  centre.keras       the learned hand-centre refinement             ``sdnet fit-centre``
  centre.json        its mean offset, crop and validation figures   ``sdnet fit-centre``

Only the stages named above write; ``sdnet eval`` and ``sdnet predict`` only read. Paths here are plain
``pathlib.Path`` objects. The loaders of these files are in ``pipeline.rundir`` (which loads Keras); this
module imports nothing heavy, for the readers of a run's plain files (history, summary).
"""
from __future__ import annotations

from pathlib import Path

CONFIG_FILE = "config.json"
BATCH_PICTURE = "batch_check.png"
CHECKPOINT_DIR = "checkpoints"
LOG_DIR = "logs"
HISTORY_FILE = "history.csv"
MODEL_FILE = "model.keras"
SUMMARY_FILE = "summary.json"
PRIOR_FILE = "prior.json"
REFINE_FILE = "refine.json"
CENTRE_MODEL_FILE = "centre.keras"
CENTRE_FILE = "centre.json"


class RunDir:
    """The files of one run directory (``RunDir(path).model`` is ``path / 'model.keras'``, ...)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __fspath__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    config = property(lambda self: self.path / CONFIG_FILE)
    batch_picture = property(lambda self: self.path / BATCH_PICTURE)
    checkpoints = property(lambda self: self.path / CHECKPOINT_DIR)
    logs = property(lambda self: self.path / LOG_DIR)
    history = property(lambda self: self.path / HISTORY_FILE)
    model = property(lambda self: self.path / MODEL_FILE)
    summary = property(lambda self: self.path / SUMMARY_FILE)
    prior = property(lambda self: self.path / PRIOR_FILE)
    refine = property(lambda self: self.path / REFINE_FILE)
    centre_model = property(lambda self: self.path / CENTRE_MODEL_FILE)
    centre = property(lambda self: self.path / CENTRE_FILE)

    @property
    def has_refinement(self) -> bool:
        """True when the run holds a fitted refinement (prior.json and refine.json)."""
        return self.prior.is_file() and self.refine.is_file()
