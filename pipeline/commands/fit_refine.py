"""``sdnet fit-refine``: fit a run's refinement (RUN/prior.json, RUN/refine.json) on train and val."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "fit-refine", help="fit the refinement of a run: bone prior on 'train', weights on 'val'",
        description="Fits the bone-length mixture of the hierarchical refinement by EM on DATA's training "
        "poses (RUN/prior.json) and chooses the refinement's weights (search radius, background and "
        "temporal terms, window) by the lowest mean error on up to 600 validation frames "
        "(RUN/refine.json, with the whole search table). The test split is never read. Run it once after "
        "`sdnet train` (make train does); `sdnet eval` and `sdnet predict` then only read the run, and "
        "predict needs nothing but the run directory. Replaces prior.json and refine.json when present.")
    p.add_argument("--run", type=Path, required=True, help="run directory of `sdnet train`")
    p.add_argument("--data", type=Path, required=True,
                   help="output of `sdnet data` the run was trained on (its source tree must still be "
                   "there: the validation depth frames are read for the background term)")
    p.add_argument("--quiet", action="store_true", help="no summary line")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipeline.errors import SdnetError
    from pipeline.fit_refine import fit_refinement

    if not Path(args.run).is_dir():
        raise SdnetError(f"{args.run}: run directory not found")
    fit_refinement(args.run, args.data, progress=not args.quiet)
    return 0
