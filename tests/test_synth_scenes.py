"""Real-camera scenes (forearm, torso, clutter), the structured-light sensor profile, other cameras'
depth units and `sdnet synth --camera` on tiny trees."""
import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from eval.metrics import image_hand
from pipeline.camera import CAMERAS, ICVL_INTRINSICS, REALSENSE_INTRINSICS
from pipeline.cli import main
from pipeline.config import SynthConfig, from_dict
from pipeline.datasets import ICVL
from pipeline.icvl import ICVL_BACKGROUND, read_depth_png, read_label_file, write_depth_png
from pipeline.synth.frames import (SequenceSpec, frame_scene, plan_sequences, render_frame, render_frame_mm,
                                   rng_for, sequence_frames)
from pipeline.skeleton import ICVL_SKELETON
from pipeline.synth.handmodel import build_primitives, palm_frame
from pipeline.synth.render import box_depth, ellipsoid_depth
from pipeline.synth.scene import (PART_ARM, PART_CLUTTER, PART_HAND, PART_NEAR, PART_OTHER_HAND, PART_TORSO,
                                  SceneModel, render_scene, sample_scene)
from pipeline.synth.sensor import SensorModel, apply_sensor_mm, projector_shadow, sensor_for, to_depth_units

ICVL_J = ICVL.num_joints  # ICVL label files: 16 joints a line

INPROC = ["--running-mode", "in_memory", "--no-progress"]
PLAIN_TREE_SHA = "9457ca9243de804b10f22ac7c0ce6ed86b3a6ecdbf2c10e53a888be5f65e4bde"  # recorded before scenes


def _scene_frames(intr, n_seq=2, frames=24, step=4, seed=0):
    """(FrameSpec, Scene) of scene sequences, every ``step``-th frame."""
    out = []
    for s in range(n_seq):
        spec = SequenceSpec("train", s, f"s{s}", frames, "Training/labels.txt", "Training/Depth", scene=True)
        out += [(f, frame_scene(f, seed, intr)) for f in sequence_frames(spec, seed, intr, 0)[::step]]
    return out


# Every probability of the things nearer than the hand at 0: the scenes of before.
NO_NEAR = SceneModel(other_hand_p=0.0, near_body_p=0.0, near_edge_p=0.0, speckle_p=0.0)


