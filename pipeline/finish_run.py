"""What ``sdnet train`` does after the pose network is trained, so that the run it leaves can predict and
be evaluated: fit the refinement (``pipeline.fit_refine``) and train the learned hand-centre refinement
(``pipeline.centre_refiner``) on the same data, as the experiment's ``refine.fit`` and
``centre_refiner.fit`` say. ``sdnet fit-refine`` and ``sdnet fit-centre`` refit them alone."""
from __future__ import annotations

from pathlib import Path

from pipeline.centre_refiner import train_centre_refiner
from pipeline.config import TrainConfig
from pipeline.fit_refine import fit_refinement


def finish_run(cfg: TrainConfig, run_dir: Path, data_dir: Path, progress: bool = True) -> list[str]:
    """Fit the parts of a trained run its experiment asks for; returns their names ('refinement',
    'centre refiner')."""
    done = []
    if cfg.refine.fit:
        fit_refinement(run_dir, data_dir, cfg.refine, progress=progress)
        done.append("refinement")
    if cfg.centre_refiner.fit:
        train_centre_refiner(data_dir, run_dir, cfg.centre_refiner.steps, cfg.centre_refiner.batch_size, cfg.seed,
                             progress=progress)
        done.append("centre refiner")
    return done
