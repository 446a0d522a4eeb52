"""``sdnet bench`` entry 'refine': speed of the hierarchical refinement (models/refine.py).

Synthetic input (no files): hands with mean bone lengths and random finger directions, depth images
of discs at the joints, CNN estimates = truth + 5 mm noise, 4 sequences of consecutive frames (so
the temporal term runs), the default RefineConfig, a prior fitted on other synthetic poses. The
per-frame figures include building the summed-area tables.
"""
from __future__ import annotations

import numpy as np

from eval.bench import median_seconds
from models.prior import fit_bone_prior
from models.refine import candidates_per_joint, refine_poses
from pipeline.camera import xyz_to_uvd
from pipeline.config import RefineConfig
from pipeline.icvl import ICVL_BACKGROUND
from pipeline.joint_error import mean_joint_error_mm
from pipeline.datasets import ICVL
from pipeline.skeleton import Skeleton

BATCH = 256
DATASET = ICVL  # the benchmark's frames: its skeleton (with known bone lengths) and camera


def _random_hands(rng: np.random.Generator, n: int, sk: Skeleton) -> np.ndarray:
    """(n, J, 3) camera mm: hands about 350 mm away, fingers roughly up, ``sk``'s mean bone lengths."""
    joints = np.zeros((n, sk.num_joints, 3))
    joints[:, sk.root] = np.stack([rng.uniform(-40, 40, n), rng.uniform(-30, 30, n), rng.uniform(300, 400, n)], 1)
    for child, parent in enumerate(sk.parents):
        if parent < 0:
            continue
        d = np.array([0.0, -1.0, 0.0]) + rng.normal(0, 0.5, (n, 3))
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        joints[:, child] = joints[:, parent] + d * sk.bone_length_mm[sk.bone_index(child)][0]
    return joints


def _disc_depth(joints: np.ndarray, radius_mm: float = 9.0) -> np.ndarray:
    """(n, H, W) uint16 depth mm: a disc at every joint, background 32001."""
    intr = DATASET.camera
    vv, uu = np.mgrid[0:intr.height, 0:intr.width]
    out = np.full((len(joints), intr.height, intr.width), ICVL_BACKGROUND, np.uint16)
    for i, uvd in enumerate(xyz_to_uvd(joints, intr)):
        for u, v, d in uvd:
            r = radius_mm * intr.fx / d
            out[i][(uu - u) ** 2 + (vv - v) ** 2 <= r * r] = np.uint16(d)
    return out


def bench_refine(quick: bool = False) -> dict:
    rng = np.random.default_rng(0)
    sk, intr = DATASET.skeleton, DATASET.camera
    prior = fit_bone_prior(_random_hands(rng, 2000, sk) + rng.normal(0, 1.0, (2000, sk.num_joints, 3)), sk)
    truth = _random_hands(rng, BATCH, sk)
    depth = _disc_depth(truth)
    band = np.stack([truth[:, :, 2].min(1) - 60, truth[:, :, 2].max(1) + 60], axis=1)  # (N, 2) mm
    cnn = truth + rng.normal(0, 5.0, truth.shape)
    seq = np.repeat(np.arange(4), BATCH // 4)
    idx = np.tile(np.arange(BATCH // 4), 4)
    cfg = RefineConfig()

    def run(n: int):
        return refine_poses(cnn[:n], depth[:n], band[:n], intr, prior, sk, cfg, seq[:n], idx[:n])

    run(1), run(BATCH)  # trace once
    t1 = median_seconds(lambda: run(1), 10 if quick else 50)
    tb = median_seconds(lambda: run(BATCH), 2 if quick else 7)
    refined = run(BATCH)
    return {
        "refine_ms_per_frame_batch1": 1e3 * t1,
        "refine_ms_per_frame_batched": 1e3 * tb / BATCH,
        "refine_batched_frames": BATCH,
        "refine_candidates_per_joint": candidates_per_joint(cfg),
        "refine_bench_error_before_mm": mean_joint_error_mm(cnn, truth),
        "refine_bench_error_after_mm": mean_joint_error_mm(refined, truth),
    }