def _at_border(mask: np.ndarray) -> bool:
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def _tree_sha(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(list(root.rglob("*.png")) + list(root.rglob("*.txt"))):
        h.update(hashlib.sha256(p.read_bytes()).hexdigest().encode() + b"  ./" + str(p.relative_to(root)).encode() + b"\n")
    return h.hexdigest()


# ----------------------------------------------------------------------------- geometry


def test_ellipsoid_and_box_depth_closed_forms():
    dx, dy = np.zeros((1, 1)), np.zeros((1, 1))  # the optical axis
    axes = np.eye(3)
    assert ellipsoid_depth(dx, dy, np.array([0, 0, 500.0]), axes, np.array([50.0, 80.0, 30.0]))[0, 0] == \
        pytest.approx(470.0)
    assert box_depth(dx, dy, np.array([0, 0, 500.0]), axes, np.array([50.0, 80.0, 30.0]))[0, 0] == \
        pytest.approx(470.0)
    # A box turned 45 degrees about y: the axis meets its front edge at 500 - 30 sqrt(2).
    c, s = np.cos(np.pi / 4), np.sin(np.pi / 4)
    turned = np.array([[c, 0, -s], [0, 1, 0], [s, 0, c]])
    assert box_depth(dx, dy, np.array([0, 0, 500.0]), turned, np.full(3, 30.0))[0, 0] == \
        pytest.approx(500 - 30 * np.sqrt(2))
    # Misses: a ray 60 mm beside a 50 mm half-width box.
    side = np.full((1, 1), 60.0 / 500.0)
    assert np.isinf(box_depth(side, dy, np.array([0, 0, 500.0]), axes, np.array([50.0, 80.0, 30.0]))[0, 0])


@pytest.mark.parametrize("camera", ["icvl", "realsense"])
def test_scene_forearm_leaves_the_image_and_the_rest_stays_behind_the_hand(camera):
    intr = CAMERAS[camera]
    for frame, scene in _scene_frames(intr):
        prims = build_primitives(frame.joints, frame.shape)
        depth, part, _ = render_scene(prims, scene, intr)
        # The forearm leaves the image, visibly or behind a thing nearer than the hand (the other
        # hand, a body part or an edge); without those things it is seen leaving.
        assert _at_border((part == PART_ARM) | (part == PART_NEAR) | (part == PART_OTHER_HAND))
        alone = sample_scene(rng_for(0, *frame.scene_key), frame.joints, frame.shape, intr, NO_NEAR)
        assert _at_border(render_scene(prims, alone, intr)[1] == PART_ARM)
        hand = depth[part == PART_HAND]
        assert hand.size > 50
        behind = depth[(part == PART_TORSO) | (part == PART_CLUTTER)]
        assert behind.min() > hand.max()  # never in front of the hand
        assert behind.min() >= scene.palm_z + 150.0 - 1e-6
        torso = depth[part == PART_TORSO]
        assert torso.size > 0
        assert 150.0 - 1e-6 <= torso.min() - scene.palm_z <= 400.0 + 60.0  # nearest point 150-400 mm behind
        assert np.isfinite(depth).mean() > 0.08  # a scene, not a hand on nothing


def test_scene_hands_span_250_to_900_mm():
    palms = []
    for s in range(12):
        spec = SequenceSpec("train", s, "s", 60, "Training/labels.txt", "Training/Depth", scene=True)
        frames = sequence_frames(spec, 4, REALSENSE_INTRINSICS, 0)
        joints = np.stack([f.joints for f in frames])  # (T, J, 3)
        assert 200.0 - 1 <= joints[..., 2].min() and joints[..., 2].max() <= 1000.0 + 1
        palms.append(joints[:, 0, 2])
    palms = np.concatenate(palms)
    assert 230 < palms.min() < 400 and 700 < palms.max() < 920
    plain = sequence_frames(SequenceSpec("train", 0, "s", 60, "x", "y"), 4, ICVL_INTRINSICS, 0)
    assert max(f.joints[0, 2] for f in plain) < 470  # plain frames keep their depths


def test_scenes_are_whole_sequences_in_the_asked_share():
    specs = plan_sequences(2000, 1596, 100, scene_fraction=0.3, test_scene_fraction=0.0)
    train = [s for s in specs if s.split == "train"]
    assert sum(s.scene for s in train) == 6 and not train[0].scene
    assert not any(s.scene for s in specs if s.split == "test")
    assert all(s.scene for s in plan_sequences(0, 400, 100, 0.0, 1.0))
    assert not any(s.scene for s in plan_sequences(500, 20, 100))
    frames = sequence_frames(train[3], 0, ICVL_INTRINSICS, 0)
    assert train[3].scene and all(f.scene_key is not None for f in frames)


def test_scene_frames_same_seed_same_bytes():
    frame, _ = _scene_frames(REALSENSE_INTRINSICS, n_seq=1, frames=8, step=8)[0]
    sensor = sensor_for("structured")

    def make(seed):
        scene = frame_scene(frame, seed, REALSENSE_INTRINSICS)
        return render_frame(frame.joints, frame.shape, REALSENSE_INTRINSICS, sensor, rng_for(seed, 1), scene)

    a, b, c = make(3), make(3), make(4)
    assert a.tobytes() == b.tobytes() and a.tobytes() != c.tobytes()


# ----------------------------------------------------------------------------- depth units


def test_depth_units_of_a_realsense_frame_read_back_as_mm(tmp_path):
    depth = np.full((4, 5), np.inf)
    depth[1, 1:4] = [250.06, 900.0, 8191.8]
    depth[2, 2] = 9000.0  # beyond 65535 units of 0.125 mm
    units = to_depth_units(depth, 0.125)
    assert units[1, 1:4].tolist() == [2000, 7200, 65534] and units[2, 2] == 0 and units[0, 0] == 0
    assert to_depth_units(depth, 1.0)[0, 0] == ICVL_BACKGROUND  # a 1-mm camera keeps ICVL's code
    png = tmp_path / "d.png"
    write_depth_png(png, units)
    back = read_depth_png(png, depth_scale=0.125)
    assert back[1, 1:4].tolist() == [250, 900, 8192] and back[0, 0] == 0


def test_realsense_scene_frame_is_stored_in_eighth_mm():
    intr = REALSENSE_INTRINSICS
    frame, scene = _scene_frames(intr, n_seq=1, frames=8, step=8)[0]
    mm = render_frame_mm(frame.joints, frame.shape, intr, SensorModel(), rng_for(0, 1), scene)
    stored = render_frame(frame.joints, frame.shape, intr, SensorModel(), rng_for(0, 1), scene)
    assert stored.shape == (480, 640) and stored.dtype == np.uint16
    fg = np.isfinite(mm) & (mm < 8000)
    np.testing.assert_array_equal(stored[fg], np.rint(mm[fg] / 0.125).astype(np.uint16))
    assert (stored[~np.isfinite(mm)] == 0).all()


# ----------------------------------------------------------------------------- structured profile


def test_default_sensor_with_one_object_is_the_old_sensor():
    frame, scene = _scene_frames(ICVL_INTRINSICS, n_seq=1, frames=4, step=4)[0]
    depth, _, _ = render_scene(build_primitives(frame.joints, frame.shape), None, ICVL_INTRINSICS)
    one = np.where(np.isfinite(depth), 1, 0).astype(np.int16)
    a = apply_sensor_mm(depth, rng_for(1, 2), SensorModel(), 241.42)
    b = apply_sensor_mm(depth, rng_for(1, 2), SensorModel(), 241.42, one)
    np.testing.assert_array_equal(a, b)


def test_projector_shadow_falls_left_of_a_nearer_object():
    z = np.full((20, 100), 600.0)  # a wall at 600 mm
    z[:, 50:60] = 300.0  # a bar at 300 mm
    fb = 25.0 * 476.0  # baseline x focal
    shadow = projector_shadow(z, fb)
    width = fb * (1 / 300.0 - 1 / 600.0)  # about 19.8 px
    cols = np.nonzero(shadow[10])[0]
    assert cols.max() == 49 and abs(len(cols) - width) <= 1.5  # just left of the bar, as wide as predicted
    assert not shadow[:, 50:].any()  # the bar and the wall right of it are lit
    assert not projector_shadow(np.full((5, 30), 500.0), fb).any()  # a flat wall casts nothing


def test_structured_profile_shadows_noise_and_holes():
    structured, default = sensor_for("structured"), sensor_for("default")
    assert structured.shadow_baseline_mm > 0 and structured.noise_mm_at_300 > default.noise_mm_at_300
    # A flat wall with a bar in front: shadow holes left of the bar.
    z = np.full((120, 160), 700.0)
    z[:, 70:90] = 400.0
    measured = apply_sensor_mm(z, rng_for(0, 1), structured, 240.0)
    width = 25.0 * 240.0 * (1 / 400.0 - 1 / 700.0)  # about 6.4 px
    left = np.isinf(measured[:, 70 - int(width) + 1:70]).mean()
    right = np.isinf(measured[:, 92:92 + int(width)]).mean()
    assert left > 0.9 and right < 0.2
    # Noise grows with depth: walls at 400 and 800 mm.
    stds = []
    for wall in (400.0, 800.0):
        m = apply_sensor_mm(np.full((120, 160), wall), rng_for(0, 2), structured, 240.0)
        ok = np.isfinite(m[5:-5, 5:-5])
        stds.append(np.std(m[5:-5, 5:-5][ok]))
    assert stds[1] > 3.0 * stds[0]
    m = apply_sensor_mm(np.full((120, 160), 400.0), rng_for(0, 2), default, 240.0)
    assert np.std(m[5:-5, 5:-5][np.isfinite(m[5:-5, 5:-5])]) < stds[0]
    # Dark patches: holes on a plain wall, about the asked share.
    holes = np.isinf(apply_sensor_mm(np.full((240, 320), 500.0), rng_for(0, 3), structured, 240.0)).mean()
    assert 0.02 < holes < 0.12


# ----------------------------------------------------------------------------- config and CLI


def test_synth_config_camera_and_scene_fields():
    cfg = SynthConfig(camera="realsense", test_scene_fraction=1.0)
    assert cfg.camera_intrinsics() == REALSENSE_INTRINSICS and cfg.scene_fraction == 0.3
    custom = SynthConfig(camera="custom", intrinsics={**REALSENSE_INTRINSICS.to_dict(), "fx": 500.0})
    assert custom.camera_intrinsics().fx == 500.0
    assert from_dict(SynthConfig, json.loads(json.dumps({"seed": 1, "camera": "icvl"}))) == SynthConfig(seed=1)
    for bad in ({"camera": "kinect"}, {"scene_fraction": 1.5}, {"intrinsics": {"fx": 1.0}}):
        with pytest.raises((ValueError, TypeError)):
            SynthConfig(**bad)


def test_plain_tree_keeps_its_bytes(tmp_path):
    out = tmp_path / "plain"
    assert main(["synth", "--out", str(out), "--train-frames", "30", "--test-frames", "12", "--sequence-length",
                 "10", "--seed", "5", "--scene-fraction", "0", *INPROC]) == 0
    assert _tree_sha(out) == PLAIN_TREE_SHA


def test_cli_realsense_scene_tree_reads_back(tmp_path):
    out, png = tmp_path / "rs", tmp_path / "preview.png"
    assert main(["synth", "--out", str(out), "--camera", "realsense", "--sensor-profile", "structured",
                 "--train-frames", "0", "--test-frames", "3", "--test-scene-fraction", "1", "--seed", "1",
                 "--preview", str(png), "--preview-whole", "--preview-frames", "2", *INPROC]) == 0
    manifest = json.loads((out / "synth.json").read_text())
    assert manifest["intrinsics"]["depth_scale"] == 0.125 and manifest["background"] == 0
    assert manifest["config"]["camera"] == "realsense" and all(s["scene"] for s in manifest["sequences"])
    records, _ = read_label_file(out / "Testing/test_seq_2.txt", ICVL_J)
    rec = records[0]
    path = out / "Testing/Depth" / rec.path
    with Image.open(path) as img:
        assert img.size == (640, 480)
    raw = np.asarray(Image.open(path), dtype=np.uint16)
    mm = read_depth_png(path, depth_scale=0.125)
    assert (raw == 0).any() and np.median(raw[raw > 0]) > 2000  # eighth-mm units, 0 = no depth
    u, v, d = rec.uvd[0]
    patch = mm[int(v) - 3:int(v) + 4, int(u) - 3:int(u) + 4]
    assert abs(np.median(patch[patch > 0]) - d) < 40  # the palm label sits on the hand, in mm
    assert 250 <= d <= 920
    assert png.stat().st_size > 10_000
    again = tmp_path / "again.png"  # preview of the written tree reads its depth unit from synth.json
    assert main(["synth", "--preview", str(again), "--from-tree", str(out), "--preview-frames", "2"]) == 0


def test_cli_intrinsics_file_and_overrides(tmp_path):
    cam = tmp_path / "cam.json"
    cam.write_text(json.dumps({"fx": 200.0, "fy": 200.0, "cx": 80.0, "cy": 60.0, "width": 160,
                               "height": 120, "depth_scale": 0.5}))
    out = tmp_path / "t"
    assert main(["synth", "--out", str(out), "--intrinsics", str(cam), "--train-frames", "2",
                 "--test-frames", "0", "--scene-fraction", "1", *INPROC]) == 0
    cfg = json.loads((out / "synth.json").read_text())["config"]
    assert cfg["camera"] == "custom" and cfg["intrinsics"]["depth_scale"] == 0.5
    with Image.open(next((out / "Training/Depth").rglob("*.png"))) as img:
        assert img.size == (160, 120)


@pytest.mark.parametrize("args, message", [
    (["--camera", "kinect"], "invalid choice"),
    (["--camera", "realsense", "--intrinsics", "x.json"], "either --camera or --intrinsics"),
    (["--intrinsics", "missing.json"], "not found"),
    (["--camera", "realsense", "--depth-scale", "-1"], "depth_scale"),
    (["--camera", "realsense", "--cx", "900"], "principal point"),
    (["--scene-fraction", "2"], "--scene-fraction"),
    (["--test-scene-fraction", "-0.5"], "--test-scene-fraction"),
])
def test_cli_bad_camera_or_scene_input_fails_cleanly(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) if message == "invalid choice" else _no_raise():
        code = main(["synth", "--out", str(out), "--train-frames", "2", "--test-frames", "0", *args, *INPROC])
        assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and err[-1].startswith("sdnet synth: error:")
    assert not out.exists()


class _no_raise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_scene_sensor_defaults_to_structured_unless_a_profile_is_given(tmp_path):
    base = ["--train-frames", "2", "--test-frames", "0", *INPROC]
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["synth", "--out", str(a), *base]) == 0
    assert main(["synth", "--out", str(b), "--sensor-profile", "occluded", *base]) == 0
    ma, mb = (json.loads((p / "synth.json").read_text()) for p in (a, b))
    assert ma["config"]["scene_sensor_profile"] == SynthConfig().scene_sensor_profile == "structured"
    assert ma["scene_sensor"]["shadow_baseline_mm"] > 0 and ma["sensor"]["shadow_baseline_mm"] == 0
    assert mb["config"]["scene_sensor_profile"] is None and mb["scene_sensor"] == mb["sensor"]


