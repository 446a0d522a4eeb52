"""A learned full-frame hand localizer: where in a whole depth frame is the (right) hand's palm joint.

The rule-based hand centre (nearest depth blob, ``pipeline.geometry``) fails on camera frames where
the other arm, the body or a chair is nearer than the hand; ``models.locator`` looks at the whole
frame instead. This module holds its frame geometry, targets, augmentation, training, storage and
application.

Frames. A depth frame (H, W) in mm of any size is letterboxed to the work size (h, w) (default
120 x 160): scale s = min(w / W, h / H), centred, padded with background, sampled at the nearest
source pixel (pixel centres: work px = (px + 0.5) s + offset - 0.5). Depth is normalized per frame:
x = clip((d - ref) / ``DEPTH_SCALE_MM``, -1, 1) with ref the median of the frame's valid pixels (mm);
background and invalid pixels (0 and >= ``INVALID_MM``, as ``pipeline.icvl.background_mask``) are +1.

Chirality. The localizer finds a RIGHT hand as a camera sees it. A dataset whose images show a left
hand (``Dataset.image_hand`` 'left': ICVL) is mirrored left-right for training; no flips are
augmented. To find a user's left hand the caller mirrors the frame first (``Intrinsics.mirrored``).

Targets. The palm joint (the skeleton's root) in image uvd goes through the letterbox and the
augmentation to the output grid (stride ``models.locator.STRIDE``): a Gaussian of ``SIGMA_CELLS``
cells, exactly 1 at the nearest cell; the depth target (normalized like the input) weighted by that
Gaussian. Negatives (share ``NEGATIVE_SHARE``; all-zero heatmap, no depth weight) are made two ways,
half each: a zoom (``NEGATIVE_ZOOM``) into a part of the frame that leaves the hand (a disc of
``HAND_RADIUS_MM`` about the palm) out of view; or the hand's pixels blanked to background (pixels
within that disc in the image and within ``HAND_RADIUS_MM`` of the palm's depth), the rest of the
scene kept (arm, body, distractors).

Augmentation (camera independence): a zoom of ``ZOOM`` (log-uniform; other focal lengths and fields of
view) about a random point (``SHIFT`` of the work size), depth noise (sd up to ``NOISE_MM``) and
pixel dropout (up to ``DROPOUT`` of the pixels).

Files (in a run or any directory): ``locator.keras`` (the network) and ``locator.json`` (work size,
normalization, training settings, validation figures, the confidence threshold).
"""
from __future__ import annotations

import functools
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from models.locator import STRIDE, build_locator_model, locator_loss, training_model
from pipeline.camera import Intrinsics, uvd_to_xyz
from pipeline.datasets import FrameItem, get_dataset
from pipeline.errors import SdnetError
from pipeline.fsutil import write_json

LOCATOR_MODEL = "locator.keras"
LOCATOR_META = "locator.json"

WORK_HEIGHT, WORK_WIDTH = 120, 160
DEPTH_SCALE_MM = 500.0       # normalized depth unit
INVALID_MM = 32001           # depth at or beyond this (and 0) is background
SIGMA_CELLS = 1.25           # heatmap Gaussian, output cells
NEGATIVE_SHARE = 0.25        # share of training samples without the hand
HAND_RADIUS_MM = 110.0       # what counts as "the hand" around the palm for negatives
ZOOM = (0.6, 1.6)            # zoom of positives (1 = the letterboxed frame)
NEGATIVE_ZOOM = (1.3, 2.5)   # zoom of crop-away negatives
SHIFT = 0.25                 # translation, share of the work width / height, each way
NOISE_MM = 8.0               # depth noise sd, drawn uniformly up to this per frame
DROPOUT = 0.1                # pixel dropout share, drawn uniformly up to this per frame
VAL_SEQUENCE_SHARE = 0.15    # training sequences held out for validation
KEEP_POSITIVES = 0.99        # the threshold keeps this share of the validation positives
FAR_MM = 40.0                # validation: share of frames with a centre error beyond this


# ----------------------------------------------------------------------------- frame geometry

