"""``sdnet compare``: score result files in the standard format against a ground truth."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.camera import CAMERAS, Intrinsics
from pipeline.errors import SdnetError

DEFAULT_CAMERA = "icvl-benchmark"


def register(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="compare result files (16 x u v d per line) against the ground truth",
        description="Converts predicted and ground-truth image uvd to camera xyz (mm) with one set of "
        "intrinsics (the ICVL benchmark's by default), prints a table sorted by mean error and writes "
        "metrics.json, settings.json, table.csv, per_joint.png and success_{max_frame,mean_frame,joint}.png "
        "into --out. Result files hold one line per test frame, in the order of the test label files.",
        epilog="example: sdnet compare --gt ../shared/icvl/icvl_test_groundtruth_label.txt "
        "--pred ../shared/icvl/published/ --pred mine=work/report/predictions_uvd.txt --out work/compare",
    )
    p.add_argument("--gt", type=Path, nargs="+", required=True, metavar="FILE",
                   help="ground truth: a result-format file (48 values a line) or ICVL label files "
                   "(path + 48 values, e.g. test_seq_1.txt test_seq_2.txt), concatenated in order")
    p.add_argument("--pred", nargs="+", action="extend", required=True, metavar="NAME=FILE",
                   help="a result file to compare, as NAME=FILE, a bare FILE (named after the published "
                   "method or the file stem) or a folder of .txt result files; repeatable")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output directory")
    p.add_argument("--list", type=Path, default=None, metavar="FILE",
                   help="the image path of every ground-truth line (e.g. icvl_test_list.txt), which gives the "
                   "test sequences for the plausibility's bone-length sd and jitter; ICVL label files given "
                   "as --gt carry their own paths")
    p.add_argument("--camera", choices=sorted(CAMERAS), default=None,
                   help=f"named intrinsics for uvd -> xyz (default {DEFAULT_CAMERA}: fx 240.99, fy 240.96, "
                   "cx 160, cy 120)")
    for name in ("fx", "fy", "cx", "cy"):
        p.add_argument(f"--{name}", type=float, default=None,
                       help=f"custom intrinsics: {name} in pixels (give all four, instead of --camera)")
    p.add_argument("--with-reported", action="store_true",
                   help="add the mean errors other papers reported (no result file here) as rows marked "
                   "'reported, not recomputed'")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    p.set_defaults(func=run)


def resolve_intrinsics(args: argparse.Namespace):
    """(camera name, Intrinsics) from --camera or --fx/--fy/--cx/--cy; SdnetError on a mix."""
    custom = {k: getattr(args, k) for k in ("fx", "fy", "cx", "cy")}
    given = [k for k, v in custom.items() if v is not None]
    if not given:
        name = args.camera or DEFAULT_CAMERA
        return name, CAMERAS[name]
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
    from eval.compare import format_table, run_compare

    camera, intr = resolve_intrinsics(args)
    rows = run_compare(args.gt, args.pred, args.out, intr, camera_name=camera,
                       with_reported=args.with_reported, overwrite=args.overwrite, list_path=args.list)
    print(format_table(rows))
    print(f"[compare] wrote {args.out}/ (metrics.json, table.csv, per_joint.png, success_*.png)",
          file=sys.stderr)
    return 0
