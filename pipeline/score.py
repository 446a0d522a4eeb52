"""Score ``sdnet predict``'s output on a labelled tree (ICVL, NYU): the joints' error against the labels.

Only the frames with a hand (status "ok") are scored; the share of frames with a hand is reported
beside the error, so a method cannot look better by finding fewer hands.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.camera import Intrinsics, uvd_to_xyz
from pipeline.datasets import Dataset
from pipeline.joint_error import joint_errors_mm, mean_joint_error_mm


def tree_labels(root: Path, dataset: Dataset, intr: Intrinsics) -> dict[str, np.ndarray]:
    """{image path as predict names it (the PNG's path under ``root``): uvd (J, 3) [px, px, mm], the
    dataset's joints} of every labelled frame the dataset's reader lists in the tree at ``root`` (camera ``intr``)
    (``Dataset.list_frames``; rejected frames and bad label lines are left out: predict reads paths only)."""
    return {str(Path(f.image)): f.uvd for f in dataset.list_frames(Path(root), intr).frames}


def score_entries(entries: list[dict], labels: dict[str, np.ndarray], intr: Intrinsics) -> dict | None:
    """Error of predictions.json frame entries against ``labels`` (``tree_labels``), camera ``intr``.

    Returns None when no entry has a label; else {"labelled_frames", "frames_with_hand",
    "mean_error_mm" (final joints, mean over joints then frames), "cnn_mean_error_mm" (before the
    refinement, when refined), "max_joint_error_mm_median"}."""
    labelled = [e for e in entries if e["path"] in labels]
    if not labelled:
        return None
    ok = [e for e in labelled if e["status"] == "ok"]
    out = {"labelled_frames": len(labelled), "frames_with_hand": len(ok)}
    if not ok:
        return out
    gt = uvd_to_xyz(np.stack([labels[e["path"]] for e in ok]), intr)  # (N, J, 3) mm
    dist = joint_errors_mm(np.array([e["xyz"] for e in ok]), gt)  # (N, J)
    out["mean_error_mm"] = round(float(dist.mean()), 3)
    out["max_joint_error_mm_median"] = round(float(np.median(dist.max(axis=1))), 3)
    if "uvd_cnn" in ok[0]:
        cnn = uvd_to_xyz(np.array([e["uvd_cnn"] for e in ok]), intr)
        out["cnn_mean_error_mm"] = round(mean_joint_error_mm(cnn, gt), 3)
    return out
