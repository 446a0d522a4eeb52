"""Sensor profiles and occluders: 'default' keeps the old bytes, 'occluded' hides much more of the
hand and puts real surfaces in front of it; the CLI flag end to end on tiny trees."""
import hashlib
import json

import numpy as np
import pytest

from pipeline.camera import ICVL_INTRINSICS, xyz_to_uvd
from pipeline.cli import main
from pipeline.config import SynthConfig, from_dict
from pipeline.datasets import ICVL
from pipeline.icvl import ICVL_BACKGROUND, format_label_line, read_depth_png, read_label_file
from pipeline.synth.frames import rng_for
from pipeline.synth.handmodel import build_primitives
from pipeline.synth.poses import GESTURES, sample_frame, sample_subject
from pipeline.synth.profiles import SENSOR_PROFILES
from pipeline.synth.render import render_depth
from pipeline.synth.sensor import (SensorModel, add_occluders, apply_sensor, draw_occluders, paint_occluders,
                                   sensor_for)

ICVL_J = ICVL.num_joints  # ICVL label files: 16 joints a line

INTR = ICVL_INTRINSICS
FOCAL = 0.5 * (INTR.fx + INTR.fy)  # px
INPROC = ["--running-mode", "in_memory", "--no-progress"]


def _ideal_frames(n=10, seed=11):
    """Ideal depth maps (H, W) mm, inf = background, of independent hands cycling the gestures."""
    out = []
    for i in range(n):
        subject = sample_subject(rng_for(seed, 9, i, 0))
        joints = sample_frame(rng_for(seed, 9, i, 1), subject, INTR, GESTURES[i % len(GESTURES)])
        out.append(render_depth(build_primitives(joints, subject.shape), INTR)[0])
    return out


def _analytic_depth():
    """A sphere cap (radius 45 mm, front at 300 mm) and a tilted plate, (240, 320) mm, inf = background."""
    v, u = np.mgrid[0:240, 0:320].astype(float)
    d = np.full((240, 320), np.inf)
    r2 = (u - 160) ** 2 + (v - 120) ** 2
    cap = r2 < 40 ** 2
    d[cap] = 300 - np.sqrt(45 ** 2 - r2[cap]) + 45
    plate = (abs(u - 220) < 15) & (abs(v - 100) < 30)
    d[plate] = 280 + 0.8 * (u[plate] - 205)
    return d


# ----------------------------------------------------------------------------- default profile


def test_default_profile_is_the_plain_sensor_with_the_bytes_of_before():
    assert sensor_for("default") == SensorModel() and SensorModel().occluders == 0.0
    # sha256 of this output recorded with the sensor code before occluders existed.
    out = apply_sensor(_analytic_depth(), np.random.default_rng(42), sensor_for("default"), 241.42)
    assert hashlib.sha256(out.tobytes()).hexdigest() == (
        "e6d44ad4efc803385ffb28759f0b86d2e9c0bf02bec78549e8a1477297c0e5e3")


def test_occluders_off_draw_no_random_numbers():
    depth = _ideal_frames(1)[0]
    rng = np.random.default_rng(5)
    state = rng.bit_generator.state
    off = SensorModel(occluders=0.0, occluder_radius_mm=(3.0, 4.0), occluder_holes=1.0)
    assert add_occluders(depth, rng, off, FOCAL) is depth
    assert rng.bit_generator.state == state
    a = apply_sensor(depth, np.random.default_rng(5), off, FOCAL)
    b = apply_sensor(depth, np.random.default_rng(5), SensorModel(), FOCAL)
    np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- occluders


def test_paint_occluders_holes_and_objects():
    depth = np.full((120, 160), np.inf)
    depth[20:100, 30:130] = 300.0  # a flat hand, 300 mm
    centres = np.array([[50.0, 50.0], [125.0, 60.0]])  # (u, v) px: a hole, an object at the edge
    out = paint_occluders(depth, centres, np.array([8.0, 10.0]), np.array([np.nan, 270.0]),
                          np.array([True, False]))
    assert np.isinf(out[50, 50]) and np.isinf(out[50, 57]) and out[50, 59] == 300.0  # hole r = 8 px
    assert out[60, 125] == 270.0 and out[60, 134] == 270.0  # the object covers the background too
    assert out[60, 136] == np.inf and out[60, 114] == 300.0
    assert depth[50, 50] == 300.0  # the input is not changed
    changed = out != depth
    assert not changed[:, :40].any() and not changed[:38].any()  # only inside the discs


