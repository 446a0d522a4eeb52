"""``sdnet bench``: performance figures of every stage, as medians over repeats, in one run."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from eval import bench
from pipeline.errors import SdnetError
from pipeline.fsutil import write_json


def register(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="measure performance (medians over repeats; ratios taken in one run)",
        description="Measures the speed of each stage on this machine and prints JSON. Figures are "
        "medians over repeats; compare ratios taken in the same run, not absolute numbers across machines.",
    )
    p.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    p.add_argument("--only", nargs="*", default=None,
                   help="run only these benchmarks (names: %s)" % ", ".join(_names()))
    p.add_argument("--quick", action="store_true", help="fewer repeats (for tests)")
    p.set_defaults(func=run)


def _names() -> list[str]:
    return list(bench.BENCHMARKS)


def run(args: argparse.Namespace) -> int:
    names = args.only if args.only else list(bench.BENCHMARKS)
    unknown = [n for n in names if n not in bench.BENCHMARKS]
    if unknown:
        raise SdnetError(f"unknown benchmark(s) {unknown}; choose from {list(bench.BENCHMARKS)}")
    figures = {}
    for name in names:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        figures.update(bench.BENCHMARKS[name](quick=args.quick))
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        write_json(args.json, figures)
    return 0
