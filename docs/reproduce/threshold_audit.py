"""How many bone-pair angles of a set of labels exceed the angle penalty's thresholds.

Compares the old constant (110 degrees) with the per-angle thresholds a run derived from its
training labels (RUN/config.json, loss.angle_thresholds_deg). The labels are only counted here, never
fitted: the thresholds come from the training split.

    .venv/bin/python docs/reproduce/threshold_audit.py RUN LABELS.txt [LABELS.txt ...]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from models.losses import bone_angles
from pipeline.camera import ICVL_INTRINSICS, uvd_to_xyz
from pipeline.icvl import read_label_file
from pipeline.skeleton import ICVL_SKELETON

PAIRS = [f"{finger} {joint}" for finger in ("thumb", "index", "middle", "ring", "pinky") for joint in ("root", "mid")]


def main(run: str, *label_files: str) -> None:
    derived = np.array(json.loads((Path(run) / "config.json").read_text())["loss"]["angle_thresholds_deg"])
    uvd = np.stack([r.uvd for f in label_files for r in read_label_file(Path(f), ICVL_SKELETON.num_joints)[0]])  # (N, J, 3)
    theta = np.degrees(bone_angles(uvd_to_xyz(uvd, ICVL_INTRINSICS).astype("float32"), ICVL_SKELETON).numpy())  # (N, 10)
    print(f"{len(theta)} poses from {', '.join(Path(f).name for f in label_files)}")
    print("| angle | derived threshold (deg) | poses above it | above 110 deg | max (deg) |")
    print("|---|---:|---:|---:|---:|")
    for k, name in enumerate(PAIRS):
        print(f"| {name} | {derived[k]:.1f} | {int((theta[:, k] >= derived[k]).sum())} | "
              f"{int((theta[:, k] >= 110).sum())} | {theta[:, k].max():.1f} |")
    print(f"| all | | {int((theta >= derived).sum())} | {int((theta >= 110).sum())} | {theta.max():.1f} |")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