@dataclass(frozen=True)
class Letterbox:
    """Source image (src_width x src_height px) -> work grid (width x height px): work = (src + 0.5)
    scale + offset - 0.5 per axis (pixel centres), the same scale on both axes."""

    src_width: int
    src_height: int
    width: int
    height: int
    scale: float
    offset_u: float
    offset_v: float

    def to_work(self, u, v):
        """Source px (u, v) (arrays or floats) -> work px."""
        return ((np.asarray(u, np.float64) + 0.5) * self.scale + self.offset_u - 0.5,
                (np.asarray(v, np.float64) + 0.5) * self.scale + self.offset_v - 0.5)

    def to_source(self, uw, vw):
        """Work px (uw, vw) -> source px; the inverse of ``to_work``."""
        return ((np.asarray(uw, np.float64) + 0.5 - self.offset_u) / self.scale - 0.5,
                (np.asarray(vw, np.float64) + 0.5 - self.offset_v) / self.scale - 0.5)


def letterbox(src_width: int, src_height: int, width: int = WORK_WIDTH, height: int = WORK_HEIGHT) -> Letterbox:
    """The letterbox of a src_width x src_height px image into width x height px, centred."""
    scale = min(width / src_width, height / src_height)
    return Letterbox(src_width, src_height, width, height, scale,
                     (width - src_width * scale) / 2.0, (height - src_height * scale) / 2.0)


def resample_frame(depth_mm: np.ndarray, lb: Letterbox) -> np.ndarray:
    """Depth (H, W) mm -> (lb.height, lb.width) float32 mm on the work grid, nearest source pixel;
    0 = background (invalid source pixels and the letterbox padding)."""
    vi, ui, inside = _source_pixels(lb)
    out = np.where(inside, np.asarray(depth_mm, np.float32)[vi, ui], np.float32(0.0))
    return np.where((out <= 0) | (out >= INVALID_MM), np.float32(0.0), out)