def test_draw_occluders_radius_in_px_from_mm_at_the_hand_depth():
    depth = np.full((240, 320), np.inf)
    depth[60:180, 100:220] = 400.0
    model = SensorModel(occluders=400.0, occluder_radius_mm=(20.0, 20.0), occluder_gap_mm=(10.0, 40.0))
    centres, radii, front, holes = draw_occluders(depth, np.random.default_rng(0), model, FOCAL)
    assert 300 < len(radii) < 500  # Poisson, mean 400
    np.testing.assert_allclose(radii, 20.0 * FOCAL / 400.0)
    u, v = centres.T.astype(int)
    assert np.isfinite(depth[v, u]).all()  # centred on the hand
    assert 0.4 < holes.mean() < 0.6
    assert np.isnan(front[holes]).all()
    assert (front[~holes] >= 360.0).all() and (front[~holes] <= 390.0).all()


def _missing_and_in_front(profile: str, frames):
    """(share of ideal hand pixels with no depth, frames with a surface in front of the hand: over 50
    pixels > 5 mm nearer than the hand's nearest ideal depth) over ``frames``. (Noise at steep edges
    gives the plain sensor a few such pixels; an in-front occluder gives hundreds.)"""
    missing, hand, in_front = 0, 0, 0
    for i, ideal in enumerate(frames):
        fg = np.isfinite(ideal)
        out = apply_sensor(ideal, rng_for(3, i), sensor_for(profile), FOCAL)
        missing += int((out[fg] == ICVL_BACKGROUND).sum())
        hand += int(fg.sum())
        in_front += int(((out != ICVL_BACKGROUND) & (out < ideal[fg].min() - 5.0)).sum()) > 50
    return missing / hand, in_front


def test_occluded_profile_hides_much_more_and_puts_surfaces_in_front():
    frames = _ideal_frames(10)
    base_missing, base_front = _missing_and_in_front("default", frames)
    occ_missing, occ_front = _missing_and_in_front("occluded", frames)
    assert occ_missing > 3 * base_missing
    assert base_front == 0  # the plain sensor reports no surface in front of the hand
    assert occ_front >= 2


def test_occluded_profile_same_seed_same_bytes():
    ideal = _ideal_frames(1, seed=4)[0]
    model = sensor_for("occluded")
    a = apply_sensor(ideal, rng_for(7, 1), model, FOCAL)
    b = apply_sensor(ideal, rng_for(7, 1), model, FOCAL)
    c = apply_sensor(ideal, rng_for(7, 2), model, FOCAL)
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()


@pytest.mark.parametrize("bad", [{"occluders": -1.0}, {"occluder_radius_mm": (0.0, 5.0)},
                                 {"occluder_radius_mm": (9.0, 5.0)}, {"occluder_gap_mm": (5.0, 1.0)},
                                 {"occluder_holes": 1.5}])
def test_sensor_rejects_bad_occluder_parameters(bad):
    with pytest.raises(ValueError, match="sensor:"):
        SensorModel(**bad)


# ----------------------------------------------------------------------------- config


def test_profiles_are_valid_sensor_models_and_synth_config_checks_the_name():
    for name in SENSOR_PROFILES:
        sensor_for(name)
    assert sensor_for("occluded").occluders > 0 and sensor_for("occluded").dropout > 0.1
    with pytest.raises(ValueError, match="default, occluded"):
        SynthConfig(sensor_profile="foggy")
    with pytest.raises(ValueError, match="default, occluded"):
        sensor_for("foggy")
    # Explicit config values win over the profile's.
    cfg = SynthConfig(sensor_profile="occluded", dropout=0.05)
    assert sensor_for(cfg.sensor_profile, **cfg.sensor_overrides()).dropout == 0.05


