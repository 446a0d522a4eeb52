"""The camera options shared by the commands that read or write depth images.

``--camera NAME`` or ``--intrinsics FILE.json`` pick a whole camera (intrinsics, image size, depth
unit); ``--fx --fy --cx --cy --width --height --depth-scale`` then override single fields.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.camera import CAMERAS, load_intrinsics_json, with_overrides
from pipeline.errors import SdnetError

_FIELDS = (("fx", float, "focal length x, px"), ("fy", float, "focal length y, px"),
           ("cx", float, "principal point x, px"), ("cy", float, "principal point y, px"),
           ("width", int, "image width, px (must match the PNGs)"),
           ("height", int, "image height, px (must match the PNGs)"))


def add_camera_arguments(p: argparse.ArgumentParser, default: str) -> None:
    """Add the camera options to ``p``; ``default`` says in words which camera applies without them."""
    g = p.add_argument_group(
        "camera", "The camera of the depth PNGs (default: " + default + "). A whole camera comes from "
        "--camera or --intrinsics; the single-field flags override it.")
    g.add_argument("--camera", choices=sorted(CAMERAS), default=None,
                   help="named camera: icvl (320x240, f 241.42, mm), icvl-benchmark, realsense "
                   "(640x480, f 476, 0.125 mm units)")
    g.add_argument("--intrinsics", type=Path, default=None, metavar="FILE.json",
                   help='camera from a JSON file: {"fx": 476, "fy": 476, "cx": 319.5, "cy": 239.5, '
                   '"width": 640, "height": 480, "depth_scale": 0.125}')
    for name, kind, what in _FIELDS:
        g.add_argument(f"--{name}", type=kind, default=None, help=what)
    g.add_argument("--depth-scale", type=float, default=None, metavar="MM_PER_UNIT",
                   help="mm per stored depth value (1 for ICVL and most mm PNGs, 0.125 for 1/8-mm units)")


def camera_from_args(args: argparse.Namespace, default):
    """The Intrinsics the options select, on top of ``default`` (an Intrinsics). SdnetError on a mix
    of --camera and --intrinsics or on invalid values."""
    if args.camera is not None and args.intrinsics is not None:
        raise SdnetError("give either --camera or --intrinsics, not both")
    base = default
    if args.intrinsics is not None:
        base = load_intrinsics_json(args.intrinsics)
    elif args.camera is not None:
        base = CAMERAS[args.camera]
    overrides = {name: getattr(args, name) for name, _, _ in _FIELDS}
    return with_overrides(base, depth_scale=args.depth_scale, **overrides)