@functools.lru_cache(maxsize=16)
def _source_pixels(lb: Letterbox) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, inside) (lb.height, lb.width): the nearest source pixel of each work pixel
    (clipped into the image) and whether it lies inside the image."""
    uw, vw = np.meshgrid(np.arange(lb.width), np.arange(lb.height))
    u, v = lb.to_source(uw, vw)
    ui, vi = np.rint(u).astype(np.int64), np.rint(v).astype(np.int64)
    inside = (ui >= 0) & (ui < lb.src_width) & (vi >= 0) & (vi < lb.src_height)
    return np.clip(vi, 0, lb.src_height - 1), np.clip(ui, 0, lb.src_width - 1), inside


def normalize_depth(work_mm: np.ndarray, scale_mm: float = DEPTH_SCALE_MM) -> tuple[np.ndarray, float]:
    """Work-grid depth (h, w) mm, 0 = background -> (x (h, w) float32 in [-1, 1], ref mm): x =
    clip((d - ref) / scale_mm, -1, 1), background +1, ref the median valid depth (0 when none)."""
    valid = work_mm > 0
    ref = float(np.median(work_mm[valid])) if valid.any() else 0.0
    x = np.clip((work_mm - ref) / scale_mm, -1.0, 1.0)
    return np.where(valid, x, 1.0).astype(np.float32), ref


@dataclass(frozen=True)
class FrameTransform:
    """How a frame reached the network: its letterbox, the reference depth ref_mm and the depth unit
    scale_mm of the normalization (normalized depth n <-> ref_mm + n scale_mm)."""

    letterbox: Letterbox
    ref_mm: float
    scale_mm: float = DEPTH_SCALE_MM


def frame_input(depth_mm: np.ndarray, intr: Intrinsics | None = None, width: int = WORK_WIDTH,
                height: int = WORK_HEIGHT) -> tuple[np.ndarray, FrameTransform]:
    """A full depth frame (H, W) mm -> (x (height, width) float32 normalized, its FrameTransform).
    Only the image size matters here (``intr`` is accepted for symmetry and checked against it)."""
    depth_mm = np.asarray(depth_mm)
    if depth_mm.ndim != 2:
        raise SdnetError(f"locator: expected a (H, W) depth frame, got shape {depth_mm.shape}")
    if intr is not None and depth_mm.shape != (intr.height, intr.width):
        raise SdnetError(f"locator: frame is {depth_mm.shape[1]}x{depth_mm.shape[0]}, the camera "
                         f"{intr.width}x{intr.height}")
    lb = letterbox(depth_mm.shape[1], depth_mm.shape[0], width, height)
    x, ref = normalize_depth(resample_frame(depth_mm, lb))
    return x, FrameTransform(lb, ref)


# ----------------------------------------------------------------------------- targets

def grid_shape(width: int = WORK_WIDTH, height: int = WORK_HEIGHT) -> tuple[int, int]:
    """(rows, cols) of the output grid for a width x height work frame."""
    return height // STRIDE, width // STRIDE


def work_to_cell(uw, vw):
    """Work px -> continuous output-cell coordinates (col, row); cell centres at integers."""
    return (np.asarray(uw, np.float64) + 0.5) / STRIDE - 0.5, (np.asarray(vw, np.float64) + 0.5) / STRIDE - 0.5


def cell_to_work(col, row):
    """Continuous output-cell coordinates -> work px; the inverse of ``work_to_cell``."""
    return (np.asarray(col, np.float64) + 0.5) * STRIDE - 0.5, (np.asarray(row, np.float64) + 0.5) * STRIDE - 0.5


def heatmap_targets(palm_work: np.ndarray | None, depth_norm: float, grid: tuple[int, int],
                    sigma: float = SIGMA_CELLS) -> np.ndarray:
    """Targets (rows, cols, 3) float32 = [heatmap, depth, depth weight] for a palm at work px
    ``palm_work`` (uw, vw) with normalized depth ``depth_norm``; all zero for None (no hand) or a palm
    whose nearest cell is off the grid. Heatmap: Gaussian of ``sigma`` cells, exactly 1 at the nearest
    cell; the depth weight is that Gaussian."""
    rows, cols = grid
    out = np.zeros((rows, cols, 3), np.float32)
    if palm_work is None:
        return out
    cu, cv = work_to_cell(palm_work[0], palm_work[1])
    ju, iv = int(np.rint(cu)), int(np.rint(cv))
    if not (0 <= ju < cols and 0 <= iv < rows):
        return out
    jj, ii = np.meshgrid(np.arange(cols), np.arange(rows))
    g = np.exp(-((jj - cu) ** 2 + (ii - cv) ** 2) / (2.0 * sigma ** 2))
    g[iv, ju] = 1.0
    out[..., 0] = g
    out[..., 1] = depth_norm
    out[..., 2] = g
    return out


# ----------------------------------------------------------------------------- augmentation

def _zoom_grid(shape: tuple[int, int], zoom: float, shift: np.ndarray):
    """Output work px -> input work px of a zoom about the frame centre moved by ``shift`` (px):
    out = zoom (in - c) + c + shift. Returns (u_in, v_in) float arrays of ``shape``."""
    h, w = shape
    c = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    uo, vo = np.meshgrid(np.arange(w), np.arange(h))
    return (uo - c[0] - shift[0]) / zoom + c[0], (vo - c[1] - shift[1]) / zoom + c[1]


def _zoom_point(p: np.ndarray, shape: tuple[int, int], zoom: float, shift: np.ndarray) -> np.ndarray:
    h, w = shape
    c = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    return zoom * (np.asarray(p[:2], np.float64) - c) + c + shift


def _sample_nearest(frame: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    h, w = frame.shape
    ui, vi = np.rint(u).astype(np.int64), np.rint(v).astype(np.int64)
    inside = (ui >= 0) & (ui < w) & (vi >= 0) & (vi < h)
    return np.where(inside, frame[np.clip(vi, 0, h - 1), np.clip(ui, 0, w - 1)], 0.0).astype(np.float32)


def hand_radius_px(palm_work: np.ndarray, focal_work: float) -> float:
    """The radius (work px) of a ``HAND_RADIUS_MM`` disc at the palm's depth (palm_work[2], mm)."""
    return HAND_RADIUS_MM * focal_work / max(float(palm_work[2]), 1.0)


