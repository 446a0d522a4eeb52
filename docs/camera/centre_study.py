"""Hand-centre error and pose error on a labelled scene tree, for each way of finding the centre.

    .venv/bin/python docs/camera/centre_study.py --tree work/camera-synth --run work/run \
        --out docs/camera [--before work/run-long] [--frames 400]

For every test frame of TREE (its camera from TREE/synth.json): the hand centre of the original rule
('com'), of the blob rule ('blob') and of the blob rule plus the run's learned refinement
('blob + learned'), each against the reference centre (the labelled palm joint minus the run's
mu * cube/2: where the training crops held the palm on average, RUN/centre.json); then RUN's
joints with each centre (refinement on when the run has its prior), scored against the labels.
``--before`` adds a row for an older run with its own centre rule. Writes OUT/centre_study.md and
OUT/centre_study.json.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from pipeline.camera import Intrinsics, uvd_to_xyz
from pipeline.datasets import ICVL
from pipeline.frame_sources import collect_frames
from pipeline.geometry import NoHandError, hand_centre
from pipeline.icvl import read_depth_png
from pipeline.predict import frame_entry
from pipeline.predictor import crop_frame, load_predictor, predict_chunk
from pipeline.rundir import RunDir
from pipeline.score import score_entries, tree_labels
from pipeline.skeleton import ICVL_SKELETON

FAR_MM = 40.0  # a centre farther than this from the reference has left the hand


def centre_errors(refs, labels, intr, pred, mu_mm) -> dict:
    """{variant: centre errors (N,) mm, NaN where no hand was found} over ``refs``."""
    out = {"com": [], "blob": [], "blob + learned": []}
    com = dataclasses.replace(pred.centre, method="com")
    blob = dataclasses.replace(pred.centre, method="blob")
    learned = dataclasses.replace(pred, centre=blob) if pred.centre_refiner is not None else None
    for ref in refs:
        depth = read_depth_png(ref.path, (intr.width, intr.height), intr.depth_scale)
        truth = uvd_to_xyz(labels[str(ref.path)], intr)[ICVL_SKELETON.root] - mu_mm
        for name, rule in (("com", com), ("blob", blob)):
            try:
                out[name].append(np.linalg.norm(hand_centre(depth, intr, pred.cube_mm, rule) - truth))
            except NoHandError:
                out[name].append(np.nan)
        try:
            out["blob + learned"].append(np.nan if learned is None
                                         else np.linalg.norm(crop_frame(depth, learned)[1] - truth))
        except NoHandError:
            out["blob + learned"].append(np.nan)
    return {k: np.array(v, dtype=np.float64) for k, v in out.items()}


def pose_error(pred, refs, labels, intr) -> dict:
    """Predict's joints for ``refs`` scored against ``labels`` (``pipeline.score``)."""
    entries = []
    for start in range(0, len(refs), 256):
        for r in predict_chunk(pred, refs[start:start + 256]):
            entries.append(frame_entry(r, None, pred.refining))
    return score_entries(entries, labels, intr)


def summarize(errors: np.ndarray) -> dict:
    found = errors[np.isfinite(errors)]
    return {"frames": int(errors.size), "found": int(found.size),
            "mean_mm": round(float(found.mean()), 1) if found.size else None,
            "median_mm": round(float(np.median(found)), 1) if found.size else None,
            f"share_over_{FAR_MM:g}_mm": round(float((found > FAR_MM).mean()), 3) if found.size else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", type=Path, required=True)
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--before", type=Path, default=None, help="an older run, scored with its own rule")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--frames", type=int, default=0, help="use the first N test frames (0: all)")
    args = ap.parse_args()
    t0 = time.time()
    intr = Intrinsics.from_dict(json.loads((args.tree / "synth.json").read_text())["intrinsics"])
    labels = tree_labels(args.tree, ICVL, ICVL.camera)
    refs = collect_frames(args.tree, "test")[1]
    refs = refs[:args.frames] if args.frames else refs
    pred = load_predictor(args.run, intr, refine=RunDir(args.run).has_refinement)
    mu_mm = np.array(pred.centre_refiner.doc["mu"]) * pred.cube_mm / 2 if pred.centre_refiner else np.zeros(3)
    centres = {k: summarize(v) for k, v in centre_errors(refs, labels, intr, pred, mu_mm).items()}
    poses = {}
    for name, method, learned in (("com", "com", False), ("blob", "blob", False),
                                  ("blob + learned", "blob", True)):
        if learned and pred.centre_refiner is None:
            continue
        variant = dataclasses.replace(pred, centre=dataclasses.replace(pred.centre, method=method),
                                      centre_refiner=pred.centre_refiner if learned else None)
        poses[name] = pose_error(variant, refs, labels, intr)
    if args.before:
        old = load_predictor(args.before, intr, refine=RunDir(args.before).has_refinement,
                             centre_refine=False)
        poses[f"before: {args.before.name} ({old.centre.method})"] = pose_error(old, refs, labels, intr)
    doc = {"tree": str(args.tree), "run": str(args.run), "camera": intr.to_dict(), "frames": len(refs),
           "reference": "the labelled palm joint minus mu * cube/2 (RUN/centre.json)",
           "centre_error": centres, "pose_error": poses, "seconds": round(time.time() - t0, 1)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "centre_study.json").write_text(json.dumps(doc, indent=1) + "\n")
    lines = [f"# Hand centre on {args.tree.name} ({len(refs)} frames, {intr.width}x{intr.height}, "
             f"{intr.depth_scale:g} mm units)", "",
             f"Run: `{args.run}`. Reference centre: {doc['reference']}.", "",
             f"| centre | frames with a hand | centre error mean (mm) | median (mm) | share > {FAR_MM:g} mm |",
             "|---|---|---|---|---|"]
    for name, c in centres.items():
        if c["found"]:
            lines.append(f"| {name} | {c['found']}/{c['frames']} | {c['mean_mm']} | {c['median_mm']} | "
                         f"{c[f'share_over_{FAR_MM:g}_mm']:.1%} |")
    lines += ["", "| joints from | frames with a hand | mean joint error (mm) | CNN only (mm) |", "|---|---|---|---|"]
    for name, p in poses.items():
        lines.append(f"| {name} | {p['frames_with_hand']}/{p['labelled_frames']} | {p.get('mean_error_mm', '-')} | "
                     f"{p.get('cnn_mean_error_mm', p.get('mean_error_mm', '-'))} |")
    (args.out / "centre_study.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
