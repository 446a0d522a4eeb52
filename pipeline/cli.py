"""The ``sdnet`` console script (also ``python -m pipeline``).

Each sub-command lives in ``pipeline/commands/<name>.py``. User mistakes raise SdnetError and end as
one line ``sdnet <command>: error: <message>`` on stderr with exit status 2.

Start-up is light: this module imports every command module to build the parser, and a command module
imports only light modules at its top; its ``run(args)`` imports the stage modules it calls (TensorFlow,
Keras, Beam), so ``sdnet --help`` and argument errors load none of them. That rule, the one exception to
"imports at the module top", is stated in ``pipeline/commands/__init__.py``.

Start-up is quiet: TensorFlow's C++ start-up lines (oneDNN, the CUDA probe, cudart) and its later
INFO/WARNING/ERROR logs, and Beam's import-time warning about BigQuery's missing client library, are not
shown (``quiet_framework_logs``); ``sdnet --verbose`` or the environment variable SDNET_VERBOSE=1 shows
them (with TF_CPP_MIN_LOG_LEVEL as the environment sets it).
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.abc
import os
import re
import sys
import tempfile

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
from pipeline.commands import fit_locator as _fit_locator
from pipeline.commands import fit_refine as _fit_refine
from pipeline.commands import predict as _predict
from pipeline.commands import train as _train
from pipeline.commands import tune as _tune
from pipeline.commands import reproduce as _reproduce

COMMAND_MODULES = [_synth, _data, _train, _fit_refine, _fit_centre, _fit_locator, _eval, _curves, _compare, _predict, _export, _bench,
                   _tune, _reproduce]


VERBOSE_ENV = "SDNET_VERBOSE"
# The lines TensorFlow's C++ libraries print while they load, before any log level applies: absl's
# banner and INFO lines (oneDNN, the CUDA probe, cudart); and the warning Beam logs while it loads
# (its BigQuery client is an extra we do not install). Anything else printed then is kept.
_STARTUP_NOISE = re.compile(r"WARNING: All log messages before absl::InitializeLog\(\) is called"
                            r"|I\d{4} [\d:.]+ +\d+ \S+:\d+\]"
                            r"|.*apitools not found, and bigquery client libraries are not available")
# The libraries whose first import is quieted so.
_QUIET_IMPORTS = ("tensorflow", "apache_beam")


def verbose_requested(flag: bool = False) -> bool:
    """True for ``--verbose`` or SDNET_VERBOSE set to anything but '', 0, false or no."""
    return flag or os.environ.get(VERBOSE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def quiet_framework_logs() -> None:
    """Keep TensorFlow's logs off stderr for this process and the ones it starts.

    Sets TF_CPP_MIN_LOG_LEVEL=3 (FATAL only; TensorFlow's errors still reach Python as exceptions)
    and, as TensorFlow prints some lines from C++ while it loads, before that level applies, drops
    those from file descriptor 2 during the first ``import tensorflow`` (``_QuietImport``); likewise
    Beam's warning during the first ``import apache_beam``. Other lines printed then are kept, and
    everything when the import fails.
    """
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    for name in _QUIET_IMPORTS:
        waiting = any(isinstance(f, _QuietImport) and f.name == name for f in sys.meta_path)
        if name not in sys.modules and not waiting:
            sys.meta_path.insert(0, _QuietImport(name))


@contextlib.contextmanager
def _startup_lines_dropped():
    """Send file descriptor 2 to a temporary file; afterwards write back every line of it but
    ``_STARTUP_NOISE`` (all of them when the block raised)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        ok = False
        try:
            yield
            ok = True
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            log.seek(0)
            lines = log.read().decode("utf-8", "replace").splitlines(keepends=True)
            kept = "".join(l for l in lines if not ok or not _STARTUP_NOISE.match(l))
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()


class _QuietImport(importlib.abc.MetaPathFinder):
    """Finds the top-level module ``name`` through the other finders and loads it with
    ``_startup_lines_dropped`` around the execution of its package (which loads its libraries).
    Leaves ``sys.meta_path`` once the module has been executed (a mere ``find_spec`` keeps it)."""

    def __init__(self, name: str):
        self.name = name

    def find_spec(self, fullname, path, target=None):
        if fullname != self.name:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _QuietLoader(spec.loader, self)
                return spec
        return None


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, inner, finder: _QuietImport):
        self._inner, self._finder = inner, finder

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self._finder)  # only the first import
        with _startup_lines_dropped():
            self._inner.exec_module(module)

    def __getattr__(self, name):  # get_resource_reader, is_package, ...: the real loader's
        return getattr(self._inner, name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sdnet",
        description="SDNet 3D hand pose estimation from depth images: synthesize or convert ICVL data, "
        "train, refine, evaluate, compare and tune.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `sdnet <command> --help` for the options of a command.",
    )
    parser.add_argument("--verbose", dest="framework_logs", action="store_true",
                        help=f"show TensorFlow's start-up lines and logs (also {VERBOSE_ENV}=1)")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # Commands that run Beam jobs (set_defaults(accepts_unknown=True)) pass unknown options to Beam.
    args, unknown = parser.parse_known_args(argv)
    if not verbose_requested(args.framework_logs):
        quiet_framework_logs()
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
