"""``sdnet predict``: joints for depth PNGs from a trained run (CNN, then the optional refinement).

Input: ``pipeline.frame_sources.collect_frames`` (one PNG, a folder, an ICVL tree); the run and the
per-frame path: ``pipeline.predictor``. Frames are processed in chunks of ``CHUNK_FRAMES`` (memory stays
bounded on long trees); the temporal term links frames within a chunk, so the first frame of each chunk
after the first of a sequence has no previous frame (one in ``CHUNK_FRAMES``).

Frames that cannot be read get status "unreadable: <reason>", frames without a hand "no hand:
<reason>"; neither stops the run. Output (``run_predict``), written atomically:
``OUT/predictions.json`` and ``OUT/overlays/<name>.png`` (see ``predictions_document``).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from tqdm import tqdm

from pipeline.config import to_dict
from pipeline.errors import SdnetError
from pipeline.frame_sources import TREE_DATASETS, FrameRef, collect_frames
from pipeline.fsutil import atomic_output_dir, check_output_dir, write_json
from pipeline.inference import hand_band
from pipeline.overlay import overlay_image
from pipeline.predictor import NO_HAND, OK, UNREADABLE, FrameResult, Predictor, predict_chunk
from pipeline.score import score_entries, tree_labels

PREDICTIONS_FILE = "predictions.json"
OVERLAY_DIR = "overlays"
CHUNK_FRAMES = 512
PROGRESS_MIN_FRAMES = 20  # a progress bar for inputs of at least this many frames
DECIMALS = 3  # uvd px/mm and xyz mm in the JSON (the ICVL label precision)


def _rounded(a: np.ndarray) -> list:
    return np.round(np.asarray(a, dtype=np.float64), DECIMALS).tolist()


def frame_entry(r: FrameResult, overlay: str | None, refined: bool) -> dict:
    """The JSON entry of one frame (see ``predictions_document``)."""
    entry = {"path": str(r.ref.path), "sequence": r.ref.sequence, "frame": r.ref.index,
             "status": r.status, "overlay": overlay}
    if r.confidence is not None:
        entry["confidence"] = round(float(r.confidence), 4)
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

    Top level: run, input, input_kind, dataset (the run's), joint_names (J, the run's skeleton's
    order), units, intrinsics (px),
    crop_size (px), cube_mm, centre (the hand-centre rule), refined (bool), hand (the frames' hand, as a
    camera shows it), mirrored (bool: frames mirrored in and joints out, ``Predictor.mirrored``),
    centre_refined (bool: the learned centre refinement was applied), locator (null without the learned
    localizer, else its confidence threshold and validation figures: frames whose confidence is below
    the threshold get status "no hand: the localizer's confidence ..."),
    refine (the RefineConfig or null), counts (frames / ok / no_hand / unreadable), ms_per_frame
    (per stage, per frame with a hand, this machine), frames: one entry per input frame, in input
    order, with path, sequence, frame, status, overlay (relative path or null), confidence (the
    localizer's, in [0, 1], when the run has one and the frame was read), and when status is
    "ok": centre_xyz (3), uvd (J x 3), xyz (J x 3), plus uvd_cnn (J x 3, before the refinement)
    when refined. For an ICVL or NYU tree ``run_predict`` adds error_mm (``pipeline.score.score_entries``:
    the error against the tree's labels, or null when it has none).
    """
    statuses = [e["status"] for e in entries]
    n = len(entries)
    n_ok = statuses.count(OK)
    return {
        "run": str(Path(pred.run_dir).resolve()),
        "input": str(Path(source).resolve()),
        "input_kind": kind,
        "dataset": pred.dataset.name,
        "joint_names": list(pred.dataset.skeleton.joint_names),
        "units": {"uvd": "u, v: image pixels (origin at the top-left pixel centre); d: depth, mm",
                  "xyz": "camera mm: x right, y down, z forward (= d)",
                  "centre_xyz": "camera mm, the label-free hand centre the crop was cut around"},
        "intrinsics": pred.intrinsics.to_dict(),
        "crop_size": pred.crop_size,
        "cube_mm": pred.cube_mm,
        "centre": to_dict(pred.centre),
        "refined": pred.refining,
        "hand": pred.hand,
        "mirrored": pred.mirrored,
        "centre_refined": pred.centre_refiner is not None,
        "locator": None if pred.locator is None else {"threshold": pred.locator.threshold,
                                                       "validation": {k: v for k, v in (pred.locator.doc.get("validation") or {}).items()
                                                                      if k not in ("sequences", "holdout")}},
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
    if batch_size < 1:
        raise SdnetError(f"--batch-size must be >= 1, got {batch_size}")
    check_output_dir(Path(out), overwrite)
    kind, refs = collect_frames(source, split)
    if kind in TREE_DATASETS and TREE_DATASETS[kind] != pred.dataset.name:
        raise SdnetError(f"{source}: a {TREE_DATASETS[kind]} tree, but the run predicts {pred.dataset.name}'s "
                         f"joints (trained on {pred.dataset.name})")
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
                        overlay_image(r.depth, r.uvd, pred.dataset.skeleton, band, note=note).save(tmp / overlay)
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
        if kind in TREE_DATASETS:
            doc["error_mm"] = score_entries(entries, tree_labels(Path(source), pred.dataset, pred.intrinsics),
                                           pred.intrinsics)
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
