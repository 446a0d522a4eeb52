"""The per-angle thresholds of the skeleton loss's penalty F, derived from the training labels when a run
starts and kept in its config.json (``loss.angle_thresholds_deg``)."""
from __future__ import annotations

import dataclasses

import numpy as np

from models.losses import angle_thresholds
from pipeline.config import NO_AUGMENT, TrainConfig
from pipeline.rundir import run_skeleton
from pipeline.training.data import DataSource, training_poses


def with_angle_thresholds(cfg: TrainConfig, data: DataSource, saved: TrainConfig | None = None,
                          n: int = 8192) -> TrainConfig:
    """``cfg`` with ``loss.angle_thresholds_deg`` filled in when ``threshold_deg`` is None: taken
    from ``saved`` (a resumed run keeps its thresholds) or derived from about ``n`` training labels,
    not augmented (the ``threshold_percentile`` of each bone-pair angle, degrees)."""
    loss = cfg.loss
    if loss.threshold_deg is not None or loss.angle_thresholds_deg:
        return cfg
    if saved is not None and saved.loss.angle_thresholds_deg and \
            saved.loss.threshold_percentile == loss.threshold_percentile:
        values = saved.loss.angle_thresholds_deg
    else:
        poses = training_poses(data, dataclasses.replace(cfg, augment=NO_AUGMENT), n)
        values = np.degrees(angle_thresholds(poses, loss.threshold_percentile, run_skeleton(cfg)))
    loss = dataclasses.replace(loss, angle_thresholds_deg=tuple(round(float(v), 3) for v in values))
    return dataclasses.replace(cfg, loss=loss)
