"""The ``sdnet`` console script (also ``python -m pipeline``).

Each sub-command lives in ``pipeline/commands/<name>.py``. User mistakes raise SdnetError and end as
one line ``sdnet <command>: error: <message>`` on stderr with exit status 2.
"""
from __future__ import annotations

import argparse
import os
import sys

from pipeline.errors import SdnetError

# The sub-commands, in the order `sdnet --help` lists them.
from pipeline.commands import bench as _bench
from pipeline.commands import synth as _synth
from pipeline.commands import compare as _compare
from pipeline.commands import curves as _curves
from pipeline.commands import data as _data
from pipeline.commands import eval as _eval
from pipeline.commands import export as _export
from pipeline.commands import fit_centre as _fit_centre
from pipeline.commands import fit_refine as _fit_refine
from pipeline.commands import predict as _predict
from pipeline.commands import train as _train
from pipeline.commands import tune as _tune
from pipeline.commands import reproduce as _reproduce

COMMAND_MODULES = [_synth, _data, _train, _fit_refine, _fit_centre, _eval, _curves, _compare, _predict, _export, _bench,
                   _tune,
                   _reproduce]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sdnet",
        description="SDNet 3D hand pose estimation from depth images: synthesize or convert ICVL data, "
        "train, refine, evaluate, compare and tune.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `sdnet <command> --help` for the options of a command.",
    )
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    # Commands that run Beam jobs (set_defaults(accepts_unknown=True)) pass unknown options to Beam.
    args, unknown = parser.parse_known_args(argv)
    if unknown and not getattr(args, "accepts_unknown", False):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    # Beam options: the unknown ones (a `--` separator dropped), after those a command collects itself
    # (`sdnet synth ... -- --runner=...` puts them in its positional beam_args).
    args.beam_args = [*(getattr(args, "beam_args", None) or []), *(a for a in unknown if a != "--")]
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
    except SdnetError as e:
        print(f"sdnet {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sdnet {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
