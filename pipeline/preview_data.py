"""Montage of dataset crops with their joints drawn: ``sdnet data --preview PNG``."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from pipeline.fsutil import atomic_write_bytes
from pipeline.geometry import apply_affine
from pipeline.input import check_manifest, make_dataset, read_manifest
from pipeline.skeleton import Skeleton, joint_colours


def draw_crop(ax, image: np.ndarray, uv: np.ndarray, skeleton: Skeleton, title: str = "") -> None:
    """Draw one normalized crop (S, S) with the ``skeleton``'s joints at crop pixels ``uv`` (J, 2) on
    ``ax``, every bone in the colour of the joint it ends at (``skeleton.joint_colours``)."""
    ax.imshow(image, cmap="gray", vmin=-1, vmax=1)
    colours = joint_colours(skeleton)
    for parent, child in skeleton.bones:
        ax.plot(uv[[parent, child], 0], uv[[parent, child], 1], "-o", color=colours[child], lw=1.2, ms=2)
    ax.set_title(title, fontsize=7)
    ax.axis("off")


def write_data_preview(data_dir: Path, png: Path, per_split: int = 8, seed: int = 0) -> None:
    """Sample up to ``per_split`` records of each split and save a labelled montage to ``png``."""
    manifest = read_manifest(data_dir)
    skeleton = check_manifest(manifest, where=str(data_dir)).skeleton
    rows = []
    for split in ("train", "val", "test"):
        if not manifest["counts"].get(split):
            continue
        ds = make_dataset(data_dir, split, per_split, shuffle=split == "train", seed=seed,
                          with_meta=True, shuffle_buffer=256)
        image, _, meta = next(iter(ds))
        rows.append((split, image.numpy()[..., 0], meta))
    cols = max(len(r[1]) for r in rows)
    fig = Figure(figsize=(1.6 * cols, 1.8 * len(rows)))
    axes = fig.subplots(len(rows), cols, squeeze=False)
    for r, (split, images, meta) in enumerate(rows):
        for c in range(cols):
            ax = axes[r, c]
            if c >= len(images):
                ax.axis("off")
                continue
            affine = meta["affine"][c].numpy().reshape(2, 3)
            uv = apply_affine(affine, meta["uvd"][c].numpy()[:, :2])
            title = f"{split} {meta['sequence'][c].numpy().decode()}#{int(meta['frame'][c])}"
            title += f" {float(meta['angle_deg'][c]):.0f}°"
            draw_crop(ax, images[c], uv, skeleton, title)
    fig.suptitle(f"{data_dir}: crops (depth, near = dark) with labelled joints", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    atomic_write_bytes(Path(png), buf.getvalue())