def test_data_converts_a_realsense_tree_with_its_camera_and_refuses_it_as_icvl(tmp_path, capsys):
    """`sdnet data --camera realsense` reads the 1/8-mm PNGs as mm and records the camera; read as
    ICVL (320x240) every frame is rejected (labels outside the image) and the job fails naming it."""
    tree = tmp_path / "rs"
    assert main(["synth", "--out", str(tree), "--camera", "realsense", "--train-frames", "0",
                 "--test-frames", "6", "--test-scene-fraction", "1", "--seed", "2", *INPROC]) == 0
    data = tmp_path / "data"
    beam = ["--crop", "32", "--rotations", "1", "--quiet", "--", "--direct_running_mode=in_memory",
            "--direct_num_workers=1"]
    assert main(["data", "--icvl-root", str(tree), "--out", str(data), "--camera", "realsense", *beam]) == 0
    manifest = json.loads((data / "manifest.json").read_text())
    assert manifest["intrinsics"] == REALSENSE_INTRINSICS.to_dict() and manifest["config"]["centre"]["method"] == "blob"
    assert manifest["counts"]["test"] + manifest["rejected"] == 6 and manifest["counts"]["test"] >= 5
    capsys.readouterr()
    assert main(["data", "--icvl-root", str(tree), "--out", str(tmp_path / "bad"), *beam]) == 2
    err = capsys.readouterr().err
    assert "6 of 6 frames rejected" in err and "outside the 320x240 image" in err
    assert not (tmp_path / "bad").exists()


