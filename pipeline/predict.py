"""``sdnet predict``: joints for depth PNGs from a trained run (CNN, then the optional refinement).

Input (``collect_frames``):
  * one 16-bit depth PNG;
  * a folder of PNGs: one sequence, frames in natural name order ("image_2" before "image_10"),
    sequence id = the folder's name, frame index = position;
  * an ICVL tree (``Training/labels.txt``, ``Testing/test_seq_K.txt``): the frames each label file
    lists, in file order; only the paths are read from the labels, never the joints. Sequence id =
    '<Depth folder>/<sequence folder>', frame index = position within the sequence.

Per frame (exactly as ``sdnet data`` crops): raw depth (H, W) uint16 mm -> label-free hand centre
(``geometry.hand_centre``, camera xyz mm) -> normalized (S, S) crop of a ``cube_mm`` cube
(``geometry.crop_affine`` + ``crop_depth``, angle 0) -> CNN -> normalized crop-frame joints ->
``geometry.denormalize_joints`` -> image uvd (px, px, mm) -> camera xyz (mm) through the intrinsics.
Crop size, cube and the hand-centre rule come from ``RUN/config.json`` (older runs: the rule from
their data manifest when it is still there). With the run's learned centre refinement
(``RUN/centre.keras``, ``sdnet fit-centre``) each frame is cropped a second time around the refined
centre.

Refinement (on unless ``refine=False``): ``models.refine.refine_poses`` with RUN/prior.json and
RUN/refine.json (both written by ``sdnet eval``), the hand's depth band = the crop cube's depth
range, and the sequence ids / frame indices above for the temporal term. Frames are processed in
chunks of ``CHUNK_FRAMES`` (memory stays bounded on long trees); the temporal term links frames
within a chunk, so the first frame of each chunk after the first of a sequence has no previous
frame (one in ``CHUNK_FRAMES``).

Frames that cannot be read get status "unreadable: <reason>", frames without a hand "no hand:
<reason>"; neither stops the run. Output (``run_predict``), written atomically:
``OUT/predictions.json`` and ``OUT/overlays/<name>.png`` (see ``predictions_document``).
"""
from __future__ import annotations

import dataclasses
import json
import re
import sys
import time
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from pipeline.camera import ICVL_INTRINSICS, Intrinsics, uvd_to_xyz, xyz_to_uvd
from pipeline.config import (CentreConfig, RefineConfig, TrainDataInfo, centre_config_from_dict, from_dict,
                             to_dict)
from pipeline.errors import DepthImageError, SdnetError
from pipeline.geometry import NoHandError, crop_affine, crop_depth, denormalize_joints, hand_centre
from pipeline.icvl import background_mask, find_label_files, read_depth_png
from pipeline.inference import PRIOR_FILE, REFINE_FILE, hand_band, read_run_config
from pipeline.skeleton import ICVL_SKELETON, NUM_JOINTS

PREDICTIONS_FILE = "predictions.json"
OVERLAY_DIR = "overlays"
CHUNK_FRAMES = 512
PROGRESS_MIN_FRAMES = 20  # a progress bar for inputs of at least this many frames
OK = "ok"
NO_HAND = "no hand"
UNREADABLE = "unreadable"
DECIMALS = 3  # uvd px/mm and xyz mm in the JSON (the ICVL label precision)
HANDS = ("right", "left")  # the model is trained on right hands; a left one is mirrored


# ----------------------------------------------------------------------------- input frames


@dataclasses.dataclass(frozen=True)
class FrameRef:
    """One input frame: its PNG ``path``, ``sequence`` id, ``index`` (position in the sequence,
    frame order) and ``name`` (unique stem of its overlay file)."""

    path: Path
    sequence: str
    index: int
    name: str