def blank_hand(frame: np.ndarray, palm_work: np.ndarray, focal_work: float) -> np.ndarray:
    """``frame`` (h, w) mm with the hand's pixels (within the hand disc in the image and within
    ``HAND_RADIUS_MM`` of the palm's depth) set to background (0)."""
    h, w = frame.shape
    uu, vv = np.meshgrid(np.arange(w), np.arange(h))
    r = hand_radius_px(palm_work, focal_work)
    near = ((uu - palm_work[0]) ** 2 + (vv - palm_work[1]) ** 2 <= r ** 2) & \
           (np.abs(frame - palm_work[2]) < HAND_RADIUS_MM)
    return np.where(near, 0.0, frame).astype(np.float32)


def augment_sample(frame: np.ndarray, palm_work: np.ndarray, focal_work: float, rng: np.random.Generator,
                   negative: bool) -> tuple[np.ndarray, np.ndarray]:
    """One training sample from a stored work-grid frame (h, w) mm (0 = background) with its palm
    (uw, vw, d) [work px, work px, mm] and focal length (work px): (x (h, w) float32 normalized,
    targets (rows, cols, 3)). ``negative``: a frame without the hand (module doc)."""
    shape = frame.shape
    size = np.array([shape[1], shape[0]], np.float64)
    palm_out = None
    if negative and rng.random() < 0.5:
        r = hand_radius_px(palm_work, focal_work)
        for _ in range(20):  # a zoomed view that leaves the hand disc out
            zoom = math.exp(rng.uniform(*np.log(NEGATIVE_ZOOM)))
            shift = rng.uniform(-0.5, 0.5, 2) * size * zoom
            p = _zoom_point(palm_work, shape, zoom, shift)
            m = zoom * r
            if p[0] < -m or p[0] > size[0] - 1 + m or p[1] < -m or p[1] > size[1] - 1 + m:
                src = frame
                break
        else:
            src, zoom, shift = blank_hand(frame, palm_work, focal_work), 1.0, np.zeros(2)
    else:
        src = blank_hand(frame, palm_work, focal_work) if negative else frame
        for _ in range(10):  # a view that keeps the palm inside
            zoom = math.exp(rng.uniform(*np.log(ZOOM)))
            shift = rng.uniform(-SHIFT, SHIFT, 2) * size
            p = _zoom_point(palm_work, shape, zoom, shift)
            if 0 <= p[0] <= size[0] - 1 and 0 <= p[1] <= size[1] - 1:
                break
        else:
            zoom, shift = 1.0, np.zeros(2)
            p = np.asarray(palm_work[:2], np.float64)
        palm_out = None if negative else p
    out = _sample_nearest(src, *_zoom_grid(shape, zoom, shift))
    valid = out > 0
    out = np.where(valid, out + rng.normal(0.0, rng.uniform(0, NOISE_MM), shape), 0.0)
    out = np.where(rng.random(shape) < rng.uniform(0, DROPOUT), 0.0, out).astype(np.float32)
    x, ref = normalize_depth(out)
    depth_norm = (float(palm_work[2]) - ref) / DEPTH_SCALE_MM
    return x, heatmap_targets(palm_out, depth_norm, grid_shape(shape[1], shape[0]))


# ----------------------------------------------------------------------------- decoding the maps

def decode_peak(logits: np.ndarray, depth: np.ndarray) -> tuple[float, float, float, float]:
    """Maps (rows, cols) -> (uw, vw, depth_norm, confidence): the peak cell's 3x3 window averaged
    with weights sigmoid(logit) (subpixel, work px), the depth averaged alike, the confidence
    sigmoid(max logit)."""
    rows, cols = logits.shape
    i, j = np.unravel_index(int(np.argmax(logits)), logits.shape)
    i0, i1, j0, j1 = max(i - 1, 0), min(i + 2, rows), max(j - 1, 0), min(j + 2, cols)
    wgt = 1.0 / (1.0 + np.exp(-logits[i0:i1, j0:j1].astype(np.float64)))
    ii, jj = np.mgrid[i0:i1, j0:j1]
    total = wgt.sum()
    col, row = (wgt * jj).sum() / total, (wgt * ii).sum() / total
    uw, vw = cell_to_work(col, row)
    conf = 1.0 / (1.0 + math.exp(-float(logits[i, j])))
    return float(uw), float(vw), float((wgt * depth[i0:i1, j0:j1]).sum() / total), conf


