"""Running a trained run on a data split, and mapping its outputs back to the image and the camera.

The network predicts normalized crop-frame joints; ``geometry.denormalize_joints`` with each record's
centre, cube and rotation maps them to image uvd [px, px, mm] exactly, and the dataset's intrinsics
map uvd to camera xyz [mm]. The refinement (``models.refine``, fitted by ``pipeline.fit_refine``) then
works on full depth frames, read from the source tree recorded in the manifest (in its dataset's
layout and depth encoding).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.refine import refine_poses
from pipeline.camera import Intrinsics, uvd_to_xyz, xyz_to_uvd
from pipeline.datasets import Dataset
from pipeline.errors import SdnetError
from pipeline.geometry import apply_affine, denormalize_joints
from pipeline.input import make_dataset
from pipeline.skeleton import Skeleton


@dataclass
class SplitPredictions:
    """CNN predictions on one split, in record order, with what is needed to evaluate and refine.

    uvd arrays are (N, J, 3) [px, px, mm]; xyz arrays (N, J, 3) camera mm; crops (N, S, S) float16
    normalized depth; cnn_ms_per_frame the CNN's time per frame.
    """

    pred_uvd: np.ndarray
    pred_xyz: np.ndarray
    gt_uvd: np.ndarray
    gt_xyz: np.ndarray
    sequence: np.ndarray
    frame: np.ndarray
    path: np.ndarray
    centre_xyz: np.ndarray
    cube_mm: np.ndarray
    affine: np.ndarray
    crops: np.ndarray | None = None
    cnn_ms_per_frame: float = float("nan")
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.pred_uvd)

    def crop_uv(self, uvd: np.ndarray, rows) -> np.ndarray:
        """Image uvd (K, J, 3) of records ``rows`` (K,) -> their crop pixel coordinates (K, J, 2)."""
        return np.stack([apply_affine(self.affine[r].reshape(2, 3), p[:, :2])
                         for r, p in zip(rows, uvd)])


def predict_split(model, data_dir: Path, split: str, intr: Intrinsics, skeleton: Skeleton, batch_size: int = 64,
                  keep_crops: bool = False, limit: int | None = None) -> SplitPredictions:
    """Predict every record of ``split`` (file order: for 'test', sequence then frame order); the model
    outputs the ``skeleton``'s J joints (the run's, ``rundir.run_skeleton``)."""
    ds = make_dataset(data_dir, split, batch_size, with_meta=True)
    outs, metas, crops, seconds, n = [], [], [], 0.0, 0
    for image, _, meta in ds:
        t0 = time.perf_counter()
        pred = model(image, training=False).numpy()
        seconds += time.perf_counter() - t0
        outs.append(pred.reshape(-1, skeleton.num_joints, 3))
        metas.append({k: v.numpy() for k, v in meta.items()})
        if keep_crops:
            crops.append(image.numpy()[..., 0].astype(np.float16))
        n += len(pred)
        if limit and n >= limit:
            break
    if not outs:
        raise SdnetError(f"{data_dir}: split '{split}' is empty")
    cat = {k: np.concatenate([m[k] for m in metas]) for k in metas[0]}
    norm = np.concatenate(outs).astype(np.float64)
    pred_uvd = denormalize_joints(norm, cat["centre_xyz"], cat["cube_mm"], intr, cat["angle_deg"])
    if limit:
        pred_uvd, norm = pred_uvd[:limit], norm[:limit]
        cat = {k: v[:limit] for k, v in cat.items()}
    return SplitPredictions(
        pred_uvd=pred_uvd, pred_xyz=uvd_to_xyz(pred_uvd, intr),
        gt_uvd=cat["uvd"].astype(np.float64), gt_xyz=cat["xyz"].astype(np.float64),
        sequence=np.array([s.decode() for s in cat["sequence"]]), frame=cat["frame"],
        path=np.array([p.decode() for p in cat["path"]]), centre_xyz=cat["centre_xyz"],
        cube_mm=cat["cube_mm"], affine=cat["affine"],
        crops=np.concatenate(crops)[: len(pred_uvd)] if keep_crops else None,
        cnn_ms_per_frame=1000.0 * seconds / max(1, len(pred_uvd)))


def source_images(manifest: dict, dataset: Dataset, intr: Intrinsics) -> dict[str, Path]:
    """{record path (the records' ``path`` field): the PNG file} of the labelled frames of the source tree
    the manifest records, as ``dataset``'s reader lists them (``Dataset.list_frames``: the layout is the
    dataset's, e.g. ICVL's Training/Depth/..., NYU's train/depth_1_...). SdnetError (one line) when the
    tree is gone or unreadable."""
    root = Path(manifest["source_root"])
    try:
        listing = dataset.list_frames(root, intr)
    except SdnetError as e:
        raise SdnetError(f"{root}: the source depth images are needed for the refinement but cannot be read "
                         f"({e}); use --no-refine, or restore the tree") from None
    return {f.rel_path: Path(f.image) for f in listing.frames}


def load_depth_frames(manifest: dict, split: str, paths, intr: Intrinsics, dataset: Dataset) -> np.ndarray:
    """(N, H, W) uint16 full depth frames (mm) of the records ``paths`` of ``split`` from the source tree
    (``source_images``), decoded as ``dataset`` stores depth (``Dataset.decode_depth``) at ``intr``'s
    size; SdnetError naming the file when the tree or a frame is gone or unreadable."""
    root = Path(manifest["source_root"])
    if not root.is_dir():
        raise SdnetError(f"{root}: the source depth images of split '{split}' are needed for the "
                         "refinement but are not there (use --no-refine, or restore the tree)")
    images = source_images(manifest, dataset, intr)
    frames = []
    for p in paths:
        path = images.get(str(p))
        if path is None or not path.is_file():
            raise SdnetError(f"{path or root / str(p)}: source depth image of split '{split}' not found (needed "
                             "for the refinement; use --no-refine, or restore the tree)")
        frames.append(dataset.decode_depth(path.read_bytes(), str(path), intr))  # DepthImageError: one line
    return np.stack(frames)


def hand_band(centre_xyz: np.ndarray, cube_mm: np.ndarray) -> np.ndarray:
    """(N, 2) [lo, hi] mm: the crop cube's depth range, the hand's depth band for the refinement."""
    z = np.asarray(centre_xyz)[:, 2]
    half = np.asarray(cube_mm) / 2.0
    return np.stack([z - half, z + half], axis=-1)


def refine_split(preds: SplitPredictions, depth: np.ndarray, intr: Intrinsics, prior, cfg,
                 skeleton: Skeleton) -> tuple[np.ndarray, float]:
    """Refined (N, J, 3) image uvd [px, px, mm] of ``preds`` on their full depth frames (N, H, W) mm,
    with the run's bone prior, RefineConfig and skeleton, and the refinement's ms per frame."""
    t0 = time.perf_counter()
    xyz = refine_poses(preds.pred_xyz, depth, hand_band(preds.centre_xyz, preds.cube_mm), intr,
                       prior, skeleton, cfg, preds.sequence, preds.frame)
    ms = 1000.0 * (time.perf_counter() - t0) / max(1, len(preds))
    return xyz_to_uvd(xyz, intr), ms