def natural_key(name: str) -> list:
    """Sort key putting 'image_2' before 'image_10' (digit runs compare as numbers)."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def _is_icvl_tree(path: Path) -> bool:
    try:
        find_label_files(path)
    except SdnetError:
        return False
    return True


def _label_paths(label_file: Path) -> list[str]:
    """The frame paths (first field of each non-blank line) of an ICVL label file."""
    with open(label_file, encoding="utf-8", errors="replace") as f:
        return [line.split(maxsplit=1)[0] for line in f if line.strip()]


def collect_frames(path: Path, split: str = "all") -> tuple[str, list[FrameRef]]:
    """The frames under ``path`` and its kind: 'png', 'folder' or 'icvl-tree'.

    ``split`` ('all', 'train', 'test') filters the label files of an ICVL tree. Raises SdnetError
    for a missing path or a folder without PNGs.
    """
    path = Path(path)
    if path.is_file():
        return "png", [FrameRef(path, path.parent.name, 0, path.stem)]
    if not path.is_dir():
        raise SdnetError(f"{path}: no such file or folder")
    if _is_icvl_tree(path):
        frames, names = [], set()
        for lf in find_label_files(path):
            if split != "all" and lf.split_hint != split:
                continue
            positions: dict[str, int] = {}
            for rel in _label_paths(lf.path):
                folder = "/".join(rel.replace("\\", "/").split("/")[:-1])
                seq = f"{lf.depth_dir.relative_to(path).as_posix()}/{folder}".rstrip("/")
                index = positions.get(seq, 0)
                positions[seq] = index + 1
                stem = _unique(re.sub(r"[^\w.-]+", "__", f"{seq}/{Path(rel).stem}"), names)
                frames.append(FrameRef(lf.depth_dir / rel, seq, index, stem))
        if not frames:
            raise SdnetError(f"{path}: the ICVL tree lists no frames for split '{split}'")
        return "icvl-tree", frames
    pngs = sorted((p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".png"),
                  key=lambda p: natural_key(p.name))
    if not pngs:
        raise SdnetError(f"{path}: no PNG files in this folder (and no ICVL label files)")
    names: set[str] = set()
    seq = path.resolve().name
    return "folder", [FrameRef(p, seq, i, _unique(p.stem, names)) for i, p in enumerate(pngs)]


def _unique(name: str, used: set[str]) -> str:
    out, k = name, 1
    while out in used:
        out, k = f"{name}_{k}", k + 1
    used.add(out)
    return out


# ----------------------------------------------------------------------------- the run


@dataclasses.dataclass
class Predictor:
    """What predict needs from a run: the Keras model, the crop (``crop_size`` px, ``cube_mm`` mm),
    the hand-centre rule, the camera, the refinement (``prior``/``refine`` None when off) and the
    ``hand`` in the images ('right' as the model was trained, or 'left': mirrored in and out)."""

    model: object
    crop_size: int
    cube_mm: float
    centre: CentreConfig
    intrinsics: Intrinsics
    prior: object = None
    refine: RefineConfig | None = None
    run_dir: Path = Path(".")
    centre_source: str = "defaults"
    preset: str | None = None
    hand: str = "right"
    centre_refiner: object = None  # pipeline.centre_refiner.CentreRefiner, or None

    _forward: object = dataclasses.field(default=None, repr=False)

    @property
    def refining(self) -> bool:
        return self.prior is not None and self.refine is not None

    @property
    def mirrored(self) -> bool:
        """True for a left hand: frames are mirrored left-right before the CNN (a right hand)."""
        return self.hand == "left"

    @property
    def work_intrinsics(self) -> Intrinsics:
        """The camera of the frames the CNN and the refinement see (mirrored for a left hand)."""
        return self.intrinsics.mirrored() if self.mirrored else self.intrinsics

    def forward(self, crops: np.ndarray) -> np.ndarray:
        """The CNN on crops (B, S, S, 1) float32 -> (B, 3J) normalized joints, through one
        tf.function (traced once for any batch size; about 4x faster than eager at batch 1)."""
        if self._forward is None:
            import tensorflow as tf

            spec = tf.TensorSpec((None, self.crop_size, self.crop_size, 1), tf.float32)
            self._forward = tf.function(lambda x: self.model(x, training=False), input_signature=[spec])
        return self._forward(crops).numpy()


def run_data_info(run_dir: Path) -> tuple[TrainDataInfo, dict]:
    """The run's data section (crop size px, cube mm, camera) and its raw config; SdnetError if bad."""
    raw = read_run_config(run_dir)
    try:
        info = from_dict(TrainDataInfo, raw.get("data", {}), f"{Path(run_dir) / 'config.json'}: data")
    except (TypeError, ValueError) as e:
        raise SdnetError(str(e)) from None
    if not info.crop_size or info.crop_size < 8:
        raise SdnetError(f"{Path(run_dir) / 'config.json'}: no valid data.crop_size")
    if not info.cube_mm or info.cube_mm <= 0:
        raise SdnetError(f"{Path(run_dir) / 'config.json'}: no valid data.cube_mm")
    return info, raw


