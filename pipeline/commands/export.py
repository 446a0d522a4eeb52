"""``sdnet export``: a run's CNN as a SavedModel or TFLite model, with its input/output contract."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "export", help="export a run's CNN as a TensorFlow SavedModel or a TFLite model",
        description="Writes the run's CNN (normalized depth crop in, normalized crop-frame joints out) "
        "to the directory --out: a SavedModel (Keras model.export, signature 'serving_default') or "
        "OUT/model.tflite, plus OUT/sdnet_export.json with the crop size, cube, intrinsics, joint "
        "names and the tensor layout. The export is checked against the Keras model on random "
        "crops before it is put in place.")
    p.add_argument("--run", type=Path, required=True, help="run directory of `sdnet train`")
    p.add_argument("--format", choices=["savedmodel", "tflite"], required=True, help="export format")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.export import META_FILE, TFLITE_FILE, export_run

    contract = export_run(args.run, args.format, args.out, overwrite=args.overwrite)
    what = args.out / TFLITE_FILE if args.format == "tflite" else args.out
    print(f"exported {args.format}: {what} (crop {contract['crop_size']} px, cube "
          f"{contract['cube_mm']:g} mm, max |export - keras| = {contract['parity_max_abs_diff']:.2g}); "
          f"contract: {args.out / META_FILE}")
    return 0
