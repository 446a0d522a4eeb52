"""Montage of dataset crops with their joints drawn: ``sdnet data --preview PNG``."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from pipeline.fsutil import atomic_write_bytes
from pipeline.geometry import apply_affine
from pipeline.input import make_dataset, read_manifest
from pipeline.skeleton import ICVL_SKELETON

# One colour per part (thumb .. pinky), in ICVL_SKELETON.part_chains order.
FINGER_COLOURS = ("tab:red", "tab:orange", "tab:green", "tab:blue", "tab:purple")


def draw_crop(ax, image: np.ndarray, uv: np.ndarray, title: str = "") -> None:
    """Draw one normalized crop (S, S) with joints at crop pixels ``uv`` (J, 2) on ``ax``."""
    ax.imshow(image, cmap="gray", vmin=-1, vmax=1)
    for part, colour in zip(ICVL_SKELETON.part_chains, FINGER_COLOURS):
        ax.plot(uv[list(part), 0], uv[list(part), 1], "-o", color=colour, lw=1.2, ms=2)
    ax.set_title(title, fontsize=7)
    ax.axis("off")


def write_data_preview(data_dir: Path, png: Path, per_split: int = 8, seed: int = 0) -> None:
    """Sample up to ``per_split`` records of each split and save a labelled montage to ``png``."""
    manifest = read_manifest(data_dir)
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
            draw_crop(ax, images[c], uv, title)
    fig.suptitle(f"{data_dir}: crops (depth, near = dark) with labelled joints", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    atomic_write_bytes(Path(png), buf.getvalue())