def run_intrinsics(info: TrainDataInfo) -> Intrinsics:
    """The camera the run's data was made with (ICVL's when the run does not record one)."""
    if not info.intrinsics:
        return ICVL_INTRINSICS
    try:
        return Intrinsics.from_dict(dict(info.intrinsics))
    except (TypeError, ValueError) as e:
        raise SdnetError(f"run config: bad data.intrinsics ({e})") from None


def centre_config_of(info: TrainDataInfo) -> tuple[CentreConfig, str]:
    """The hand-centre rule the run's data was cropped with: the one the run recorded (config.json
    data.centre), else its data manifest's when still on disk, else the rule of the runs that
    recorded none ('com'). Returns (config, where from)."""
    if info.centre:
        try:
            return centre_config_from_dict(info.centre, "run config: data.centre"), "run config"
        except (TypeError, ValueError) as e:
            raise SdnetError(str(e)) from None
    manifest = Path(info.data_dir) / "manifest.json" if info.data_dir else None
    if manifest is None or not manifest.is_file():
        return CentreConfig(method="com"), "defaults"
    try:
        centre = json.loads(manifest.read_text())["config"]["centre"]
        return centre_config_from_dict(centre, f"{manifest}: config.centre"), str(manifest)
    except (KeyError, TypeError, ValueError, json.JSONDecodeError):
        return CentreConfig(method="com"), "defaults"


def load_refinement(run_dir: Path):
    """(BonePrior, RefineConfig) from RUN/prior.json and RUN/refine.json; SdnetError when absent."""
    from models.prior import BonePrior

    run_dir = Path(run_dir)
    prior_path, refine_path = run_dir / PRIOR_FILE, run_dir / REFINE_FILE
    for p in (prior_path, refine_path):
        if not p.is_file():
            raise SdnetError(f"{run_dir}: the run has no {p.name} for the refinement; run "
                             f"`sdnet eval --run {run_dir} --data DATA` first, or pass --no-refine")
    try:
        prior = BonePrior.from_dict(json.loads(prior_path.read_text()))
        prior.check_skeleton(ICVL_SKELETON)
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as e:
        raise SdnetError(f"{prior_path}: not a valid bone prior ({e})") from None
    try:
        cfg = from_dict(RefineConfig, json.loads(refine_path.read_text())["config"], str(refine_path))
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as e:
        raise SdnetError(f"{refine_path}: not a valid refinement config ({e})") from None
    return prior, cfg


def load_predictor(run_dir: Path, intrinsics: Intrinsics | None = None, refine: bool = True,
                   hand: str = "right", centre_refine: bool = True) -> Predictor:
    """A Predictor for ``run_dir``; ``intrinsics`` None = the run's camera; ``hand`` 'right' or 'left';
    ``centre_refine``: use the run's learned centre refinement (RUN/centre.keras) when it has one.
    Checks everything (config, refinement files, model and its input size) before returning;
    SdnetError on any problem."""
    from pipeline.centre_refiner import load_centre_refiner
    from pipeline.inference import load_model

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise SdnetError(f"{run_dir}: run directory not found")
    if hand not in HANDS:
        raise SdnetError(f"hand must be one of {', '.join(HANDS)}, got {hand!r}")
    info, raw = run_data_info(run_dir)
    intr = intrinsics or run_intrinsics(info)
    centre, source = centre_config_of(info)
    prior, cfg = load_refinement(run_dir) if refine else (None, None)
    model = load_model(run_dir)
    shape = tuple(model.input_shape)
    if shape[1:] != (info.crop_size, info.crop_size, 1):
        raise SdnetError(f"{run_dir}: model input {shape[1:]} does not match the run's crop size "
                         f"{info.crop_size} px")
    return Predictor(model=model, crop_size=int(info.crop_size), cube_mm=float(info.cube_mm), centre=centre,
                     intrinsics=intr, prior=prior, refine=cfg, run_dir=run_dir, centre_source=source,
                     preset=raw.get("model", {}).get("preset"), hand=hand,
                     centre_refiner=load_centre_refiner(run_dir) if centre_refine else None)


