"""``sdnet reproduce``: the paper's Table 1 on our data, with the spread over seeds, paired comparisons
with each setting's baseline, and learning-curve evidence of convergence.

For every seed and every setting (``settings``) one training run of the same base experiment
(``--config FILE`` with ``--set`` overrides; ``make reproduce``: ``configs/table1.json``) with the
setting's loss keys and the seed set is made, its refinement fitted on the data dir's train and val
splits as the experiment's refine section says, then it is evaluated without and with the refinement
on
  (a) ``synthetic``: the data dir's test split,
  (b) ``icvl_poses``: the real ICVL test poses (``test_seq_1.txt``, ``test_seq_2.txt``) rendered by
      ``sdnet synth --poses`` and converted by ``sdnet data`` with the data dir's crop, cube and
      centre settings; evaluation only, and
  (c) every ``--extra-test NAME=DATA_DIR``: the test split of another data dir of the same crop
      size and cube.

Modules, one job each:
  settings   the study plan: settings, their names and tags, baseline pairing, the base experiment,
             command line
  runs       resumable trainings, their refinement and evals, the ICVL poses, calibration
  scoring    per-run numbers, spreads, paired differences, convergence, results.json's content
  prose      the paper's findings checked on the numbers, and the paragraphs that say so
  tables     table1.md
  figures    per-joint, success and learning-curve figures
  study      the driver, ``reproduce``

Output directory (``DIR``):
  reproduce.json          the base experiment every run starts from, every setting ever trained
                          here (tag -> overrides) and the wall-clock time of each session
  runs/<tag>_s<seed>/     training run dirs (tag: ``setting_tag``, e.g. w0.5, w0.03-joint_loss=distance)
  evals/<testset>/<tag>_s<seed>/   ``sdnet eval`` reports (metrics.json, figures, report.md)
  icvl_poses_tree/, icvl_poses_data/   the rendered ICVL test poses and their TFRecords
  results.json            every number behind the tables, per test set and setting (values per seed,
                          paired differences with intervals), the convergence numbers, the base
                          experiment (``experiment``; ``train``: what it changes from the default one)
  table1.md               the tables (mean over seeds +- sample standard deviation, the paper's numbers
                          beside ours, Δ vs baseline with 95% intervals), the findings paragraphs, the
                          convergence table and the run's duration
  per_joint_<testset>.png, success_max_frame_<testset>.png   every setting, means over seeds
  learning_curves.png     validation error against training step, one colour per setting

Calibration (``--candidate``): each candidate setting is trained with the first seed only; the one
of lowest *validation* error (never the test splits) joins the settings and is trained with every
seed. The candidates' validation errors and learning curves are reported (``calibration`` in
results.json, ``calibration_curves.png``).

Resumable: a run with a summary.json and an eval with a metrics.json are not redone; an
interrupted run continues from its checkpoint; settings may be added to a directory in a later
invocation (the base experiment must stay the same).
"""
from __future__ import annotations

from pipeline.reproduce.settings import (DEFAULT_WEIGHTS, SMOKE_TRAIN, ReproduceOptions, parse_extra_test,
                                         parse_setting, pure_w, setting_from_tuning)
from pipeline.reproduce.study import reproduce

__all__ = ["DEFAULT_WEIGHTS", "SMOKE_TRAIN", "ReproduceOptions", "parse_extra_test", "parse_setting", "pure_w",
           "reproduce", "setting_from_tuning"]