def test_an_old_synth_json_config_still_loads_as_the_same_sensor():
    old = {"seed": 3, "train_frames": 14, "test_frames": 9, "sequence_length": 6, "camera": "icvl",
           "scale_range": 0.15, "bone_noise": 0.04, "noise_mm_at_300": 1.2, "dropout": 0.004,
           "edge_dropout": 0.3, "flying_pixels": 0.15}  # written before sensor profiles
    cfg = from_dict(SynthConfig, old)
    assert cfg.sensor_profile == "default"
    assert sensor_for(cfg.sensor_profile, **cfg.sensor_overrides()) == SensorModel()


# ----------------------------------------------------------------------------- CLI


def _hand_missing_share(root):
    """Share of missing pixels within 3 px of the labelled joints, over every frame of a tree."""
    missing = total = 0
    for label_file, depth_dir in (("Training/labels.txt", "Training/Depth"),
                                  ("Testing/test_seq_2.txt", "Testing/Depth")):
        records, _ = read_label_file(root / label_file, ICVL_J)
        for rec in records:
            depth = read_depth_png(root / depth_dir / rec.path)
            for u, v, _ in np.rint(rec.uvd).astype(int):
                patch = depth[v - 3:v + 4, u - 3:u + 4]
                missing += int((patch == ICVL_BACKGROUND).sum())
                total += patch.size
    return missing / total


def test_cli_sensor_profile_on_a_tiny_tree(tmp_path):
    args = ["--train-frames", "4", "--test-frames", "2", "--sequence-length", "4", "--seed", "2", *INPROC]
    plain, occluded = tmp_path / "plain", tmp_path / "occluded"
    assert main(["synth", "--out", str(plain), *args]) == 0
    assert main(["synth", "--out", str(occluded), *args, "--sensor-profile", "occluded"]) == 0
    doc = json.loads((occluded / "synth.json").read_text())
    assert doc["config"]["sensor_profile"] == "occluded"
    assert doc["sensor"] == {**json.loads((plain / "synth.json").read_text())["sensor"],
                             **{k: list(v) if isinstance(v, tuple) else v
                                for k, v in SENSOR_PROFILES["occluded"].items()}}
    assert json.loads((plain / "synth.json").read_text())["config"]["sensor_profile"] == "default"
    # Same poses and labels, different (sparser) depth.
    assert (occluded / "Training/labels.txt").read_text() == (plain / "Training/labels.txt").read_text()
    assert _hand_missing_share(occluded) > 2 * _hand_missing_share(plain)


def test_cli_sensor_profile_with_poses_and_preview(tmp_path):
    src = tmp_path / "test_seq_1.txt"
    lines = []
    for i in range(2):
        subject = sample_subject(rng_for(8, 0, i, 0))
        uvd = xyz_to_uvd(sample_frame(rng_for(8, 0, i, 1), subject, INTR), INTR)
        lines.append(format_label_line(f"test_seq_1/image_{i:04d}.png", np.round(uvd, 3)))
    src.write_text("".join(line + "\n" for line in lines))
    out = tmp_path / "posed"
    assert main(["synth", "--poses", str(src), "--out", str(out), "--sensor-profile", "occluded", *INPROC]) == 0
    doc = json.loads((out / "synth.json").read_text())
    assert doc["sensor_profile"] == "occluded" and doc["sensor"]["occluders"] == 2.0
    assert (out / "Testing/test_seq_1.txt").read_text().splitlines() == lines
    png = tmp_path / "preview.png"
    assert main(["synth", "--preview", str(png), "--preview-frames", "2", "--sensor-profile", "occluded"]) == 0
    assert png.stat().st_size > 5_000


def test_cli_bad_sensor_profile(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["synth", "--out", str(tmp_path / "x"), "--train-frames", "2", "--test-frames", "0",
              "--sensor-profile", "foggy", *INPROC])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'foggy'" in err and "occluded" in err
    assert main(["synth", "--preview", str(tmp_path / "p.png"), "--from-tree", str(tmp_path),
                 "--sensor-profile", "occluded"]) == 2
    assert "--from-tree" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
