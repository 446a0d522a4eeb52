"""A trained run loaded for prediction, and the per-frame path from a raw depth frame to joints.

Per frame (exactly as ``sdnet data`` crops): raw depth (H, W) uint16 mm -> label-free hand centre
(camera xyz mm) -> normalized (S, S) crop of a ``cube_mm`` cube
(``geometry.crop_affine`` + ``crop_depth``, angle 0) -> CNN -> normalized crop-frame joints ->
``geometry.denormalize_joints`` -> image uvd (px, px, mm) -> camera xyz (mm) through the intrinsics.
Crop size, cube, camera and the hand-centre rule come from ``RUN/config.json``. The hand centre:
with the run's learned full-frame localizer (``RUN/locator.keras``, ``sdnet fit-locator``), the
localizer's palm joint of the chosen hand, then ``geometry.centre_near`` (the cube mean about it); a
frame whose localizer confidence is below the localizer's threshold is ``no hand``. Without one (or
with ``locate=False``) the run's rule-based ``geometry.hand_centre`` (the blob rule). With the run's learned
centre refinement (``RUN/centre.keras``, ``sdnet fit-centre``) each frame is cropped a second time around
the refined centre. The refinement uses RUN/prior.json and RUN/refine.json (``sdnet fit-refine``), the
hand's depth band = the crop cube's depth range, and the sequence ids / frame indices of the frames for
the temporal term. Everything is read from the run directory (``pipeline.rundir``): a copied run works
without its dataset.
"""
from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import tensorflow as tf

from models.refine import refine_poses
from pipeline.camera import Intrinsics, uvd_to_xyz, xyz_to_uvd
from pipeline.centre_refiner import load_centre_refiner
from pipeline.config import CentreConfig, RefineConfig
from pipeline.errors import DepthImageError, SdnetError
from pipeline.frame_sources import FrameRef
from pipeline.datasets import Dataset
from pipeline.geometry import NoHandError, crop_affine, crop_depth, denormalize_joints, hand_centre, located_centre
from pipeline.inference import hand_band
from pipeline.locator import load_locator
from pipeline.rundir import load_model, load_refinement, load_run_config, run_dataset, run_intrinsics

OK = "ok"
NO_HAND = "no hand"
UNREADABLE = "unreadable"
HANDS = ("right", "left")  # the chirality of the hand in the frames (``Dataset.image_hand``)


@dataclasses.dataclass
class Predictor:
    """What predict needs from a run: the Keras model, the crop (``crop_size`` px, ``cube_mm`` mm),
    the hand-centre rule, the camera, the refinement (``prior``/``refine`` None when off) and the
    ``hand`` in the images ('right' or 'left', as a camera shows that hand: frames whose hand is not the
    chirality the run's dataset shows, ``Dataset.image_hand``, are mirrored in and the joints mirrored
    out; ICVL's images show a right hand's mirror image), and the run's ``dataset`` (``rundir.run_dataset``): its skeleton (the joints predicted) and its depth PNG
    decoding (``Dataset.decode_depth``)."""

    model: object
    crop_size: int
    cube_mm: float
    centre: CentreConfig
    intrinsics: Intrinsics
    dataset: Dataset
    prior: object = None
    refine: RefineConfig | None = None
    run_dir: Path = Path(".")
    preset: str | None = None
    hand: str = "right"
    centre_refiner: object = None  # pipeline.centre_refiner.CentreRefiner, or None
    locator: object = None  # pipeline.locator.Locator, or None (the rule-based centre)

    _forward: object = dataclasses.field(default=None, repr=False)

    @property
    def refining(self) -> bool:
        return self.prior is not None and self.refine is not None

    @property
    def mirrored(self) -> bool:
        """True when the frames' hand is the mirror image of the hand the run's dataset shows: frames
        are then mirrored left-right before the CNN (so it sees the chirality it was trained on)."""
        return self.hand != self.dataset.image_hand

    @property
    def work_intrinsics(self) -> Intrinsics:
        """The camera of the frames the CNN and the refinement see (mirrored for a left hand)."""
        return self.intrinsics.mirrored() if self.mirrored else self.intrinsics

    def forward(self, crops: np.ndarray) -> np.ndarray:
        """The CNN on crops (B, S, S, 1) float32 -> (B, 3J) normalized joints, through one
        tf.function (traced once for any batch size; about 4x faster than eager at batch 1)."""
        if self._forward is None:
            spec = tf.TensorSpec((None, self.crop_size, self.crop_size, 1), tf.float32)
            self._forward = tf.function(lambda x: self.model(x, training=False), input_signature=[spec])
        return self._forward(crops).numpy()