def maps_to_uvd(logits: np.ndarray, depth: np.ndarray, tf_: FrameTransform) -> tuple[np.ndarray, float]:
    """Output maps (rows, cols) of one frame -> (palm uvd (3,) [source px, px, mm], confidence)."""
    uw, vw, dn, conf = decode_peak(logits, depth)
    u, v = tf_.letterbox.to_source(uw, vw)
    z = max(tf_.ref_mm + dn * tf_.scale_mm, 1.0)
    return np.array([float(u), float(v), z]), conf


# ----------------------------------------------------------------------------- reading a tree

@dataclass
class LocatorFrames:
    """Training frames in memory: ``frames`` (N, h, w) uint16 mm on the work grid (0 background),
    ``palms`` (N, 3) [work px, work px, mm], ``focal`` (N,) work px, ``sequences`` (N,) names,
    ``letterboxes`` the frames' letterboxes, ``mirrored``: whether they were mirrored to a right hand."""

    frames: np.ndarray
    palms: np.ndarray
    focal: np.ndarray
    sequences: list[str]
    letterboxes: list[Letterbox]
    mirrored: bool

    def subset(self, idx) -> "LocatorFrames":
        idx = list(idx)
        return LocatorFrames(self.frames[idx], self.palms[idx], self.focal[idx],
                             [self.sequences[i] for i in idx], [self.letterboxes[i] for i in idx], self.mirrored)


def training_items(tree_root: Path, dataset_name: str, intr: Intrinsics, frames: int = 0) -> list[FrameItem]:
    """The tree's TRAINING split (never the test split; on real ICVL its pre-rotated copies too, as
    ``sdnet data`` reads it by default), at most ``frames`` of them (0 = all) evenly spaced over the
    list. SdnetError when there are none."""
    tree_root = Path(tree_root)
    if not tree_root.is_dir():
        raise SdnetError(f"{tree_root}: no such tree directory")
    dataset = get_dataset(dataset_name)
    items = [f for f in dataset.list_frames(tree_root, intr).frames if f.split == "train"]
    if not items:
        raise SdnetError(f"{tree_root}: no training frames ({dataset.tree_help})")
    if frames and len(items) > frames:
        items = [items[int(k)] for k in np.linspace(0, len(items) - 1, frames).round()]
    return items


def read_frames(items: list[FrameItem], dataset_name: str, intr: Intrinsics, root_joint: int,
                width: int = WORK_WIDTH, height: int = WORK_HEIGHT, progress: bool = False) -> LocatorFrames:
    """Decode ``items`` once (the dataset's ``decode_depth``), mirrored to a right hand when the
    dataset's images show a left one, onto the work grid."""
    dataset = get_dataset(dataset_name)
    mirror = dataset.image_hand == "left"
    lb = letterbox(intr.width, intr.height, width, height)
    out_f, palms, seqs = [], [], []
    for item in tqdm(items, desc="locator: reading frames", unit="frame", disable=not progress, file=sys.stderr):
        depth = dataset.decode_depth(Path(item.image).read_bytes(), item.image, intr)
        palm = np.asarray(item.uvd[root_joint], np.float64)
        if not (np.all(np.isfinite(palm)) and palm[2] > 0):
            continue
        if mirror:
            depth, palm = depth[:, ::-1], np.array([intr.width - 1 - palm[0], palm[1], palm[2]])
        out_f.append(np.rint(resample_frame(depth, lb)).astype(np.uint16))
        uw, vw = lb.to_work(palm[0], palm[1])
        palms.append([float(uw), float(vw), palm[2]])
        seqs.append(item.sequence)
    if not out_f:
        raise SdnetError("locator: no training frame has a valid palm label")
    n = len(out_f)
    return LocatorFrames(np.stack(out_f), np.array(palms), np.full(n, intr.fx * lb.scale), seqs, [lb] * n, mirror)


