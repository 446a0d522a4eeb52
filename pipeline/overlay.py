"""Overlay pictures of ``sdnet predict``: a depth frame with the predicted skeleton drawn on it."""
from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from PIL import Image, ImageDraw

from pipeline.icvl import background_mask
from pipeline.skeleton import Skeleton, joint_colours


def _depth_colours(depth: np.ndarray, near_far: tuple[float, float] | None) -> np.ndarray:
    """(H, W, 3) uint8: foreground depth coloured with the 'bone' colormap (near = light), far or
    background pixels black. ``near_far`` [mm] is the range spread over the colormap."""
    d = depth.astype(np.float64)
    fg = ~background_mask(depth)
    if near_far is None:
        vals = d[fg]
        near_far = (np.percentile(vals, 1), np.percentile(vals, 99)) if vals.size else (0.0, 1.0)
    lo, hi = near_far
    t = np.clip((hi - d) / max(hi - lo, 1e-6), 0.0, 1.0)  # 1 = near
    lut = (colormaps["bone"](np.linspace(0.25, 0.95, 256))[:, :3] * 255).astype(np.uint8)
    rgb = lut[np.round(t * 255).astype(int)]
    rgb[~fg | (d > hi)] = 0
    return rgb


def overlay_image(depth: np.ndarray, uvd: np.ndarray | None, skeleton: Skeleton,
                  band: tuple[float, float] | None = None, scale: int = 2, note: str = ""):
    """A PIL image of a depth frame (H, W) uint16 mm with the ``skeleton``'s joints uvd (J, 3)
    [px, px, mm] drawn, every bone in the colour of the joint it ends at (``skeleton.joint_colours``:
    the finger colours of the eval figures, joints in no part grey; the root white), magnified
    ``scale`` times."""
    img = Image.fromarray(_depth_colours(depth, band)).resize(
        (depth.shape[1] * scale, depth.shape[0] * scale), Image.NEAREST)
    draw = ImageDraw.Draw(img)
    if uvd is not None:
        pts = (np.asarray(uvd)[:, :2] + 0.5) * scale - 0.5  # pixel centres in the magnified image
        colours = joint_colours(skeleton)
        for parent, child in skeleton.bones:
            draw.line([tuple(pts[parent]), tuple(pts[child])], fill=colours[child], width=max(1, scale + 1))
            u, v = pts[child]
            draw.ellipse((u - scale - 1, v - scale - 1, u + scale + 1, v + scale + 1), fill=colours[child])
        u, v = pts[skeleton.root]
        draw.ellipse((u - scale - 2, v - scale - 2, u + scale + 2, v + scale + 2), fill="white")
    if note:
        draw.text((4, 4), note, fill="white")
    return img
