"""``sdnet data``: the Beam job from an ICVL tree to augmented, sharded TFRecords."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipeline.commands.camera_args import add_camera_arguments, camera_from_args
from pipeline.config import CENTRE_METHODS, SINGLE_SEQUENCE_VAL_SHARE, DataConfig
from pipeline.errors import SdnetError

EPILOG = """\
Any argument this command does not know is passed to Apache Beam as a pipeline option, e.g.
  --runner=DirectRunner --direct_running_mode=in_memory        (one process)
  --direct_num_workers=4                                         (more local workers)
  --runner=DaskRunner --dask_client_address=tcp://HOST:8786      (a Dask cluster; tested here)
  --runner=DataflowRunner --project=P --region=R --temp_location=gs://B/tmp --setup_file=./setup.py
Without --runner the job runs on the DirectRunner in multi-processing mode, one worker per core.
On a cluster, --icvl-root and --out must be on storage every worker sees (README: Scaling out).

Outputs: DATA/manifest.json, DATA/{train,val,test}-*.tfrecord.gz, DATA/rejected.jsonl.
"""


def register(sub) -> None:
    p = sub.add_parser(
        "data", help="convert an ICVL tree into augmented, sharded TFRecords (Apache Beam)",
        description="Crop each labelled frame around the hand (3-D cube, depth normalized to [-1, 1]), "
        "hold out whole training sequences for validation (the tail of a single training sequence), rotate training crops K times in-plane, and "
        "write compressed TFRecord shards with a manifest. Bad frames are listed in rejected.jsonl.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--icvl-root", type=Path, help="root of the ICVL tree (Training/, Testing/)")
    p.add_argument("--out", type=Path, help="output directory (must be empty unless --overwrite)")
    d = DataConfig()  # the one place of the defaults
    p.add_argument("--crop", type=int, default=d.crop_size,
                   help="crop side in pixels (default %(default)s; paper preset: 224)")
    p.add_argument("--cube", type=float, default=d.cube_mm,
                   help="side of the 3-D crop cube in mm (default %(default)s)")
    p.add_argument("--rotations", type=int, default=d.rotations,
                   help="in-plane copies of each training frame, every 360/K degrees (default %(default)s)")
    p.add_argument("--scale-jitter", type=float, default=d.scale_jitter,
                   help="training cube scaled by U(1-s, 1+s), e.g. 0.1 (default %(default)s)")
    p.add_argument("--centre-jitter", type=float, default=d.centre_jitter_mm,
                   help="std (mm) of a random offset of the training crop centre, e.g. 8 (default %(default)s)")
    p.add_argument("--val-fraction", type=float, default=d.val_fraction,
                   help="share of training sequences held out whole for validation (default %(default)s; "
                   "0: none); with a single training sequence, its last "
                   f"{100 * SINGLE_SEQUENCE_VAL_SHARE:.0f}%% of frames are held out instead")
    p.add_argument("--skip-prerotated", action="store_true",
                   help="drop ICVL's pre-rotated training copies (non-timestamp folders)")
    p.add_argument("--max-reject", type=float, default=d.max_reject_fraction,
                   help="fail when more than this share of frames is rejected (default %(default)s)")
    p.add_argument("--band", type=float, default=d.centre.band_mm,
                   help="depth band (mm) behind the nearest hand pixel used for the hand centre "
                   "(default %(default)s)")
    p.add_argument("--centre-method", choices=CENTRE_METHODS, default=d.centre.method,
                   help="hand centre: blob (the nearest depth blob, forearm cut off; for scenes with "
                   "arm, body and clutter) or com (centre of mass of the depth band, the original rule); "
                   "default %(default)s")
    p.add_argument("--shards", type=int, default=d.shards,
                   help="train shards (default %(default)s: about 2000 records each)")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of the scale/centre jitter (default %(default)s)")
    add_camera_arguments(p, "icvl: 320x240 PNGs in mm")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    p.add_argument("--preview", type=Path, metavar="PNG",
                   help="write a montage of crops with joints; with --out only, preview existing data")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run, accepts_unknown=True)


def config_from_args(args: argparse.Namespace) -> DataConfig:
    """The DataConfig the options describe (SdnetError for invalid values)."""
    from pipeline.config import CentreConfig

    try:
        return DataConfig(crop_size=args.crop, cube_mm=args.cube, rotations=args.rotations,
                          scale_jitter=args.scale_jitter, centre_jitter_mm=args.centre_jitter,
                          val_fraction=args.val_fraction, skip_prerotated=args.skip_prerotated,
                          max_reject_fraction=args.max_reject, shards=args.shards, seed=args.seed,
                          centre=CentreConfig(band_mm=args.band, method=args.centre_method))
    except ValueError as e:
        raise SdnetError(str(e)) from None


def run(args: argparse.Namespace) -> int:
    from pipeline.build_data import convert_tree
    from pipeline.camera import ICVL_INTRINSICS

    if args.out is None:
        raise SdnetError("--out is required")
    if args.icvl_root is None:
        if args.preview:
            return _preview(args.out, args.preview)
        raise SdnetError("--icvl-root is required (or --out with --preview to preview existing data)")
    cfg = config_from_args(args)
    intr = camera_from_args(args, ICVL_INTRINSICS)
    manifest = convert_tree(args.icvl_root, args.out, cfg, intr, args.beam_args,
                            overwrite=args.overwrite, progress=not args.quiet)
    summary = {k: manifest[k] for k in ("counts", "frames", "bytes", "rejected", "seconds")}
    print(json.dumps(summary, indent=1))
    if manifest.get("val_from"):
        print(f"val: {manifest['val_from']}")
    if manifest["rejected"]:
        print(f"{manifest['rejected']} frames rejected: see {args.out / 'rejected.jsonl'}")
    if args.preview:
        _preview(args.out, args.preview)
    return 0


def _preview(data_dir: Path, png: Path) -> int:
    from pipeline.preview_data import write_data_preview

    write_data_preview(data_dir, png)
    print(f"preview: {png}")
    return 0