def split_sequences(sequences: list[str], seed: int, share: float = VAL_SEQUENCE_SHARE) -> tuple[list[int], list[int], str]:
    """(train indices, validation indices, how): whole sequences held out (``share`` of them, at least
    one) when there are two or more; else the last ``share`` of the frames of the only sequence."""
    names = sorted(set(sequences))
    if len(names) >= 2:
        rng = np.random.default_rng(seed)
        held = set(rng.choice(names, size=max(1, int(round(share * len(names)))), replace=False))
        val = [i for i, s in enumerate(sequences) if s in held]
        return [i for i, s in enumerate(sequences) if s not in held], val, "sequences"
    n = len(sequences)
    cut = n - max(1, int(round(share * n))) if n > 1 else n
    return list(range(cut)), list(range(cut, n)) or list(range(n)), "frames"


# ----------------------------------------------------------------------------- training

def _batches(data: LocatorFrames, batch_size: int, seed: int):
    """Endless (x (B, h, w, 1), y (B, rows, cols, 3)) batches of augmented samples."""
    rng = np.random.default_rng(seed)
    n = len(data.frames)
    while True:
        xs, ys = [], []
        for k in rng.integers(0, n, batch_size):
            x, y = augment_sample(data.frames[k].astype(np.float32), data.palms[k], data.focal[k], rng,
                                  negative=rng.random() < NEGATIVE_SHARE)
            xs.append(x[..., None])
            ys.append(y)
        yield np.stack(xs), np.stack(ys)


def make_train_dataset(data: LocatorFrames, batch_size: int, seed: int) -> tf.data.Dataset:
    """tf.data over ``_batches`` (augmentation in numpy on the in-memory frames), prefetched."""
    h, w = data.frames.shape[1:]
    rows, cols = grid_shape(w, h)
    sig = (tf.TensorSpec((batch_size, h, w, 1), tf.float32), tf.TensorSpec((batch_size, rows, cols, 3), tf.float32))
    return tf.data.Dataset.from_generator(lambda: _batches(data, batch_size, seed), output_signature=sig).prefetch(2)


