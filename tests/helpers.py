"""Small data for tests: a tiny ICVL tree of simple stick-hands, a tiny NYU Hand tree of boxes, tiny
MSRA and HANDS 2017 trees of disc-shaped hands, and tiny converted data dirs of ICVL and NYU.

The hands here are deliberately crude (discs along the bones) and fast to draw; the product's
synthetic generator is ``sdnet synth``. Joints always lie on the drawn hand. A run directory with an
untrained CNN: ``tests/run_helpers.py`` (it loads Keras, which these helpers do not).
"""
from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.build_data import convert_tree
from pipeline.camera import ICVL_INTRINSICS, uvd_to_xyz, xyz_to_uvd
from pipeline.config import DataConfig
from pipeline.experiment import bind_data, experiment_json, load_experiment
from pipeline import hands2017_format, msra_format, nyu_format
from pipeline.camera import Intrinsics
from pipeline.input import make_dataset
from pipeline.icvl import ICVL_BACKGROUND, format_label_line, write_depth_png
from pipeline.skeleton import ICVL_SKELETON

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def stick_hand_xyz(rng: np.random.Generator, centre_xyz=(0.0, 0.0, 350.0)) -> np.ndarray:
    """(J, 3) camera xyz [mm] of an open hand in the image plane, fingers up, random roll."""
    sk = ICVL_SKELETON
    lengths = np.array([m for m, _ in sk.bone_length_mm])
    fan = np.deg2rad([-70, -20, 0, 20, 40])  # thumb .. pinky, from 'up'
    roll = rng.uniform(-0.5, 0.5)
    joints = np.zeros((sk.num_joints, 3))
    joints[0] = centre_xyz
    for part, angle in zip(sk.part_chains, fan):
        a = angle + roll + rng.normal(0, 0.05)
        direction = np.array([np.sin(a), -np.cos(a), 0.0])
        for parent, child in zip(part[:-1], part[1:]):
            bend = rng.uniform(-0.15, 0.15)
            direction = direction + np.array([0, 0, bend])
            direction /= np.linalg.norm(direction)
            joints[child] = joints[parent] + direction * lengths[sk.bone_index(child)]
    return joints


def draw_stick_hand(xyz: np.ndarray, radius_mm: float = 9.0) -> np.ndarray:
    """(H, W) uint16 depth of discs along every bone and at the palm; background 32001."""
    intr = ICVL_INTRINSICS
    depth = np.full((intr.height, intr.width), np.inf)
    vv, uu = np.mgrid[0:intr.height, 0:intr.width]
    pts = [xyz[0] + off for off in ([0, 0, 0], [0, 15, 0], [-15, 0, 0], [15, 0, 0], [0, -20, 0])]
    for p, c in ICVL_SKELETON.bones:
        for t in np.linspace(0, 1, 8):
            pts.append(xyz[p] * (1 - t) + xyz[c] * t)
    for pt in pts:
        u, v, d = xyz_to_uvd(pt, intr)
        r_px = (radius_mm * 2 if np.allclose(pt, xyz[0]) else radius_mm) * intr.fx / d
        inside = (uu - u) ** 2 + (vv - v) ** 2 <= r_px ** 2
        depth[inside] = np.minimum(depth[inside], d - radius_mm * 0.5)
    out = np.where(np.isfinite(depth), np.round(depth), ICVL_BACKGROUND)
    return out.astype(np.uint16)


def write_tiny_icvl_tree(root: Path, train_seqs: int = 3, frames_per_seq: int = 4,
                         test_frames: tuple[int, ...] = (3, 2), seed: int = 0) -> Path:
    """Write an ICVL-format tree of stick hands under ``root``; returns ``root``."""
    rng = np.random.default_rng(seed)
    root = Path(root)

    def write_seq(depth_dir: Path, seq: str, n: int) -> list[str]:
        lines = []
        centre = np.array([rng.uniform(-40, 40), rng.uniform(-20, 20), rng.uniform(300, 400)])
        for i in range(n):
            xyz = stick_hand_xyz(rng, centre + rng.normal(0, 3, 3))
            rel = f"{seq}/image_{i:04d}.png"
            (depth_dir / seq).mkdir(parents=True, exist_ok=True)
            write_depth_png(depth_dir / rel, draw_stick_hand(xyz))
            lines.append(format_label_line(rel, xyz_to_uvd(xyz, ICVL_INTRINSICS)))
        return lines

    train_lines = []
    for s in range(train_seqs):
        train_lines += write_seq(root / "Training/Depth", f"2014031211{s:02d}", frames_per_seq)
    (root / "Training/labels.txt").write_text("\n".join(train_lines) + "\n")
    for k, n in enumerate(test_frames, start=1):
        lines = write_seq(root / "Testing/Depth", f"test_seq_{k}", n)
        (root / f"Testing/test_seq_{k}.txt").write_text("\n".join(lines) + "\n")
    return root


