"""The parts of ``sdnet train`` (the entry point and fit loop are ``pipeline.train``).

  thresholds    the skeleton loss's per-angle thresholds, derived from the training labels
  data          where batches come from (DataSource over a data dir or arrays); validation error [mm]
  batch_check   the first batch checked against the config, and its picture
  distribute    tf.distribute strategy, cluster role, multi-worker input and Keras fixes, peer failure
  schedule      the warm-up + cosine learning rate
  length        how long a run trains: steps, epochs, time budget, re-planning on resume (RunLength)
  budget        the wall-clock budget: total steps re-planned from the measured speed
  callbacks     the Keras callbacks of a run: stop, extra log columns, checkpoints, w schedule, logs
  build         model, optimizer, loss and metrics, checkpoint; restore for ``--resume``

Design notes: docs/design/training.md.
"""