def _predict_maps(fn, xs: np.ndarray, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    logits, depth = [], []
    for k in range(0, len(xs), batch):
        out = fn(tf.constant(xs[k:k + batch, ..., None]))
        logits.append(out["heatmap"].numpy()[..., 0])
        depth.append(out["depth"].numpy()[..., 0])
    return np.concatenate(logits), np.concatenate(depth)


def validate(fn, data: LocatorFrames, intr: Intrinsics, seed: int) -> dict:
    """Validation figures on ``data``: the palm error (mm, camera xyz) on its un-augmented frames, the
    confidences of those (positives) and of negatives made from them, the threshold keeping
    ``KEEP_POSITIVES`` of the positives and the share of negatives above it."""
    cam = intr.mirrored() if data.mirrored else intr
    rng = np.random.default_rng(seed)
    pos, tfs = [], []
    for f in data.frames:
        x, ref = normalize_depth(f.astype(np.float32))
        pos.append(x)
        tfs.append(ref)
    neg = [augment_sample(f.astype(np.float32), p, fl, rng, negative=True)[0]
           for f, p, fl in zip(data.frames, data.palms, data.focal)]
    lp, dp = _predict_maps(fn, np.stack(pos))
    ln, _ = _predict_maps(fn, np.stack(neg))
    errors, conf_pos = [], []
    for k in range(len(pos)):
        lb = data.letterboxes[k]
        uvd, conf = maps_to_uvd(lp[k], dp[k], FrameTransform(lb, tfs[k]))
        u, v = lb.to_source(data.palms[k, 0], data.palms[k, 1])
        truth = uvd_to_xyz(np.array([float(u), float(v), data.palms[k, 2]]), cam)
        errors.append(float(np.linalg.norm(uvd_to_xyz(uvd, cam) - truth)))
        conf_pos.append(conf)
    conf_neg = 1.0 / (1.0 + np.exp(-ln.reshape(len(ln), -1).max(axis=1)))
    errors, conf_pos = np.array(errors), np.array(conf_pos)
    threshold = float(np.quantile(conf_pos, 1.0 - KEEP_POSITIVES))
    return {"frames": int(len(errors)), "centre_error_mm_mean": float(errors.mean()),
            "centre_error_mm_median": float(np.median(errors)),
            f"share_over_{FAR_MM:g}_mm": float((errors > FAR_MM).mean()),
            "confidence_positives_mean": float(conf_pos.mean()),
            "confidence_negatives_mean": float(conf_neg.mean()),
            "threshold": threshold, "keeps_positives": KEEP_POSITIVES,
            "negatives_over_threshold": float((conf_neg >= threshold).mean())}


class StepLog(keras.callbacks.Callback):
    """Progress for logs (no terminal): one stderr line every tenth of the ``steps``, with the loss."""

    def __init__(self, steps: int):
        super().__init__()
        self.steps, self.every, self.t0 = steps, max(1, steps // 10), time.time()

    def on_train_batch_end(self, batch, logs=None):
        done = batch + 1
        if done % self.every == 0 or done == self.steps:
            print(f"locator: step {done}/{self.steps}, loss {float((logs or {}).get('loss', float('nan'))):.4f}, "
                  f"{time.time() - self.t0:.0f} s", file=sys.stderr, flush=True)


def train_locator(tree_root: Path, dataset_name: str, intr: Intrinsics, out_dir: Path, steps: int,
                  batch_size: int, seed: int, *, width_mult: float, learning_rate: float, frames: int = 4000,
                  progress: bool = True) -> dict:
    """Fit the localizer on the training split of the tree at ``tree_root`` (dataset ``dataset_name``,
    camera ``intr``), some whole training sequences held out for validation; write
    ``out_dir/locator.keras`` and ``out_dir/locator.json`` (each through a temporary name) and return
    the latter's content. ``frames``: at most this many training frames are read (0 = all);
    ``width_mult`` scales the network's channels (``models.locator``), ``learning_rate`` is Adam's initial
    rate, cosine-decayed over ``steps`` (the defaults: ``sdnet fit-locator``'s)."""
    if steps < 1:
        raise SdnetError(f"--steps must be >= 1, got {steps}")
    if batch_size < 1:
        raise SdnetError(f"--batch-size must be >= 1, got {batch_size}")
    if frames < 0:
        raise SdnetError(f"--frames must be >= 0, got {frames}")
    t0 = time.time()
    dataset = get_dataset(dataset_name)
    items = training_items(tree_root, dataset_name, intr, frames)
    data = read_frames(items, dataset_name, intr, dataset.skeleton.root, progress=progress)
    train_idx, val_idx, holdout = split_sequences(data.sequences, seed)
    train, val = data.subset(train_idx or val_idx), data.subset(val_idx)
    keras.utils.set_random_seed(seed)
    model = build_locator_model(WORK_HEIGHT, WORK_WIDTH, width_mult)
    trainer = training_model(model)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps, alpha=0.05)
    trainer.compile(optimizer=keras.optimizers.Adam(schedule), loss=locator_loss())
    tty = sys.stdout.isatty()
    hist = trainer.fit(make_train_dataset(train, batch_size, seed), steps_per_epoch=steps, epochs=1, shuffle=False,
                       verbose=1 if progress and tty else 0,
                       callbacks=[StepLog(steps)] if progress and not tty else [])
    fn = tf.function(lambda x: model(x, training=False),
                     input_signature=[tf.TensorSpec((None, WORK_HEIGHT, WORK_WIDTH, 1), tf.float32)])
    doc = {
        "work_height": WORK_HEIGHT, "work_width": WORK_WIDTH, "stride": STRIDE, "width_mult": width_mult,
        "normalization": {"depth_scale_mm": DEPTH_SCALE_MM, "reference": "median of the frame's valid pixels",
                          "background": 1.0, "invalid_mm": [0, INVALID_MM]},
        "hand": "right (frames of a dataset showing a left hand were mirrored for training)",
        "mirrored_training_frames": data.mirrored,
        "dataset": dataset_name, "tree": str(tree_root), "camera": intr.to_dict(),
        "training": {"steps": steps, "batch_size": batch_size, "seed": seed, "learning_rate": learning_rate,
                     "frames": len(train.frames), "sequences": len(set(train.sequences)),
                     "final_loss": float(hist.history["loss"][-1]),
                     "augment": {"zoom": list(ZOOM), "shift": SHIFT, "noise_mm": NOISE_MM, "dropout": DROPOUT,
                                 "negative_share": NEGATIVE_SHARE, "negative_zoom": list(NEGATIVE_ZOOM),
                                 "hand_radius_mm": HAND_RADIUS_MM, "sigma_cells": SIGMA_CELLS}},
        "validation": {"holdout": holdout, "sequences": sorted(set(val.sequences)),
                       **validate(fn, val, intr, seed + 1)},
    }
    doc["threshold"] = doc["validation"]["threshold"]
    doc["seconds"] = round(time.time() - t0, 1)
    save_locator(model, doc, out_dir)
    if progress:
        v = doc["validation"]
        print(f"locator: validation palm error {v['centre_error_mm_mean']:.1f} mm mean, "
              f"{100 * v[f'share_over_{FAR_MM:g}_mm']:.1f}% over {FAR_MM:g} mm; confidence "
              f"{v['confidence_positives_mean']:.2f} with the hand, {v['confidence_negatives_mean']:.2f} "
              f"without; threshold {v['threshold']:.3f} ({doc['seconds']:.0f} s)", file=sys.stderr)
    return doc


# ----------------------------------------------------------------------------- storing and applying

def save_locator(model: keras.Model, doc: dict, out_dir: Path) -> None:
    """Write ``out_dir/locator.keras`` and ``out_dir/locator.json``, each through a temporary name."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".{LOCATOR_MODEL}.tmp.keras"
    model.save(tmp)
    tmp.replace(out_dir / LOCATOR_MODEL)
    write_json(out_dir / LOCATOR_META, doc)


class Locator:
    """A loaded localizer. ``locate(depth_mm, intr)`` -> (palm xyz (3,) mm camera xyz, confidence);
    ``threshold``: the validation threshold (confidences below it: no hand)."""

    def __init__(self, model: keras.Model, doc: dict):
        self.model, self.doc = model, doc
        self.width, self.height = int(doc["work_width"]), int(doc["work_height"])
        self.threshold = float(doc.get("threshold", 0.5))
        spec = tf.TensorSpec((None, self.height, self.width, 1), tf.float32)
        self._fn = tf.function(lambda x: model(x, training=False), input_signature=[spec])

    def locate_batch(self, depths, intr: Intrinsics) -> tuple[np.ndarray, np.ndarray]:
        """Frames (N, H, W) mm -> (palm xyz (N, 3) mm camera xyz, confidences (N,))."""
        inputs = [frame_input(d, intr, self.width, self.height) for d in depths]
        logits, depth = _predict_maps(self._fn, np.stack([x for x, _ in inputs]))
        xyz, conf = np.zeros((len(inputs), 3)), np.zeros(len(inputs))
        for k, (_, t) in enumerate(inputs):
            uvd, conf[k] = maps_to_uvd(logits[k], depth[k], t)
            xyz[k] = uvd_to_xyz(uvd, intr)
        return xyz, conf

    def locate(self, depth_mm: np.ndarray, intr: Intrinsics) -> tuple[np.ndarray, float]:
        """One frame (H, W) mm of camera ``intr`` -> (palm xyz (3,) mm camera xyz, confidence)."""
        xyz, conf = self.locate_batch([depth_mm], intr)
        return xyz[0], float(conf[0])


def load_locator(directory: Path) -> Locator | None:
    """The localizer stored in ``directory``, None when it holds none; SdnetError naming the file when
    its files are broken."""
    directory = Path(directory)
    path, meta = directory / LOCATOR_MODEL, directory / LOCATOR_META
    if not path.exists() and not meta.exists():
        return None
    if not meta.is_file():
        raise SdnetError(f"{meta}: missing beside {path.name}")
    try:
        doc = json.loads(meta.read_text())
        size = (int(doc["work_height"]), int(doc["work_width"]))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SdnetError(f"{meta}: not a locator description ({type(e).__name__}: {e})") from None
    if not path.is_file():
        raise SdnetError(f"{path}: missing beside {meta.name}")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as e:  # noqa: BLE001 - any failure is a corrupt file for the user
        raise SdnetError(f"{path}: cannot load the locator ({type(e).__name__}: {e})") from None
    if tuple(model.input_shape[1:3]) != size:
        raise SdnetError(f"{path}: input {model.input_shape[1:3]} does not match {meta.name}'s work size {size}")
    return Locator(model, doc)