IN_PROCESS = ["--runner=DirectRunner", "--direct_running_mode=in_memory", "--direct_num_workers=1"]


def make_tiny_data_dir(tmp_path: Path, rotations: int = 2, crop_size: int = 32, **tree_kw) -> Path:
    """A converted data dir (``sdnet data`` output) of a tiny stick-hand tree, built in-process."""
    tree = write_tiny_icvl_tree(Path(tmp_path) / "icvl", **tree_kw)
    out = Path(tmp_path) / "data"
    cfg = DataConfig(crop_size=crop_size, rotations=rotations, val_fraction=0.3)
    convert_tree(tree, out, cfg, ICVL_INTRINSICS, IN_PROCESS, progress=False)
    return out


# The tiny NYU tree's test subjects (synth.json's test_subjects rows: name, start, stop, cube mm).
TINY_NYU_SUBJECTS = (("subject_1", 0, 2, 300.0), ("subject_2", 2, 5, 250.0))


def nyu_box_frames(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n NYU frames: depth (n, 480, 640) uint16 mm, a 100-px box (the hand, 850-950 mm) on a wall at
    1400 mm, and the 36 label joints uvd (n, 36, 3) [px, px, mm] inside the box."""
    rng = np.random.default_rng(seed)
    h, w = nyu_format.HEIGHT, nyu_format.WIDTH
    depth = np.full((n, h, w), 1400, np.uint16)
    uvd = np.zeros((n, nyu_format.NUM_LABEL_JOINTS, 3))
    for i in range(n):
        u0, v0 = rng.integers(200, 400), rng.integers(150, 300)
        depth[i, v0:v0 + 100, u0:u0 + 100] = rng.integers(880, 920, (100, 100))
        uvd[i, :, 0] = u0 + rng.uniform(20, 80, nyu_format.NUM_LABEL_JOINTS)
        uvd[i, :, 1] = v0 + rng.uniform(20, 80, nyu_format.NUM_LABEL_JOINTS)
        uvd[i, :, 2] = rng.uniform(880, 940, nyu_format.NUM_LABEL_JOINTS)
    return depth, uvd


def write_tiny_nyu_tree(root: Path, train_frames: int = 8, seed: int = 0) -> Path:
    """An NYU Hand tree (train/, test/, camera 1) of box hands under ``root``: ``train_frames`` training
    frames and 5 test frames of two subjects (``TINY_NYU_SUBJECTS``, recorded in synth.json as
    ``sdnet synth --dataset nyu`` does); returns ``root``."""
    root = Path(root)
    for split, n, s in (("train", train_frames, seed), ("test", TINY_NYU_SUBJECTS[-1][2], seed + 1)):
        depth, uvd = nyu_box_frames(n, s)
        nyu_format.write_nyu_tree(root, split, depth, uvd, compress_level=1)
    (root / "synth.json").write_text(json.dumps({"test_subjects": [list(r) for r in TINY_NYU_SUBJECTS]}))
    return root


def make_tiny_nyu_data_dir(tmp_path: Path, crop_size: int = 32, **tree_kw) -> Path:
    """``sdnet data --dataset nyu`` output of a tiny NYU tree (``write_tiny_nyu_tree``), built in-process."""
    tree = write_tiny_nyu_tree(Path(tmp_path) / "nyu", **tree_kw)
    out = Path(tmp_path) / "nyu-data"
    cfg = DataConfig(dataset="nyu", crop_size=crop_size, cube_mm=300.0, val_fraction=0.25)
    convert_tree(tree, out, cfg, nyu_format.INTRINSICS, IN_PROCESS, progress=False)
    return out


def disc_hand_frames(n: int, intr: Intrinsics, num_joints: int = 21, seed: int = 0,
                     distance_mm: tuple[float, float] = (330.0, 380.0)) -> tuple[np.ndarray, np.ndarray]:
    """n frames of a crude hand for ``intr``'s camera: joints camera xyz (n, J, 3) [mm, y down] spread
    +-40 mm (x, y) and +-10 mm (z) about a centre ``distance_mm`` away, and depth (n, H, W) float32 mm:
    one flat disc at the joints' mean depth covering every projected joint (so the hand-centre rule
    finds it), 0 (no depth) elsewhere."""
    rng = np.random.default_rng(seed)
    vv, uu = np.mgrid[0:intr.height, 0:intr.width]
    xyz = np.zeros((n, num_joints, 3))
    depth = np.zeros((n, intr.height, intr.width), np.float32)
    for i in range(n):
        centre = np.array([rng.uniform(-30, 30), rng.uniform(-20, 20), rng.uniform(*distance_mm)])
        xyz[i] = centre + rng.uniform(-1, 1, (num_joints, 3)) * [40.0, 40.0, 10.0]
        uvd = xyz_to_uvd(xyz[i], intr)
        u0, v0 = uvd[:, 0].mean(), uvd[:, 1].mean()
        radius = np.hypot(uvd[:, 0] - u0, uvd[:, 1] - v0).max() + 6.0
        inside = (uu - u0) ** 2 + (vv - v0) ** 2 <= radius ** 2
        depth[i][inside] = np.float32(uvd[:, 2].mean() + rng.uniform(0, 1))
    return depth, xyz


def write_tiny_msra_tree(root: Path, subjects=("P0", "P1", "P3"), gestures=("1", "2"), frames: int = 3,
                         seed: int = 0) -> Path:
    """An MSRA tree (``msra_format.write_msra_tree``) of disc hands under ``root``: ``frames`` frames per
    (subject, gesture) folder; returns ``root``."""
    for k, (subject, gesture) in enumerate((s, g) for s in subjects for g in gestures):
        depth, xyz = disc_hand_frames(frames, msra_format.INTRINSICS, seed=seed + k)
        msra_format.write_msra_tree(root, subject, gesture, list(depth), xyz)
    return Path(root)


def write_tiny_hands2017_tree(root: Path, frames: int = 6, seed: int = 0) -> Path:
    """A HANDS 2017 tree (``hands2017_format.write_hands2017_tree``, images numbered from 1) of disc
    hands under ``root``, depth in whole mm; returns ``root``."""
    depth, xyz = disc_hand_frames(frames, hands2017_format.INTRINSICS, seed=seed)
    hands2017_format.write_hands2017_tree(root, list(np.rint(depth).astype(np.uint16)), xyz, compress_level=1)
    return Path(root)


def is_a_drawn_figure(path: Path, min_side: int = 200) -> bool:
    """True when ``path`` is an image of at least ``min_side`` px a side holding a drawing (axes, text,
    curves: many grey levels and some dark ink), not a blank or unreadable canvas."""
    with Image.open(path) as img:
        pixels = np.asarray(img.convert("L"))
    return min(pixels.shape) >= min_side and len(np.unique(pixels)) > 10 and (pixels < 128).mean() > 0.005


def camera_xyz(uvd: np.ndarray) -> np.ndarray:
    return uvd_to_xyz(uvd, ICVL_INTRINSICS)


def html_tables(page: str) -> dict[str, list[list[str]]]:
    """Every ``<table id=...>`` of an HTML page, parsed with the stdlib's HTML parser: id -> rows of
    cell texts (the header row first)."""
    class Tables(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tables, self.current, self.row, self.cell = {}, None, None, None

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "table" and attrs.get("id"):
                self.current = self.tables.setdefault(attrs["id"], [])
            elif tag == "tr" and self.current is not None:
                self.row = []
            elif tag in ("td", "th") and self.row is not None:
                self.cell = []

        def handle_endtag(self, tag):
            if tag == "table":
                self.current = None
            elif tag == "tr" and self.row is not None:
                self.current.append(self.row)
                self.row = None
            elif tag in ("td", "th") and self.cell is not None:
                self.row.append("".join(self.cell).strip())
                self.cell = None

        def handle_data(self, data):
            if self.cell is not None:
                self.cell.append(data)

    parser = Tables()
    parser.feed(page)
    parser.close()
    return parser.tables


def data_section_args(data_dir: Path) -> list[str]:
    """``--set data={...}``: the experiment's data section set to how ``data_dir`` was cut (its manifest's
    config), for `sdnet train` on a test data dir made with other settings than the default experiment."""
    config = json.loads((Path(data_dir) / "manifest.json").read_text())["config"]
    return ["--set", "data=" + json.dumps(config)]


def smoke_run_config(manifest: dict, data_dir: Path | str = "") -> dict:
    """The config.json of a smoke-preset run on the data of ``manifest`` (its data section as the data
    was cut), as `sdnet train` writes it."""
    cfg = load_experiment(None, {"model.preset": "smoke", "data": manifest["config"]})
    return experiment_json(bind_data(cfg, manifest, data_dir))


def split_records(data_dir, split):
    """Every record of split ``split`` of the data dir ``data_dir``, in file order: meta key -> numpy
    array (J from the manifest)."""
    out = {}
    for _, _, meta in make_dataset(data_dir, split, 64, with_meta=True):
        for key, value in meta.items():
            out.setdefault(key, []).append(value.numpy())
    return {k: np.concatenate(v) for k, v in out.items()}
