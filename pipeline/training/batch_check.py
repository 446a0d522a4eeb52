"""The first training batch of a run, checked against its config before anything is written, and
its picture (RUN/batch_check.png): crops with their joints drawn."""
from __future__ import annotations

import io
import math

import numpy as np
from matplotlib.figure import Figure

from pipeline.config import TrainConfig
from pipeline.errors import SdnetError
from pipeline.rundir import run_skeleton
from pipeline.skeleton import Skeleton, joint_colours

# Normalized joints beyond this magnitude mean the labels were not divided by cube/2.
MAX_ABS_JOINT = 3.0


def check_batch(image: np.ndarray, joints: np.ndarray, cfg: TrainConfig, where: str = "training batch") -> dict:
    """Check one batch against the run config; SdnetError naming the problem; returns value ranges.

    image (B, S, S, 1) finite in [-1, 1] with S = crop size; joints (B, 3J), J of the run's skeleton
    (``rundir.run_skeleton``: the dataset's, which the manifest's recorded skeleton must match), finite,
    |value| <= MAX_ABS_JOINT (cube/2 units).
    """
    s, j = cfg.data.crop_size, run_skeleton(cfg).num_joints
    if image.ndim != 4 or image.shape[1:] != (s, s, 1):
        raise SdnetError(f"{where}: images of shape {image.shape[1:]}, expected ({s}, {s}, 1) from the manifest")
    if image.shape[1] != cfg.model.input_size:
        raise SdnetError(f"{where}: crop size {image.shape[1]} px but the model takes {cfg.model.input_size} px")
    if joints.ndim != 2 or joints.shape[1] != 3 * j:
        raise SdnetError(f"{where}: joints of shape {joints.shape[1:]}, expected ({3 * j},) for {j} joints")
    if not (np.isfinite(image).all() and np.isfinite(joints).all()):
        raise SdnetError(f"{where}: non-finite values in images or joints")
    lo, hi = float(image.min()), float(image.max())
    if lo < -1.001 or hi > 1.001:
        raise SdnetError(f"{where}: depth values in [{lo:.3g}, {hi:.3g}], expected [-1, 1]")
    if lo >= 0.999:
        raise SdnetError(f"{where}: every pixel is background (no hand in the crops)")
    jmax = float(np.abs(joints).max())
    if jmax > MAX_ABS_JOINT:
        raise SdnetError(f"{where}: |joint| up to {jmax:.3g}; expected joints normalized by cube/2 "
                         f"(<= {MAX_ABS_JOINT})")
    return {"image_min": lo, "image_max": hi, "joint_abs_max": jmax, "batch": int(image.shape[0])}


def batch_picture_png(image: np.ndarray, joints: np.ndarray, skeleton: Skeleton, max_crops: int = 16) -> bytes:
    """PNG bytes of up to ``max_crops`` crops (gray) with the ``skeleton``'s bones drawn, each part in
    its finger colour (``skeleton.joint_colours``: joints in no part in grey).

    Joints are placed at pixel ((x + 1) / 2 S, (y + 1) / 2 S) from the normalized x, y: exact for
    joints at the hand centre's depth, approximate (perspective) off it.
    """
    n = min(max_crops, image.shape[0])
    cols = int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    s = image.shape[1]
    fig = Figure(figsize=(2 * cols, 2 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    colours = joint_colours(skeleton)
    for k, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if k >= n:
            continue
        ax.imshow(image[k, :, :, 0], cmap="gray", vmin=-1, vmax=1)
        uv = (joints[k].reshape(-1, 3)[:, :2] + 1.0) / 2.0 * s  # (J, 2) pixels
        for parent, child in skeleton.bones:
            ax.plot(uv[[parent, child], 0], uv[[parent, child], 1], "-o", color=colours[child], ms=2, lw=1)
        ax.set_xlim(-0.5, s - 0.5)
        ax.set_ylim(s - 0.5, -0.5)
    fig.suptitle("batch check: joints at ((x+1)/2 S, (y+1)/2 S)", fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return buf.getvalue()
