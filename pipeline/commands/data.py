"""``sdnet data``: the Beam job from a labelled tree (ICVL, NYU Hand, MSRA, HANDS 2017) to augmented,
sharded TFRecords."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipeline.commands.camera_args import add_camera_arguments, camera_from_args
from pipeline.config import DataConfig
from pipeline.datasets import DATASETS, get_dataset
from pipeline.errors import SdnetError
from pipeline.experiment import DATA_SHORTHANDS, add_experiment_arguments, load_experiment, sets_from_args

EPILOG = """\
Any argument this command does not know is passed to Apache Beam as a pipeline option, e.g.
  --runner=DirectRunner --direct_running_mode=in_memory        (one process)
  --direct_num_workers=4                                         (more local workers)
  --runner=DaskRunner --dask_client_address=tcp://HOST:8786      (a Dask cluster; tested here)
  --runner=DataflowRunner --project=P --region=R --temp_location=gs://B/tmp --setup_file=./setup.py
Without --runner the job runs on the DirectRunner in multi-processing mode, one worker per core.
On a cluster, --root and --out must be on storage every worker sees (README: Scaling out).

The tree's layout is its dataset's (--dataset, or the experiment's data.dataset; default icvl):
{layouts}
NYU Hand: camera 1 and the 14 evaluated joints. 'val' is the tail of the one training recording
(the single-sequence rule: its last 10% of frames, one contiguous block, when data.val_fraction > 0).
Test frames keep label order; each frame's sequence is its test subject (subject_1, subject_2; in a
synthetic tree as its synth.json's test_subjects say), cropped with that subject's cube (300 / 250 mm);
training and val crops use data.cube_mm. Convert NYU trees with --config configs/nyu.json: its 350 mm
hand-centre band (--band) keeps the centre on the hand when the forearm reaches toward the camera (with
the default 150 mm it fell on the forearm in 15% of synthetic NYU frames, which the job then rejects).
MSRA (--dataset msra --test-subject P3): leave one subject out; the test subject's frames are the test
split, cropped with its cube (200 mm P0-P2, 180 P3-P5, 170 P6, 160 P7, 150 P8), the other subjects'
frames train (val: whole gesture folders, data.val_fraction); known faulty frames are rejected. One
data dir per fold; the manifest records its test_subject, and `sdnet train` on it needs the same
data.test_subject (--set data.test_subject=P3).

Outputs: DATA/manifest.json, DATA/{{train,val,test}}-*.tfrecord.gz, DATA/rejected.jsonl.
""".format(layouts="\n".join(f"  {d.tree_help}" for d in DATASETS.values()))


def register(sub) -> None:
    p = sub.add_parser(
        "data", help="convert an ICVL, NYU Hand, MSRA or HANDS 2017 tree into augmented, sharded TFRecords "
        "(Apache Beam)",
        description="Cut the crops as the data section of the experiment says (--config FILE, default the "
        "default experiment; --set data.KEY=VALUE and the flags below change it), so that `sdnet train "
        "--config FILE` finds its data cut as it expects. Read the tree in its dataset's layout (--dataset). "
        "Crop each labelled frame around the hand (3-D cube, depth normalized to [-1, 1]), "
        "hold out whole training sequences for validation (the tail of a single training sequence), rotate training crops K times in-plane, and "
        "write compressed TFRecord shards with a manifest. Bad frames are listed in rejected.jsonl.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", "--icvl-root", dest="root", type=Path,
                   help="root of the tree, in the layout of --dataset (ICVL: Training/, Testing/; NYU: train/, "
                   "test/; MSRA: P0..P8/; HANDS 2017: training/); --icvl-root is the older spelling")
    p.add_argument("--out", type=Path, help="output directory (must be empty unless --overwrite)")
    add_experiment_arguments(p, DATA_SHORTHANDS)
    add_camera_arguments(p, "the dataset's: icvl 320x240 PNGs in mm, nyu 640x480 RGB-encoded mm, msra 320x240 "
                         "float mm, hands2017 640x480 PNGs in mm")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    p.add_argument("--preview", type=Path, metavar="PNG",
                   help="write a montage of crops with joints; with --out only, preview existing data")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run, accepts_unknown=True)


def config_from_args(args: argparse.Namespace) -> DataConfig:
    """The data section of the experiment the options describe (--config, then --set data.KEY=VALUE, then
    the shorthand flags); SdnetError for invalid values or a --set outside the data section."""
    sets = sets_from_args(args, DATA_SHORTHANDS)
    outside = sorted(k for k in sets if not k.startswith("data."))
    if outside:
        raise SdnetError(f"--set {outside[0]}: sdnet data takes only the data section (data.KEY=VALUE)")
    return load_experiment(args.config, sets).data


def run(args: argparse.Namespace) -> int:
    from pipeline.build_data import convert_tree

    def preview() -> int:
        from pipeline.preview_data import write_data_preview  # deferred: it loads TensorFlow, only for --preview

        write_data_preview(args.out, args.preview)
        print(f"preview: {args.preview}")
        return 0

    if args.out is None:
        raise SdnetError("--out is required")
    if args.root is None:
        if args.preview:
            return preview()
        raise SdnetError("--root is required (or --out with --preview to preview existing data)")
    cfg = config_from_args(args)
    intr = camera_from_args(args, get_dataset(cfg.dataset).camera)
    manifest = convert_tree(args.root, args.out, cfg, intr, args.beam_args,
                            overwrite=args.overwrite, progress=not args.quiet)
    summary = {k: manifest[k] for k in ("counts", "frames", "bytes", "rejected", "seconds")}
    print(json.dumps(summary, indent=1))
    if manifest.get("val_from"):
        print(f"val: {manifest['val_from']}")
    if manifest["rejected"]:
        print(f"{manifest['rejected']} frames rejected: see {args.out / 'rejected.jsonl'}")
    if args.preview:
        preview()
    return 0
