"""The balance weight of a trained run under both readings of Eq. 1.

For each validation batch of DATA, the gradients of the batch-mean joint loss (squared or distance
reading) and of the unweighted batch-mean psi_SDL with respect to the network's outputs are taken at
the run's predictions (``models.losses.gradient_norms``); balance w = |g_D| / |g_SDL| is the SDL
weight at which both pull equally hard. Prints the median over batches per reading, and the share
w|g_SDL| / (|g_D| + w|g_SDL|) the paper's weights would carry. Validation data only.

    .venv/bin/python docs/reproduce/balance_audit.py RUN DATA
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from models.losses import gradient_norms
from pipeline.input import make_dataset
from pipeline.rundir import load_model, load_run_config, run_skeleton
from pipeline.training.build import sdl_kwargs


def main(run: str, data: str) -> None:
    model = load_model(Path(run))
    cfg = load_run_config(Path(run))
    sdl, skeleton = sdl_kwargs(cfg.loss), run_skeleton(cfg)
    norms = {"squared": [], "distance": []}
    for image, joints in make_dataset(Path(data), "val", 64):
        pred = model(image, training=False)
        for reading in norms:
            g_d, g_s = gradient_norms(joints, pred, skeleton, reading, **sdl)
            norms[reading].append((float(g_d), float(g_s)))
    print(f"run {run}, validation split of {data}")
    print("| joint loss | median balance w | share at w = 0.125 | 0.25 | 0.5 |")
    print("|---|---:|---:|---:|---:|")
    for reading, pairs in norms.items():
        d, s = np.array(pairs).T
        bal = float(np.median(d / s))
        shares = " | ".join(f"{w / (bal + w):.2f}" for w in (0.125, 0.25, 0.5))
        print(f"| {reading} | {bal:.4f} | {shares} |")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
