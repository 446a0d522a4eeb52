"""``sdnet eval``: the paper's metrics, plots and a report for a trained run on the test split."""
from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.camera import CAMERAS
from pipeline.datasets import DATASETS
from pipeline.errors import SdnetError


def register(sub) -> None:
    p = sub.add_parser(
        "eval", help="evaluate a run on the test split: metrics, figures, report",
        description="Predicts the test split in sequence order, maps the predictions back to image uvd "
        "and camera xyz through each record's crop transform, refines them with the run's prior.json and "
        "refine.json (written by `sdnet fit-refine`; the run is only read), and writes predictions_uvd.txt, "
        "metrics.json, per_frame_errors.csv, the per-joint and success-curve figures, the best/median/worst "
        "examples, the per-sequence errors over time, the run's learning curves, and report.md/report.html: "
        "a summary first (ours beside the paper's Table 1 for ICVL and, with --published, the published "
        "methods on the real test set of the run's dataset), then the figures, the settings last. "
        "Per-sequence errors group the test records by their sequence (ICVL: test_seq_1/2; NYU: the test "
        "subjects).")
    p.add_argument("--run", type=Path, default=None, help="run directory of `sdnet train`")
    p.add_argument("--data", type=Path, default=None, help="data directory of `sdnet data`")
    p.add_argument("--out", type=Path, required=True, help="report directory")
    p.add_argument("--dataset", choices=sorted(DATASETS), default=None,
                   help="the dataset of the run and the data (a check: it must be the run's; default: the run's)")
    p.add_argument("--no-refine", action="store_true",
                   help="score the CNN alone (needs no prior.json/refine.json in the run)")
    p.add_argument("--compare", nargs="*", default=[], metavar="NAME=FILE",
                   help="other result files (standard format, same test frames) to put in the tables")
    p.add_argument("--camera", choices=["data", "icvl", "icvl-benchmark"], default="data",
                   help="intrinsics for uvd -> xyz in the metrics (default: the dataset's)")
    p.add_argument("--published", type=Path, default=None, metavar="DIR",
                   help="a folder with the real test labels of the run's dataset (icvl_test_groundtruth_label.txt "
                   "or nyu_test_groundtruth_label.txt) and published result files in DIR/published/ (e.g. "
                   "../shared/icvl, ../shared/nyu): scored as `sdnet compare --dataset` does and shown beside the "
                   "run at the top of the report")
    p.add_argument("--report-only", action="store_true",
                   help="only rewrite report.md/report.html of an existing --out from its files "
                   "(metrics.json, settings.json, ...) and the run's history.csv; no prediction")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    p.set_defaults(func=run)


def parse_compare(specs: list[str]) -> list[tuple[str, Path]]:
    out = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise SdnetError(f"--compare expects NAME=FILE, got {spec!r}")
        out.append((name, Path(path)))
    return out


def run(args: argparse.Namespace) -> int:
    from eval.evaluate import rebuild_report, run_eval

    if args.report_only:
        print(f"report: {rebuild_report(args.out, args.run)}")
        return 0
    if args.run is None or args.data is None:
        raise SdnetError("sdnet eval needs --run and --data (or --report-only with an existing --out)")
    intr = None if args.camera == "data" else CAMERAS[args.camera]
    run_eval(args.run, args.data, args.out, refine=not args.no_refine,
             compare=parse_compare(args.compare), eval_intr=intr, overwrite=args.overwrite,
             batch_size=args.batch_size, published_dir=args.published, dataset=args.dataset)
    print(f"report: {args.out / 'report.html'}")
    return 0