# ----------------------------------------------------------------------------- per-frame core


def crop_frame(depth: np.ndarray, pred: Predictor) -> tuple[np.ndarray, np.ndarray]:
    """(normalized crop (S, S) float32 in [-1, 1], hand centre (3,) camera xyz mm) of a raw depth
    frame (H, W) uint16 mm, exactly as ``sdnet data`` crops at angle 0, in the camera of
    ``pred.work_intrinsics`` (``depth`` already mirrored for a left hand). Raises NoHandError.
    With the run's centre refiner, the crop is cut a second time around the refined centre.
    """
    centre = hand_centre(depth, pred.work_intrinsics, pred.cube_mm, pred.centre)
    crop = crop_at(depth, centre, pred)
    if pred.centre_refiner is not None:
        moved = centre + pred.centre_refiner.move(crop[None])[0] * pred.cube_mm / 2.0
        if np.all(np.isfinite(moved)) and moved[2] >= pred.centre.min_depth_mm:
            centre = moved
            crop = crop_at(depth, centre, pred)
    return crop, centre


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
        outs.append(pred.forward(batch).reshape(-1, NUM_JOINTS, 3))
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
    the final uvd/xyz (refined when the refinement is on). ``depth`` is kept for overlays."""

    ref: FrameRef
    status: str
    depth: np.ndarray | None = None
    centre_xyz: np.ndarray | None = None
    uvd_cnn: np.ndarray | None = None
    uvd: np.ndarray | None = None
    xyz: np.ndarray | None = None


def _reason(err: Exception, path: Path) -> str:
    msg = str(err)
    prefix = f"{path}: "
    return msg[len(prefix):] if msg.startswith(prefix) else msg


def predict_chunk(pred: Predictor, refs: Sequence[FrameRef], batch_size: int = 64,
                  timing: dict | None = None, progress=None) -> list[FrameResult]:
    """Read, crop, run the CNN on and (when on) refine a run of frames; one FrameResult per ref.

    ``timing`` (optional) accumulates seconds per stage over the frames with a hand: 'read' (file +
    PNG decode), 'crop' (centre + crop), 'cnn' (forward + mapping to uvd), 'refine'. A left hand
    (``pred.mirrored``) is processed mirrored; results are mapped back to the original image.
    """
    timing = timing if timing is not None else {}
    intr, work_intr = pred.intrinsics, pred.work_intrinsics
    results, crops, centres, work_depths = [], [], [], []
    for ref in refs:
        if progress is not None:
            progress.update(1)
        t0 = time.perf_counter()
        try:
            depth = read_depth_png(ref.path, (intr.width, intr.height), intr.depth_scale)
            work = np.ascontiguousarray(depth[:, ::-1]) if pred.mirrored else depth
            t1 = time.perf_counter()
            crop, centre = crop_frame(work, pred)
            t2 = time.perf_counter()
        except DepthImageError as e:
            results.append(FrameResult(ref, f"{UNREADABLE}: {_reason(e, ref.path)}"))
            continue
        except NoHandError as e:
            results.append(FrameResult(ref, f"{NO_HAND}: {e}", depth=depth))
            continue
        timing["read"] = timing.get("read", 0.0) + t1 - t0
        timing["crop"] = timing.get("crop", 0.0) + t2 - t1
        results.append(FrameResult(ref, OK, depth=depth, centre_xyz=centre))
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
        from models.refine import refine_poses

        t0 = time.perf_counter()
        xyz = refine_poses(uvd_to_xyz(uvd, work_intr), np.stack(work_depths),
                           hand_band(np.stack(centres), np.full(len(ok), pred.cube_mm)), work_intr,
                           pred.prior, pred.refine, np.array([r.ref.sequence for r in ok]),
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


# ----------------------------------------------------------------------------- overlays


def _depth_colours(depth: np.ndarray, near_far: tuple[float, float] | None) -> np.ndarray:
    """(H, W, 3) uint8: foreground depth coloured with the 'bone' colormap (near = light), far or
    background pixels black. ``near_far`` [mm] is the range spread over the colormap."""
    from matplotlib import colormaps

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


def overlay_image(depth: np.ndarray, uvd: np.ndarray | None, band: tuple[float, float] | None = None,
                  scale: int = 2, note: str = ""):
    """A PIL image of a depth frame (H, W) uint16 mm with the skeleton uvd (J, 3) [px, px, mm] drawn
    in the finger colours of the eval figures (palm white), magnified ``scale`` times."""
    from PIL import Image, ImageDraw

    from eval.report import FINGER_COLORS

    img = Image.fromarray(_depth_colours(depth, band)).resize(
        (depth.shape[1] * scale, depth.shape[0] * scale), Image.NEAREST)
    draw = ImageDraw.Draw(img)
    if uvd is not None:
        pts = (np.asarray(uvd)[:, :2] + 0.5) * scale - 0.5  # pixel centres in the magnified image
        for name, chain in zip(ICVL_SKELETON.part_names, ICVL_SKELETON.part_chains):
            colour = FINGER_COLORS[name]
            draw.line([tuple(pts[j]) for j in chain], fill=colour, width=max(1, scale + 1), joint="curve")
            for j in chain[1:]:
                u, v = pts[j]
                draw.ellipse((u - scale - 1, v - scale - 1, u + scale + 1, v + scale + 1), fill=colour)
        u, v = pts[ICVL_SKELETON.root]
        draw.ellipse((u - scale - 2, v - scale - 2, u + scale + 2, v + scale + 2), fill="white")
    if note:
        draw.text((4, 4), note, fill="white")
    return img


# ----------------------------------------------------------------------------- the command


def _rounded(a: np.ndarray) -> list:
    return np.round(np.asarray(a, dtype=np.float64), DECIMALS).tolist()


def frame_entry(r: FrameResult, overlay: str | None, refined: bool) -> dict:
    """The JSON entry of one frame (see ``predictions_document``)."""
    entry = {"path": str(r.ref.path), "sequence": r.ref.sequence, "frame": r.ref.index,
             "status": r.status, "overlay": overlay}
    if r.status == OK:
        entry["centre_xyz"] = _rounded(r.centre_xyz)
        entry["uvd"] = _rounded(r.uvd)
        entry["xyz"] = _rounded(r.xyz)
        if refined:
            entry["uvd_cnn"] = _rounded(r.uvd_cnn)
    return entry


def predictions_document(pred: Predictor, source: Path, kind: str, entries: list[dict],
                         timing: dict) -> dict:
    """The content of predictions.json.

    Top level: run, input, input_kind, joint_names (J, ICVL order), units, intrinsics (px),
    crop_size (px), cube_mm, centre (the hand-centre rule) and centre_source, refined (bool), hand,
    centre_refined (bool: the learned centre refinement was applied),
    refine (the RefineConfig or null), counts (frames / ok / no_hand / unreadable), ms_per_frame
    (per stage, per frame with a hand, this machine), frames: one entry per input frame, in input
    order, with path, sequence, frame, status, overlay (relative path or null), and when status is
    "ok": centre_xyz (3), uvd (J x 3), xyz (J x 3), plus uvd_cnn (J x 3, before the refinement)
    when refined. For an ICVL tree ``run_predict`` adds error_mm (``pipeline.score.score_entries``:
    the error against the tree's labels, or null when it has none).
    """
    statuses = [e["status"] for e in entries]
    n = len(entries)
    n_ok = statuses.count(OK)
    return {
        "run": str(Path(pred.run_dir).resolve()),
        "input": str(Path(source).resolve()),
        "input_kind": kind,
        "joint_names": list(ICVL_SKELETON.joint_names),
        "units": {"uvd": "u, v: image pixels (origin at the top-left pixel centre); d: depth, mm",
                  "xyz": "camera mm: x right, y down, z forward (= d)",
                  "centre_xyz": "camera mm, the label-free hand centre the crop was cut around"},
        "intrinsics": pred.intrinsics.to_dict(),
        "crop_size": pred.crop_size,
        "cube_mm": pred.cube_mm,
        "centre": to_dict(pred.centre),
        "centre_source": pred.centre_source,
        "refined": pred.refining,
        "hand": pred.hand,
        "centre_refined": pred.centre_refiner is not None,
        "refine": to_dict(pred.refine) if pred.refining else None,
        "counts": {"frames": n, "ok": n_ok,
                   "no_hand": sum(s.startswith(NO_HAND) for s in statuses),
                   "unreadable": sum(s.startswith(UNREADABLE) for s in statuses)},
        "ms_per_frame": {k: round(1000.0 * v / max(1, n_ok), 3) for k, v in timing.items()},
        "frames": entries,
    }


def _chunks(refs: Sequence[FrameRef], size: int) -> Iterable[Sequence[FrameRef]]:
    for start in range(0, len(refs), size):
        yield refs[start:start + size]


def run_predict(pred: Predictor, source: Path, out: Path, *, split: str = "all", batch_size: int = 64,
                overlays: bool = True, overwrite: bool = False, progress: bool = True) -> dict:
    """Predict every frame under ``source`` into ``out`` (atomically); returns predictions.json.

    SdnetError for a single PNG that cannot be read, or when no frame at all is readable.
    """
    from tqdm import tqdm

    from pipeline.fsutil import atomic_output_dir, check_output_dir, write_json

    if batch_size < 1:
        raise SdnetError(f"--batch-size must be >= 1, got {batch_size}")
    check_output_dir(Path(out), overwrite)
    kind, refs = collect_frames(source, split)
    entries, timing = [], {}
    with atomic_output_dir(Path(out), overwrite) as tmp:
        if overlays:
            (tmp / OVERLAY_DIR).mkdir()
        with tqdm(total=len(refs), unit="frame", desc="sdnet predict", mininterval=0.5, file=sys.stderr,
                  disable=not progress or len(refs) < PROGRESS_MIN_FRAMES) as bar:
            for chunk in _chunks(refs, CHUNK_FRAMES):
                results = predict_chunk(pred, chunk, batch_size, timing, progress=bar)
                for r in results:
                    overlay = None
                    if overlays and r.depth is not None:
                        overlay = f"{OVERLAY_DIR}/{r.ref.name}.png"
                        band = None
                        if r.status == OK:
                            band = tuple(hand_band(r.centre_xyz[None], np.array([pred.cube_mm]))[0])
                        note = "" if r.status == OK else r.status
                        overlay_image(r.depth, r.uvd, band, note=note).save(tmp / overlay)
                    entries.append(frame_entry(r, overlay, pred.refining))
        unreadable = [e for e in entries if e["status"].startswith(UNREADABLE)]
        if kind == "png" and unreadable:
            raise SdnetError(f"{refs[0].path}: {unreadable[0]['status'][len(UNREADABLE) + 2:]}"
                             f"{_size_hint(unreadable[0]['status'])}")
        if len(unreadable) == len(entries):
            raise SdnetError(f"{source}: none of the {len(entries)} frames is readable (first: "
                             f"{unreadable[0]['path']}: {unreadable[0]['status']})"
                             f"{_size_hint(unreadable[0]['status'])}")
        doc = predictions_document(pred, source, kind, entries, timing)
        if kind == "icvl-tree":
            from pipeline.score import score_entries, tree_labels

            doc["error_mm"] = score_entries(entries, tree_labels(Path(source)), pred.intrinsics)
        write_json(tmp / PREDICTIONS_FILE, doc)
    return doc


def _size_hint(status: str) -> str:
    if "expected" in status and "x" in status and "image is" in status:
        return ("; give the camera that took it with --intrinsics FILE.json, or --camera and "
                "--fx --fy --cx --cy --width --height --depth-scale")
    return ""


def summary_line(doc: dict, out: Path) -> str:
    """One line for the console: counts, refinement and where the output went."""
    c = doc["counts"]
    ms = doc["ms_per_frame"]
    stages = ", ".join(f"{k} {v:.1f}" for k, v in ms.items())
    refined = "refined" if doc["refined"] else "CNN only"
    scored = doc.get("error_mm") or {}
    error = (f"; {scored['mean_error_mm']:.2f} mm mean error against the tree's labels"
             if "mean_error_mm" in scored else "")
    return (f"{c['frames']} frames: {c['ok']} ok, {c['no_hand']} no hand, {c['unreadable']} unreadable "
            f"({refined}; ms/frame: {stages}){error} -> {Path(out) / PREDICTIONS_FILE}")
