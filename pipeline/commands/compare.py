"""``sdnet compare``: score result files in the standard format against a ground truth."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.camera import CAMERAS, Intrinsics
from pipeline.datasets import DATASETS, DEFAULT_DATASET, Dataset, get_dataset
from pipeline.errors import SdnetError


def _dataset_lines() -> str:
    """Per registered dataset, in words: joints a line and the scoring intrinsics (for --help)."""
    return "; ".join(
        f"{d.name}: {d.num_joints} joints ({3 * d.num_joints} values) a line, {d.scoring_camera_name} fx "
        f"{d.scoring_camera.fx:g}, fy {d.scoring_camera.fy:g}, cx {d.scoring_camera.cx:g}, cy "
        f"{d.scoring_camera.cy:g}, test sequences "
        + (", ".join(f"{s.name} {s.frames}" for s in d.test_sequences) or "not fixed (a data dir's own test split)")
        for d in DATASETS.values())


def register(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="compare result files (J x u v d per line) against the ground truth",
        description="Converts predicted and ground-truth image uvd to camera xyz (mm) with one set of "
        "intrinsics (the dataset's evaluation kit's by default), scores the mean 3-D distance as the kit "
        "does, prints a table sorted by mean error and writes metrics.json (with the errors per test "
        "sequence or subject), settings.json, table.csv, per_joint.png and "
        "success_{max_frame,mean_frame,joint}.png into --out. Result files hold one line per test frame, "
        f"in the order of the test label files. Datasets: {_dataset_lines()}.",
        epilog="examples: sdnet compare --gt ../shared/icvl/icvl_test_groundtruth_label.txt "
        "--pred ../shared/icvl/published/ --pred mine=work/report/predictions_uvd.txt --out work/compare; "
        "sdnet compare --dataset nyu --gt ../shared/nyu/nyu_test_groundtruth_label.txt "
        "--pred ../shared/nyu/published/ --out work/compare_nyu",
    )
    p.add_argument("--dataset", choices=sorted(DATASETS), default=DEFAULT_DATASET,
                   help=f"the dataset of the files: its joints, skeleton, scoring intrinsics, test sequences "
                   f"and published results (default {DEFAULT_DATASET})")
    p.add_argument("--gt", type=Path, nargs="+", required=True, metavar="FILE",
                   help="ground truth: a result-format file (3 J values a line, e.g. the kit's "
                   + ", ".join(d.test_label_file for d in DATASETS.values() if d.test_label_file)
                   + ") or ICVL label files (path + 48 values, e.g. test_seq_1.txt test_seq_2.txt), "
                   "concatenated in order")
    p.add_argument("--pred", nargs="+", action="extend", required=True, metavar="NAME=FILE",
                   help="a result file to compare, as NAME=FILE, a bare FILE (named after the published "
                   "method or the file stem) or a folder of .txt result files; repeatable")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output directory")
    p.add_argument("--list", type=Path, default=None, metavar="FILE",
                   help="the image path of every ground-truth line (the dataset's test list, e.g. "
                   + ", ".join(d.test_list_file for d in DATASETS.values() if d.test_list_file)
                   + "), checked against the ground truth's frame count. Where the paths name the test "
                   "sequence (ICVL) it gives the sequences for the per-sequence errors and the "
                   "plausibility's bone-length sd and jitter; ICVL label files given as --gt carry their own "
                   "paths. NYU's subjects are frame ranges of the whole test set, no list needed")
    p.add_argument("--camera", choices=sorted(CAMERAS), default=None,
                   help="named intrinsics for uvd -> xyz (default: the dataset's scoring intrinsics, see "
                   "above)")
    for name in ("fx", "fy", "cx", "cy"):
        p.add_argument(f"--{name}", type=float, default=None,
                       help=f"custom intrinsics: {name} in pixels (give all four, instead of --camera)")
    p.add_argument("--with-reported", action="store_true",
                   help="add the mean errors other papers reported (no result file here) as rows marked "
                   "'reported, not recomputed'")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    p.set_defaults(func=run)


def resolve_intrinsics(args: argparse.Namespace, dataset: Dataset):
    """(camera name, Intrinsics) from --camera or --fx/--fy/--cx/--cy, else ``dataset``'s scoring
    intrinsics; SdnetError on a mix."""
    custom = {k: getattr(args, k) for k in ("fx", "fy", "cx", "cy")}
    given = [k for k, v in custom.items() if v is not None]
    if not given:
        if args.camera is None:
            return dataset.scoring_camera_name, dataset.scoring_camera
        return args.camera, CAMERAS[args.camera]
    if args.camera is not None:
        raise SdnetError("give either --camera or --fx/--fy/--cx/--cy, not both")
    if len(given) != 4:
        missing = sorted(set(custom) - set(given))
        raise SdnetError(f"custom intrinsics need all of --fx --fy --cx --cy (missing: "
                         + ", ".join("--" + m for m in missing) + ")")
    try:
        return "custom", Intrinsics(**custom)
    except ValueError as e:
        raise SdnetError(str(e)) from None


def run(args: argparse.Namespace) -> int:
    from eval.compare import format_sequence_table, format_table, run_compare

    dataset = get_dataset(args.dataset)
    camera, intr = resolve_intrinsics(args, dataset)
    rows, metrics = run_compare(args.gt, args.pred, args.out, intr, camera_name=camera,
                       with_reported=args.with_reported, overwrite=args.overwrite, list_path=args.list,
                       dataset=dataset)
    print(format_table(rows))
    per_sequence = format_sequence_table(metrics)
    if per_sequence:
        print(per_sequence)
    print(f"[compare] wrote {args.out}/ (metrics.json, table.csv, per_joint.png, success_*.png)",
          file=sys.stderr)
    return 0