def load_predictor(run_dir: Path, intrinsics: Intrinsics | None = None, refine: bool = True,
                   hand: str | None = None, centre_refine: bool = True, locate: bool = True) -> Predictor:
    """A Predictor for ``run_dir``; ``intrinsics`` None = the run's camera; ``hand`` 'right' or 'left'
    as a camera shows it (a user's right hand: 'right'), None = the run's dataset's own (its frames);
    ``centre_refine``: use the run's learned centre refinement (RUN/centre.keras) when it has one;
    ``locate``: use the run's learned localizer (RUN/locator.keras) when it has one.
    Checks everything (config, refinement files, model and its input size) before returning;
    SdnetError on any problem."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise SdnetError(f"{run_dir}: run directory not found")
    if hand is not None and hand not in HANDS:
        raise SdnetError(f"hand must be one of {', '.join(HANDS)}, got {hand!r}")
    run_cfg = load_run_config(run_dir)
    dataset = run_dataset(run_cfg)
    data = run_cfg.data
    intr = intrinsics or run_intrinsics(run_cfg)
    prior, cfg = load_refinement(run_dir) if refine else (None, None)
    model = load_model(run_dir)
    shape = tuple(model.input_shape)
    if shape[1:] != (data.crop_size, data.crop_size, 1):
        raise SdnetError(f"{run_dir}: model input {shape[1:]} does not match the run's crop size "
                         f"{data.crop_size} px")
    return Predictor(model=model, crop_size=data.crop_size, cube_mm=data.cube_mm, centre=data.centre,
                     intrinsics=intr, dataset=dataset, prior=prior, refine=cfg, run_dir=run_dir,
                     preset=run_cfg.model.preset, hand=hand or dataset.image_hand,
                     centre_refiner=load_centre_refiner(run_dir) if centre_refine else None,
                     locator=_run_locator(run_dir, data.centre) if locate else None)


def _run_locator(run_dir: Path, centre: CentreConfig):
    """The run's localizer (RUN/locator.keras), or for a run whose crops were cut with one (centre
    method 'learned') that one (``centre.locator``); None when it has neither."""
    found = load_locator(run_dir)
    if found is None and centre.method == "learned":
        found = load_locator(Path(centre.locator))
        if found is None:
            raise SdnetError(f"{run_dir}: the run's crops were cut with the localizer in {centre.locator}, "
                             f"which holds none; fit one into the run (`sdnet fit-locator --out {run_dir}`) "
                             "or pass --no-locator (the blob rule)")
    return found


def read_depth(path: Path, pred: Predictor) -> np.ndarray:
    """(H, W) uint16 depth in mm of the PNG at ``path``, decoded as the run's dataset stores depth
    (``Dataset.decode_depth``: ICVL 16-bit grayscale, NYU RGB (G << 8) | B) at the size of
    ``pred.intrinsics``; DepthImageError naming the file when it is missing or not such an image."""
    path = Path(path)
    if not path.is_file():
        raise DepthImageError(f"{path}: depth image not found")
    return pred.dataset.decode_depth(path.read_bytes(), str(path), pred.intrinsics)


def crop_frame(depth: np.ndarray, pred: Predictor) -> tuple[np.ndarray, np.ndarray, float | None]:
    """(normalized crop (S, S) float32 in [-1, 1], hand centre (3,) camera xyz mm, the localizer's
    confidence or None without one) of a raw depth frame (H, W) uint16 mm, exactly as ``sdnet data``
    crops at angle 0, in the camera of ``pred.work_intrinsics`` (``depth`` already mirrored for a hand
    of the other chirality: the work frame shows the chirality of the run's dataset). The centre:
    about the localizer's palm (``geometry.located_centre``) when the predictor has a localizer, else
    the run's rule (``geometry.hand_centre``; the blob rule for a run whose crops were cut with the
    localizer). Raises NoHandError (``geometry.LowConfidence`` when the localizer is not confident;
    with a localizer the error's ``confidence`` is its confidence).
    With the run's centre refiner, the crop is cut a second time around the refined centre.
    """
    conf = None
    if pred.locator is not None:
        centre, conf = located_centre(pred.locator, depth, pred.work_intrinsics, pred.dataset.image_hand,
                                      pred.cube_mm, pred.centre)
    else:
        rule = pred.centre if pred.centre.method != "learned" else dataclasses.replace(pred.centre, method="blob")
        centre = hand_centre(depth, pred.work_intrinsics, pred.cube_mm, rule)
    crop = crop_at(depth, centre, pred)
    if pred.centre_refiner is not None:
        moved = centre + pred.centre_refiner.move(crop[None])[0] * pred.cube_mm / 2.0
        if np.all(np.isfinite(moved)) and moved[2] >= pred.centre.min_depth_mm:
            centre = moved
            crop = crop_at(depth, centre, pred)
    return crop, centre, conf


def crop_at(depth: np.ndarray, centre: np.ndarray, pred: Predictor) -> np.ndarray:
    """The normalized crop (S, S) of ``depth`` (H, W) uint16 mm around ``centre`` (3,) xyz mm, angle 0."""
    intr = pred.work_intrinsics
    centre_uvd = xyz_to_uvd(centre, intr)
    affine = crop_affine(centre_uvd, pred.cube_mm, pred.crop_size, intr)
    return crop_depth(depth, affine, pred.crop_size, centre_uvd[2], pred.cube_mm)


def cnn_uvd(pred: Predictor, crops: np.ndarray, centres: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """CNN joints of crops (N, S, S) with hand centres (N, 3) mm -> image uvd (N, J, 3) [px, px, mm]."""
    outs = []
    for start in range(0, len(crops), batch_size):
        batch = crops[start:start + batch_size, ..., None].astype(np.float32)  # (B, S, S, 1)
        outs.append(pred.forward(batch).reshape(-1, pred.dataset.num_joints, 3))
    norm = np.concatenate(outs).astype(np.float64)  # (N, J, 3) normalized crop frame
    return denormalize_joints(norm, centres, pred.cube_mm, pred.work_intrinsics)


def unmirror_uvd(uvd: np.ndarray, width: int) -> np.ndarray:
    """Image uvd (..., 3) of a left-right mirrored frame of ``width`` px -> the original frame's."""
    out = np.array(uvd, dtype=np.float64)
    out[..., 0] = width - 1 - out[..., 0]
    return out


@dataclasses.dataclass
class FrameResult:
    """One frame's outcome: status, and when ok the hand centre (3,) xyz mm, the CNN's uvd (J, 3) and
    the final uvd/xyz (refined when the refinement is on); ``confidence`` the localizer's (None
    without one or when the frame was not read). ``depth`` is kept for overlays."""

    ref: FrameRef
    status: str
    depth: np.ndarray | None = None
    centre_xyz: np.ndarray | None = None
    uvd_cnn: np.ndarray | None = None
    uvd: np.ndarray | None = None
    xyz: np.ndarray | None = None
    confidence: float | None = None


def _reason(err: Exception, path: Path) -> str:
    msg = str(err)
    prefix = f"{path}: "
    return msg[len(prefix):] if msg.startswith(prefix) else msg


def predict_chunk(pred: Predictor, refs: Sequence[FrameRef], batch_size: int = 64,
                  timing: dict | None = None, progress=None) -> list[FrameResult]:
    """Read, crop, run the CNN on and (when on) refine a run of frames; one FrameResult per ref.

    ``timing`` (optional) accumulates seconds per stage over the frames with a hand: 'read' (file +
    PNG decode), 'crop' (centre + crop), 'cnn' (forward + mapping to uvd), 'refine'. A hand of the other
    chirality than the run's dataset shows (``pred.mirrored``) is processed mirrored; results are
    mapped back to the original image.
    """
    timing = timing if timing is not None else {}
    intr, work_intr = pred.intrinsics, pred.work_intrinsics
    results, crops, centres, work_depths = [], [], [], []
    for ref in refs:
        if progress is not None:
            progress.update(1)
        t0 = time.perf_counter()
        try:
            depth = read_depth(ref.path, pred)
            work = np.ascontiguousarray(depth[:, ::-1]) if pred.mirrored else depth
            t1 = time.perf_counter()
            crop, centre, conf = crop_frame(work, pred)
            t2 = time.perf_counter()
        except DepthImageError as e:
            results.append(FrameResult(ref, f"{UNREADABLE}: {_reason(e, ref.path)}"))
            continue
        except NoHandError as e:
            results.append(FrameResult(ref, f"{NO_HAND}: {e}", depth=depth, confidence=e.confidence))
            continue
        timing["read"] = timing.get("read", 0.0) + t1 - t0
        timing["crop"] = timing.get("crop", 0.0) + t2 - t1
        results.append(FrameResult(ref, OK, depth=depth, centre_xyz=centre, confidence=conf))
        crops.append(crop)
        centres.append(centre)
        work_depths.append(work)
    ok = [r for r in results if r.status == OK]
    if not ok:
        return results
    t0 = time.perf_counter()
    uvd = cnn_uvd(pred, np.stack(crops), np.stack(centres), batch_size)  # (N, J, 3)
    timing["cnn"] = timing.get("cnn", 0.0) + time.perf_counter() - t0
    sane = np.all(np.isfinite(uvd), axis=(1, 2))  # (N,) False only for a joint exactly at z = 0
    if not sane.all():
        for r, fine in zip(ok, sane):
            if not fine:
                r.status = f"{NO_HAND}: the CNN put a joint in the camera plane (depth 0 mm)"
        ok, uvd, centres = [r for r, s in zip(ok, sane) if s], uvd[sane], list(np.stack(centres)[sane])
        work_depths = [d for d, s in zip(work_depths, sane) if s]
        if not ok:
            return results
    final_uvd = uvd
    if pred.refining:
        t0 = time.perf_counter()
        xyz = refine_poses(uvd_to_xyz(uvd, work_intr), np.stack(work_depths),
                           hand_band(np.stack(centres), np.full(len(ok), pred.cube_mm)), work_intr,
                           pred.prior, pred.dataset.skeleton, pred.refine, np.array([r.ref.sequence for r in ok]),
                           np.array([r.ref.index for r in ok]))
        final_uvd = xyz_to_uvd(xyz, work_intr)
        timing["refine"] = timing.get("refine", 0.0) + time.perf_counter() - t0
    if pred.mirrored:
        uvd, final_uvd = unmirror_uvd(uvd, intr.width), unmirror_uvd(final_uvd, intr.width)
        for r in ok:
            r.centre_xyz = r.centre_xyz * np.array([-1.0, 1.0, 1.0])  # x' = -x in the mirrored camera
    xyz = uvd_to_xyz(final_uvd, intr)
    for r, u_cnn, u, x in zip(ok, uvd, final_uvd, xyz):
        r.uvd_cnn, r.uvd, r.xyz = u_cnn, u, x
    return results
