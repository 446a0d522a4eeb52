"""Hand-centre error, pose error and palm-side agreement on a labelled scene tree, for each way of
finding the hand: the blob rule, the blob rule plus the run's learned centre refinement, and the
learned full-frame localizer (with and without that refinement).

    .venv/bin/python docs/camera/centre_study.py --tree work/camera-synth --run work/run \
        --out docs/camera [--name realsense] [--frames 400] [--threads 1]

For every test frame of TREE (its camera from TREE/synth.json; the frames' own hand, as ``sdnet
predict`` takes a tree): the hand centre of each variant against the reference centre (the labelled
palm joint minus the run's mu * cube/2: where the training crops held the palm on average,
RUN/centre.json); the localizer's palm joint against the labelled one; RUN's joints with each
variant (refinement on when the run has its prior), scored against the labels, with the share of
frames whose predicted palm normal points to the labelled side (``eval.metrics.palm_side_agreement``).
A variant that finds no hand in a frame (status ``no hand``) counts as not found; the errors are over
the frames found. Time: the localizer's median milliseconds per frame (``Locator.locate``, batch 1,
``--threads`` TensorFlow threads). Needs RUN/locator.keras for the localizer rows (``sdnet
fit-locator --out RUN``). Writes OUT/centre_study[-NAME].md and .json.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from eval.metrics import palm_side_agreement
from pipeline.camera import Intrinsics, uvd_to_xyz
from pipeline.datasets import ICVL
from pipeline.frame_sources import collect_frames
from pipeline.geometry import NoHandError, located_palm
from pipeline.icvl import read_depth_png
from pipeline.predict import frame_entry
from pipeline.predictor import crop_frame, load_predictor, predict_chunk
from pipeline.rundir import RunDir
from pipeline.score import score_entries, tree_labels
from pipeline.skeleton import ICVL_SKELETON

FAR_MM = 40.0  # a centre farther than this from the reference has left the hand


def variants(pred) -> dict:
    """{name: Predictor} of the ways to find the hand this run offers."""
    blob = dataclasses.replace(pred, centre=dataclasses.replace(pred.centre, method="blob"), locator=None)
    out = {"blob": dataclasses.replace(blob, centre_refiner=None)}
    if pred.centre_refiner is not None:
        out["blob + learned"] = blob
    if pred.locator is not None:
        out["localizer"] = dataclasses.replace(pred, centre_refiner=None)
        if pred.centre_refiner is not None:
            out["localizer + learned"] = pred
    return out


def centre_errors(refs, labels, intr, preds: dict, mu_mm) -> tuple[dict, np.ndarray, list]:
    """({variant: centre errors (N,) mm, NaN where no hand was found}, the localizer's palm errors
    (N,) mm (empty without one), its seconds per frame)."""
    out = {name: [] for name in preds}
    palm_err, seconds = [], []
    locating = next((p for p in preds.values() if p.locator is not None), None)
    for ref in refs:
        depth = read_depth_png(ref.path, (intr.width, intr.height), intr.depth_scale)
        palm = uvd_to_xyz(labels[str(ref.path)], intr)[ICVL_SKELETON.root]
        for name, p in preds.items():
            try:
                out[name].append(np.linalg.norm(crop_frame(depth, p)[1] - (palm - mu_mm)))
            except NoHandError:
                out[name].append(np.nan)
        if locating is not None:
            t0 = time.perf_counter()
            found, _ = located_palm(locating.locator, depth, intr, locating.dataset.image_hand)
            seconds.append(time.perf_counter() - t0)
            palm_err.append(np.linalg.norm(found - palm))
    return {k: np.array(v, dtype=np.float64) for k, v in out.items()}, np.array(palm_err), seconds


def pose_error(pred, refs, labels, intr) -> dict:
    """Predict's joints for ``refs`` scored against ``labels`` (``pipeline.score``), plus the
    palm-side agreement over the frames with a hand."""
    entries = []
    for start in range(0, len(refs), 256):
        for r in predict_chunk(pred, refs[start:start + 256]):
            entries.append(frame_entry(r, None, pred.refining))
    out = score_entries(entries, labels, intr)
    ok = [e for e in entries if e["status"] == "ok"]
    if ok:
        gt = uvd_to_xyz(np.stack([labels[e["path"]] for e in ok]), intr)
        out["palm_side_agreement"] = round(palm_side_agreement(np.array([e["xyz"] for e in ok]), gt, ICVL_SKELETON), 3)
    return out


def summarize(errors: np.ndarray) -> dict:
    found = errors[np.isfinite(errors)]
    return {"frames": int(errors.size), "found": int(found.size),
            "mean_mm": round(float(found.mean()), 1) if found.size else None,
            "median_mm": round(float(np.median(found)), 1) if found.size else None,
            f"share_over_{FAR_MM:g}_mm": round(float((found > FAR_MM).mean()), 3) if found.size else None}


def markdown(doc: dict, tree: Path, intr: Intrinsics) -> list[str]:
    far = f"share_over_{FAR_MM:g}_mm"
    lines = [f"# Finding the hand on {tree.name} ({doc['frames']} frames, {intr.width}x{intr.height}, "
             f"f {intr.fx:g} px, {intr.depth_scale:g} mm units)", "",
             f"Run: `{doc['run']}`. Reference centre: {doc['reference']}.", "",
             f"| hand from | frames with a hand | centre error mean (mm) | median (mm) | share > {FAR_MM:g} mm "
             "| joint error (mm) | CNN only (mm) | palm side agrees |", "|---|---|---|---|---|---|---|---|"]
    for name, c in doc["centre_error"].items():
        p = doc["pose_error"].get(name, {})
        lines.append(f"| {name} | {c['found']}/{c['frames']} | {c['mean_mm']} | {c['median_mm']} | "
                     f"{c[far]:.1%} | {p.get('mean_error_mm', '-')} | "
                     f"{p.get('cnn_mean_error_mm', p.get('mean_error_mm', '-'))} | "
                     f"{p.get('palm_side_agreement', 0):.1%} |")
    if doc.get("localizer"):
        loc = doc["localizer"]
        lines += ["", f"Localizer: palm joint error {loc['palm_error']['mean_mm']} mm mean, "
                  f"{loc['palm_error'][far]:.1%} beyond {FAR_MM:g} mm; {loc['ms_per_frame_median']} ms per "
                  f"frame (median, batch 1, {doc['threads']} TensorFlow thread(s)); threshold "
                  f"{loc['threshold']:.3f}."]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", type=Path, required=True)
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--name", default="", help="suffix of the output files (centre_study-NAME.md)")
    ap.add_argument("--frames", type=int, default=0, help="use the first N test frames (0: all)")
    ap.add_argument("--threads", type=int, default=1, help="TensorFlow intra/inter-op threads (default 1)")
    args = ap.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    t0 = time.time()
    intr = Intrinsics.from_dict(json.loads((args.tree / "synth.json").read_text())["intrinsics"])
    labels = tree_labels(args.tree, ICVL, ICVL.camera)
    refs = collect_frames(args.tree, "test")[1]
    refs = refs[:args.frames] if args.frames else refs
    pred = load_predictor(args.run, intr, refine=RunDir(args.run).has_refinement)
    mu_mm = np.array(pred.centre_refiner.doc["mu"]) * pred.cube_mm / 2 if pred.centre_refiner else np.zeros(3)
    preds = variants(pred)
    errors, palm_err, seconds = centre_errors(refs, labels, intr, preds, mu_mm)
    doc = {"tree": str(args.tree), "run": str(args.run), "camera": intr.to_dict(), "frames": len(refs),
           "threads": args.threads, "reference": "the labelled palm joint minus mu * cube/2 (RUN/centre.json)",
           "centre_error": {k: summarize(v) for k, v in errors.items()},
           "pose_error": {name: pose_error(p, refs, labels, intr) for name, p in preds.items()}}
    if pred.locator is not None:
        doc["localizer"] = {"palm_error": summarize(palm_err), "threshold": pred.locator.threshold,
                            "ms_per_frame_median": round(1000.0 * float(np.median(seconds[1:] or seconds)), 2)}
    doc["seconds"] = round(time.time() - t0, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "centre_study" + (f"-{args.name}" if args.name else "")
    (args.out / f"{stem}.json").write_text(json.dumps(doc, indent=1) + "\n")
    lines = markdown(doc, args.tree, intr)
    (args.out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