# ----------------------------------------------------------------------------- things nearer than the hand

# Digests of NO_NEAR scenes' solids (_scene_frames(camera) keys), recorded with the scene code of before
# the things nearer than the hand (commit 6924875).
OLD_SOLIDS_SHA = {"icvl": "445d760ab64a3946110d94bc6cd56aca9f77b63591a3c298a969700faf208528",
                  "realsense": "2e60b59589109f266231de1d7f1d1ce72b96e39d13f30147b8440cba6fb7ef57"}


def _solids_sha(scenes) -> str:
    h = hashlib.sha256()
    for scene in scenes:
        for solid in scene.solids:
            h.update(solid.kind.encode() + bytes([solid.part]))
            for p in solid.params:
                h.update((np.round(np.asarray(p, dtype=np.float64), 3) + 0.0).tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module", params=["icvl", "realsense"])
def near_set(request):
    """Scene frames of a camera (ICVL's: 120, RealSense's: 40) rendered with the default SceneModel
    and with NO_NEAR: (intr, [(frame, scene, depth, part, surface, hand mask without the near things,
    hand depth without them)])."""
    intr = CAMERAS[request.param]
    n_seq = 12 if request.param == "icvl" else 4
    out = []
    for frame, scene in _scene_frames(intr, n_seq=n_seq, frames=40, step=4):
        prims = build_primitives(frame.joints, frame.shape)
        depth, part, surface = render_scene(prims, scene, intr)
        alone = sample_scene(rng_for(0, *frame.scene_key), frame.joints, frame.shape, intr, NO_NEAR)
        depth0, part0, _ = render_scene(prims, alone, intr)
        out.append((frame, scene, depth, part, surface, part0 == PART_HAND, depth0))
    return intr, out


def _keep_mask(scene, shape, px: float) -> np.ndarray:
    """(H, W) bool: pixels whose square touches the hand's image box grown by ``px``."""
    u0, u1, v0, v1 = scene.hand_box
    v, u = np.mgrid[:shape[0], :shape[1]]
    return (u + 0.5 >= u0 - px) & (u - 0.5 <= u1 + px) & (v + 0.5 >= v0 - px) & (v - 0.5 <= v1 + px)


def test_scene_near_things_occur_at_their_rates_and_are_nearer_than_the_hand(near_set):
    """Each thing nearer than the hand shows up in about its share of frames (a little less: some
    find no room or no depth in front of a hand near the camera), and where it is flagged near it is
    nearer than the hand of interest's nearest pixel: the body part everywhere it shows, the edge at
    its front, the speckles all, the other hand in its 'nearer' share."""
    intr, frames = near_set
    model = SceneModel()
    seen = {"other": 0, "body": 0, "edge": 0, "speckles": 0, "other_nearer": 0}
    for frame, scene, depth, part, surface, _, _ in frames:
        hand_z = depth[part == PART_HAND].min()
        assert scene.hand_near_z <= hand_z + 1e-6  # the placement's reference is the hand's front
        for k, solid in enumerate(scene.solids):
            if not solid.near:
                continue
            assert solid.part == PART_NEAR and solid.kind in ("ellipsoid", "box")
            seen["body" if solid.kind == "ellipsoid" else "edge"] += 1
            shown = depth[surface == 2 + k]
            assert shown.size > 0 and shown.min() < hand_z - 10.0  # in view, entering from a border
            assert solid.nearest_z() >= model.near_min_mm - 1e-6
            if solid.kind == "ellipsoid":
                assert shown.max() < hand_z  # all of a body part in view is nearer than the hand
        if scene.other_hand is not None:
            seen["other"] += 1
            assert np.isfinite(scene.other_near_z) and scene.other_near_z >= model.near_min_mm - 1.0
            if scene.other_near_z < scene.hand_near_z:
                seen["other_nearer"] += 1
                assert scene.other_near_z <= scene.hand_near_z - model.other_hand_nearer_mm[0] + 5.0
            else:
                assert scene.other_near_z >= scene.hand_near_z + model.other_hand_behind_mm[0] - 25.0
        else:
            assert not (part == PART_OTHER_HAND).any()
        if scene.speckles is not None and len(scene.speckles[0]):
            seen["speckles"] += 1
            assert scene.speckles[2].max() < hand_z and scene.speckles[2].min() > model.near_min_mm - 10.0
    n = len(frames)
    for key, p in (("other", model.other_hand_p), ("body", model.near_body_p), ("edge", model.near_edge_p),
                   ("speckles", model.speckle_p)):
        assert 0.4 * p <= seen[key] / n <= p + 0.15, (key, seen[key], n)
    assert 0.1 * model.other_hand_nearer_p <= seen["other_nearer"] / seen["other"] <= model.other_hand_nearer_p + 0.2


def test_scene_near_things_keep_clear_of_the_hand(near_set):
    """None of the new things covers a pixel of the hand's image box grown by keep_out_px: the hand
    renders the same pixels at the same depths as without them, and lies within that box."""
    intr, frames = near_set
    keep_px = SceneModel().keep_out_px
    covered = 0
    for frame, scene, depth, part, _, hand0, depth0 in frames:
        hand = part == PART_HAND
        np.testing.assert_array_equal(hand, hand0)
        np.testing.assert_array_equal(depth[hand], depth0[hand])
        keep = _keep_mask(scene, depth.shape, keep_px)
        assert not (hand & ~_keep_mask(scene, depth.shape, 3.0)).any()  # the box is the hand's, to a few px
        new = (part == PART_NEAR) | (part == PART_OTHER_HAND) | scene.speckle_mask(depth.shape)
        assert not (new & keep).any()
        covered += bool(new.any())
    assert covered >= len(frames) // 2  # not a vacuous check


def test_scene_other_hand_is_the_other_chirality(near_set):
    """The other hand is the mirror image of the hand of interest's model: its thumb lies on the other
    side of the palm (palm_frame's N), its bones are as long, and the labelled chirality rule
    (eval.metrics.image_hand, over the frames) tells the two sets of hands apart."""
    intr, frames = near_set
    thumb = dict(ICVL_SKELETON.parts)["thumb"][1]
    mine, theirs = [], []
    for frame, scene, *_ in frames:
        if scene.other_joints is None:
            continue
        a, b = frame.joints, scene.other_joints
        side_a = (a[thumb] - a[ICVL_SKELETON.root]) @ palm_frame(a)[2]
        side_b = (b[thumb] - b[ICVL_SKELETON.root]) @ palm_frame(b)[2]
        assert side_a * side_b < 0
        np.testing.assert_allclose(ICVL_SKELETON.bone_lengths(b), ICVL_SKELETON.bone_lengths(a), atol=1e-6)
        mine.append(a)
        theirs.append(b)
    assert len(theirs) >= 10
    assert image_hand(np.stack(mine), ICVL_SKELETON) != image_hand(np.stack(theirs), ICVL_SKELETON)


def test_scene_speckles_are_painted_into_the_written_depth(near_set):
    """A scene's speckles are in the measured depth (render_frame_mm) as drawn, in front of the
    hand's nearest depth, painted after the sensor (every other pixel as without them), and in the
    stored camera units (render_frame)."""
    intr, frames = near_set
    sensor = sensor_for("structured")
    speckled = [(f, s) for f, s, *_ in frames if s.speckles is not None and len(s.speckles[0])][:3]
    assert speckled
    for frame, scene in speckled:
        rows, cols, z = scene.speckles
        prims = build_primitives(frame.joints, frame.shape)
        depth, part, surface = render_scene(prims, scene, intr)
        mm = render_frame_mm(frame.joints, frame.shape, intr, sensor, rng_for(0, 1), scene)
        np.testing.assert_array_equal(mm[rows, cols], z)
        assert z.max() < depth[part == PART_HAND].min()
        unpainted = apply_sensor_mm(depth, rng_for(0, 1), sensor, 0.5 * (intr.fx + intr.fy), surface)
        rest = ~scene.speckle_mask(depth.shape)
        np.testing.assert_array_equal(mm[rest], unpainted[rest])
        stored = render_frame(frame.joints, frame.shape, intr, sensor, rng_for(0, 1), scene)
        np.testing.assert_array_equal(stored[rows, cols], np.rint(z / intr.depth_scale).astype(np.uint16))


@pytest.mark.parametrize("camera", ["icvl", "realsense"])
def test_scene_without_near_things_is_the_scene_of_before(camera):
    """With every new probability 0 a scene holds the solids of before (recorded digests), nothing
    else; with the defaults its other solids are the same (the new things are drawn after them)."""
    intr = CAMERAS[camera]
    frames = [f for f, _ in _scene_frames(intr)]
    old = [sample_scene(rng_for(0, *f.scene_key), f.joints, f.shape, intr, NO_NEAR) for f in frames]
    assert _solids_sha(old) == OLD_SOLIDS_SHA[camera]
    assert all(s.other_hand is None and s.speckles is None and not any(x.near for x in s.solids) for s in old)
    new = [frame_scene(f, 0, intr) for f in frames]
    kept = [dataclasses.replace(s, solids=tuple(x for x in s.solids if x.part not in (PART_NEAR, PART_OTHER_HAND)))
            for s in new]
    assert _solids_sha(kept) == _solids_sha(old)
    assert any(len(a.solids) != len(b.solids) or a.other_hand is not None for a, b in zip(new, kept))
