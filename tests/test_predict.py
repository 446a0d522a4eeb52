"""sdnet predict: one PNG, a folder, an ICVL tree; the refinement wiring; bad inputs."""
import dataclasses
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from eval.metrics import image_hand
from models.prior import fit_bone_prior
from models.refine import refine_poses
from pipeline.camera import ICVL_INTRINSICS, Intrinsics, uvd_to_xyz, xyz_to_uvd
from pipeline.cli import main
from pipeline.config import RefineConfig, to_dict
from pipeline.frame_sources import collect_frames
from pipeline.fsutil import write_json
from pipeline.geometry import hand_centre
from pipeline.icvl import ICVL_BACKGROUND, write_depth_png
from pipeline.inference import hand_band, predict_split
from pipeline.locator import load_locator, train_locator
from pipeline.predict import run_predict
from pipeline.predictor import crop_at, load_predictor, predict_chunk
from pipeline.rundir import load_model
from pipeline.overlay import overlay_image
from pipeline.skeleton import FINGER_COLORS, ICVL_SKELETON, NYU_SKELETON
from pipeline.synth.poses import ARTICULATION, camera_joints, sample_subject
from tests.helpers import IN_PROCESS, make_tiny_data_dir, stick_hand_xyz
from tests.run_helpers import make_untrained_run

CROP = 32


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A converted tiny tree, a CNN-only run (smoke model) and a run with prior + refine.json."""
    tmp = tmp_path_factory.mktemp("predict")
    data = make_tiny_data_dir(tmp, rotations=1, crop_size=CROP, train_seqs=2, frames_per_seq=3,
                              test_frames=(4, 2))
    run = make_untrained_run(tmp / "run", data, CROP)
    refined = tmp / "run_refined"
    shutil.copytree(run, refined)
    rng = np.random.default_rng(1)  # "training" poses: stick hands, never the ICVL labels
    poses = np.stack([stick_hand_xyz(rng) * rng.uniform(0.9, 1.1) for _ in range(300)])
    write_json(refined / "prior.json", fit_bone_prior(poses, ICVL_SKELETON).to_dict())
    small = RefineConfig(radius_mm=8.0, grid_half=1, rounds=2, gamma_m=0.05)  # quick to compile
    write_json(refined / "refine.json", {"config": to_dict(small)})
    return {"tmp": tmp, "tree": tmp / "icvl", "data": data, "run": run, "refined": refined}


def _folder(tiny, tmp_path, blank=True):
    """A folder with test_seq_1's frames renamed image_2, image_10, ... and a frame with no hand."""
    src = sorted((tiny["tree"] / "Testing/Depth/test_seq_1").glob("*.png"))
    folder = tmp_path / "seq"
    folder.mkdir()
    for k, p in enumerate(src):
        shutil.copy(p, folder / f"image_{2 + 8 * k}.png")  # 2, 10, 18, 26: natural order != text order
    if blank:
        write_depth_png(folder / "image_99.png", np.full((240, 320), ICVL_BACKGROUND, np.uint16))
    return folder, src


def test_predict_folder_cnn_only(tiny, tmp_path, capsys):
    folder, src = _folder(tiny, tmp_path)
    out = tmp_path / "out"
    assert main(["predict", "--run", str(tiny["run"]), str(folder), "--out", str(out), "--no-refine"]) == 0
    assert "5 frames: 4 ok, 1 no hand, 0 unreadable" in capsys.readouterr().out
    doc = json.loads((out / "predictions.json").read_text())
    assert doc["input_kind"] == "folder" and doc["refined"] is False and doc["refine"] is None
    assert doc["joint_names"] == list(ICVL_SKELETON.joint_names)
    assert doc["crop_size"] == CROP and doc["counts"] == {"frames": 5, "ok": 4, "no_hand": 1, "unreadable": 0}
    assert doc["centre"]["method"] == "blob"
    names = [f["path"].rsplit("/", 1)[1] for f in doc["frames"]]
    assert names == ["image_2.png", "image_10.png", "image_18.png", "image_26.png", "image_99.png"]
    assert [f["frame"] for f in doc["frames"]] == [0, 1, 2, 3, 4]
    assert {f["sequence"] for f in doc["frames"]} == {"seq"}
    intr = Intrinsics.from_dict(doc["intrinsics"])
    for f in doc["frames"][:4]:
        assert f["status"] == "ok" and "uvd_cnn" not in f
        uvd, xyz = np.array(f["uvd"]), np.array(f["xyz"])
        assert uvd.shape == xyz.shape == (16, 3)
        np.testing.assert_allclose(uvd_to_xyz(uvd, intr), xyz, atol=0.01)
        # This net predicts small normalized joints: within the cube around the hand centre.
        assert np.all(np.abs(xyz - np.array(f["centre_xyz"])) < doc["cube_mm"] / 2)
        with Image.open(out / f["overlay"]) as img:
            assert img.size == (640, 480) and img.mode == "RGB"
    blank = doc["frames"][4]
    assert blank["status"].startswith("no hand: ") and "uvd" not in blank and "xyz" not in blank


def test_predict_matches_the_data_pipeline(tiny, tmp_path):
    """Predicting the tree's test frames gives what the CNN gives on `sdnet data`'s test records."""
    out = tmp_path / "out"
    assert main(["predict", "--run", str(tiny["run"]), str(tiny["tree"]), "--out", str(out),
                 "--no-refine", "--split", "test", "--no-overlays"]) == 0
    doc = json.loads((out / "predictions.json").read_text())
    assert doc["input_kind"] == "icvl-tree" and not (out / "overlays").exists()
    frames = doc["frames"]
    assert [(f["sequence"], f["frame"]) for f in frames] == (
        [("Testing/Depth/test_seq_1", i) for i in range(4)]
        + [("Testing/Depth/test_seq_2", i) for i in range(2)])
    ref = predict_split(load_model(tiny["run"]), tiny["data"], "test", ICVL_INTRINSICS, ICVL_SKELETON)
    assert [p.rsplit("/", 1)[1] for p in ref.path] == [f["path"].rsplit("/", 1)[1] for f in frames]
    got = np.array([f["uvd"] for f in frames])
    np.testing.assert_allclose(got, ref.pred_uvd, atol=2e-3)  # float32 record crops vs JSON rounding


def test_predict_single_png_with_custom_intrinsics(tiny, tmp_path):
    png = sorted((tiny["tree"] / "Testing/Depth/test_seq_2").glob("*.png"))[0]
    out = tmp_path / "out"
    args = ["predict", "--run", str(tiny["run"]), str(png), "--out", str(out), "--no-refine",
            "--fx", "230", "--fy", "236.5", "--cx", "158", "--cy", "121"]
    assert main(args) == 0
    doc = json.loads((out / "predictions.json").read_text())
    intr = Intrinsics(fx=230, fy=236.5, cx=158, cy=121, width=320, height=240)
    assert doc["input_kind"] == "png" and doc["intrinsics"] == intr.to_dict()
    (f,) = doc["frames"]
    assert f["status"] == "ok" and f["sequence"] == "test_seq_2" and f["frame"] == 0
    np.testing.assert_allclose(uvd_to_xyz(np.array(f["uvd"]), intr), np.array(f["xyz"]), atol=0.01)
    # The same frame under ICVL intrinsics: same image points up to the crop's camera, different xyz.
    out2 = tmp_path / "out2"
    assert main(["predict", "--run", str(tiny["run"]), str(png), "--out", str(out2), "--no-refine"]) == 0
    f2 = json.loads((out2 / "predictions.json").read_text())["frames"][0]
    assert not np.allclose(f["xyz"], f2["xyz"], atol=1.0)


def test_predict_single_png_without_hand_gives_a_status(tiny, tmp_path):
    png = tmp_path / "empty.png"
    write_depth_png(png, np.zeros((240, 320), np.uint16))
    assert main(["predict", "--run", str(tiny["run"]), str(png), "--out", str(tmp_path / "o"),
                 "--no-refine"]) == 0
    (f,) = json.loads((tmp_path / "o/predictions.json").read_text())["frames"]
    assert f["status"].startswith("no hand: ") and (tmp_path / "o" / f["overlay"]).is_file()


def test_refinement_is_applied_with_the_run_prior(tiny, tmp_path):
    folder, _ = _folder(tiny, tmp_path)
    out = tmp_path / "out"
    assert main(["predict", "--run", str(tiny["refined"]), str(folder), "--out", str(out)]) == 0
    doc = json.loads((out / "predictions.json").read_text())
    assert doc["refined"] is True and doc["refine"]["radius_mm"] == 8.0 and "refine" in doc["ms_per_frame"]
    intr = Intrinsics.from_dict(doc["intrinsics"])
    ok = [f for f in doc["frames"] if f["status"] == "ok"]
    moved = []
    for f in ok:
        cnn_xyz = uvd_to_xyz(np.array(f["uvd_cnn"]), intr)
        step = np.linalg.norm(np.array(f["xyz"]) - cnn_xyz, axis=-1)  # (J,) mm
        assert step.max() <= 8.0 + 0.02
        moved.append(step.max())
    assert max(moved) > 0.1

    # Exactly what models.refine gives for these CNN joints, with this sequence's temporal order
    # (a folder of PNGs is a user's right hand: `sdnet predict`'s default there).
    pred = load_predictor(tiny["refined"], hand="right")
    refs = collect_frames(folder)[1]
    results = [r for r in predict_chunk(pred, refs) if r.status == "ok"]
    cnn = np.stack([uvd_to_xyz(r.uvd_cnn, intr) for r in results])
    n = len(results)
    band = hand_band(np.stack([r.centre_xyz for r in results]), np.full(n, 250.0))
    expect = refine_poses(cnn, np.stack([r.depth for r in results]), band, intr, pred.prior, ICVL_SKELETON,
                          pred.refine, np.array(["seq"] * n), np.arange(n))
    np.testing.assert_allclose(np.stack([r.xyz for r in results]), expect, atol=1e-6)
    np.testing.assert_allclose(np.array([f["xyz"] for f in ok]), expect, atol=2e-3)


def test_refinement_needs_a_prior(tiny, tmp_path, capsys):
    png = sorted((tiny["tree"] / "Testing/Depth/test_seq_1").glob("*.png"))[0]
    out = tmp_path / "out"
    assert main(["predict", "--run", str(tiny["run"]), str(png), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "prior.json" in err and "sdnet fit-refine" in err and "--no-refine" in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


@pytest.mark.parametrize("version", [None, 0, 2])
def test_a_run_of_another_config_version_is_refused_in_one_line(tiny, tmp_path, capsys, version):
    """No migration layers: a config.json of another format version (or none, as before versions) gets one
    line naming both versions and what to do, and nothing is written."""
    old = tmp_path / "old_run"
    shutil.copytree(tiny["run"], old)
    cfg = json.loads((old / "config.json").read_text())
    cfg.pop("version") if version is None else cfg.update(version=version)
    write_json(old / "config.json", cfg)
    png = sorted((tiny["tree"] / "Testing/Depth/test_seq_1").glob("*.png"))[0]
    out = tmp_path / "a"
    assert main(["predict", "--run", str(old), str(png), "--out", str(out), "--no-refine"]) == 2
    err = capsys.readouterr().err.strip()
    found = "no version" if version is None else f"version {version}"
    assert len(err.splitlines()) == 1 and str(old / "config.json") in err
    assert found in err and "reads experiment version 1" in err and "retrain" in err
    assert not out.exists()


def test_icvl_tree_uses_label_paths_only(tiny, tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(tiny["tree"], tree)
    label = tree / "Testing/test_seq_2.txt"
    label.write_text("".join(line.split()[0] + " garbage\n" for line in label.read_text().splitlines()))
    kind, refs = collect_frames(tree, "test")
    assert kind == "icvl-tree" and len(refs) == 6
    assert [r.index for r in refs] == [0, 1, 2, 3, 0, 1]
    assert len({r.name for r in refs}) == 6 and all(r.path.is_file() for r in refs)
    assert len(collect_frames(tree, "all")[1]) == 12


def _error(args, capsys) -> str:
    assert main(["predict", *map(str, args)]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("sdnet predict: error: ")]
    assert len(lines) == 1 and "Traceback" not in err
    return lines[0]


def test_bad_inputs(tiny, tmp_path, capsys):
    run = tiny["run"]
    png = sorted((tiny["tree"] / "Testing/Depth/test_seq_1").glob("*.png"))[0]
    eight = tmp_path / "eight.png"
    Image.fromarray(np.full((240, 320), 80, np.uint8)).save(eight)
    assert "16-bit" in _error(["--run", run, eight, "--out", tmp_path / "a", "--no-refine"], capsys)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no PNG" in _error(["--run", run, empty, "--out", tmp_path / "b", "--no-refine"], capsys)
    assert "no such file" in _error(["--run", run, tmp_path / "nope.png", "--no-refine"], capsys)
    assert "fx must be a positive" in _error(["--run", run, png, "--fx", "-5", "--no-refine"], capsys)
    assert "principal point" in _error(["--run", run, png, "--cx", "900", "--no-refine"], capsys)
    err = _error(["--run", run, png, "--width", "640", "--height", "480", "--cx", "320", "--cy", "240",
                  "--no-refine", "--out", tmp_path / "c"], capsys)
    assert "320x240, expected 640x480" in err and "--width" in err
    assert "run directory not found" in _error(["--run", tmp_path / "norun", png], capsys)
    no_model = tmp_path / "no_model"
    no_model.mkdir()
    shutil.copy(run / "config.json", no_model / "config.json")
    assert "no trained model" in _error(["--run", no_model, png, "--no-refine"], capsys)
    assert "no config.json" in _error(["--run", empty, png, "--no-refine"], capsys)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("x")
    assert "--overwrite" in _error(["--run", run, png, "--out", busy, "--no-refine"], capsys)
    for path in (tmp_path / "a", tmp_path / "b", tmp_path / "c"):
        assert not path.exists()


def test_folder_with_unreadable_frames(tiny, tmp_path, capsys):
    folder, _ = _folder(tiny, tmp_path, blank=False)
    (folder / "image_50.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    assert main(["predict", "--run", str(tiny["run"]), str(folder), "--out", str(out), "--no-refine"]) == 0
    capsys.readouterr()
    doc = json.loads((out / "predictions.json").read_text())
    assert doc["counts"] == {"frames": 5, "ok": 4, "no_hand": 0, "unreadable": 1}
    bad = doc["frames"][4]
    assert bad["status"].startswith("unreadable: ") and bad["overlay"] is None
    only_bad = tmp_path / "only_bad"
    only_bad.mkdir()
    (only_bad / "a.png").write_bytes(b"junk")
    Image.fromarray(np.full((240, 320), 80, np.uint8)).save(only_bad / "b.png")
    err = _error(["--run", tiny["run"], only_bad, "--out", tmp_path / "o2", "--no-refine"], capsys)
    assert "none of the 2 frames is readable" in err and not (tmp_path / "o2").exists()


def test_depth_scale_and_intrinsics_file_read_another_cameras_units(tiny, tmp_path):
    """The same frame stored in 1/8-mm units and read with --depth-scale 0.125 (or a JSON camera)
    gives the joints of the mm original; read as mm it is refused with a hint."""
    png = sorted((tiny["tree"] / "Testing/Depth/test_seq_1").glob("*.png"))[0]
    mm = np.asarray(Image.open(png)).astype(np.uint16)
    units = np.where(mm == ICVL_BACKGROUND, 0, mm.astype(np.int64) * 8).astype(np.uint16)
    folder = tmp_path / "rs"
    folder.mkdir()
    write_depth_png(folder / "frame.png", units)
    ref, scaled, from_file = tmp_path / "ref", tmp_path / "scaled", tmp_path / "file"
    assert main(["predict", "--run", str(tiny["run"]), str(png), "--out", str(ref), "--no-refine"]) == 0
    assert main(["predict", "--run", str(tiny["run"]), str(folder / "frame.png"), "--out", str(scaled),
                 "--no-refine", "--depth-scale", "0.125"]) == 0
    cam = tmp_path / "cam.json"
    cam.write_text(json.dumps({**ICVL_INTRINSICS.to_dict(), "depth_scale": 0.125}))
    assert main(["predict", "--run", str(tiny["run"]), str(folder), "--out", str(from_file),
                 "--no-refine", "--intrinsics", str(cam)]) == 0
    want = json.loads((ref / "predictions.json").read_text())["frames"][0]
    for out in (scaled, from_file):
        doc = json.loads((out / "predictions.json").read_text())
        assert doc["intrinsics"]["depth_scale"] == 0.125
        np.testing.assert_allclose(doc["frames"][0]["uvd"], want["uvd"], atol=1e-3)


def test_depth_in_the_wrong_unit_is_refused_with_a_hint(tiny, tmp_path, capsys):
    units = np.zeros((240, 320), np.uint16)
    units[80:160, 120:200] = 4000  # a hand at 500 mm in 1/8-mm units
    units[160:, :] = 12000  # a body at 1.5 m
    png = tmp_path / "rs.png"
    write_depth_png(png, units)
    err = _error(["--run", tiny["run"], png, "--out", tmp_path / "o", "--no-refine"], capsys)
    assert "rs.png" in err and "makes no sense" in err and "--depth-scale" in err
    assert not (tmp_path / "o").exists()


def test_left_hand_is_mirrored_in_and_its_joints_mirrored_out(tiny, tmp_path):
    """A mirrored frame predicted as a left hand gives the mirror image of the right-hand result
    (CNN and refinement), on a camera whose principal point is the image centre."""
    src = sorted((tiny["tree"] / "Testing/Depth/test_seq_1").glob("*.png"))
    right, left = tmp_path / "right", tmp_path / "left"
    right.mkdir()
    left.mkdir()
    for k, p in enumerate(src):
        depth = np.asarray(Image.open(p)).astype(np.uint16)
        write_depth_png(right / f"image_{k}.png", depth)
        write_depth_png(left / f"image_{k}.png", np.ascontiguousarray(depth[:, ::-1]))
    centred = ["--cx", "159.5"]
    assert main(["predict", "--run", str(tiny["refined"]), str(right), "--out", str(tmp_path / "r"),
                 *centred]) == 0
    assert main(["predict", "--run", str(tiny["refined"]), str(left), "--out", str(tmp_path / "l"),
                 "--hand", "left", *centred]) == 0
    r = json.loads((tmp_path / "r/predictions.json").read_text())
    m = json.loads((tmp_path / "l/predictions.json").read_text())
    assert m["hand"] == "left" and r["hand"] == "right" and m["counts"]["ok"] == len(src)
    for fr, fl in zip(r["frames"], m["frames"]):
        for key in ("uvd", "uvd_cnn"):
            want = np.array(fr[key])
            want[:, 0] = 319 - want[:, 0]
            np.testing.assert_allclose(fl[key], want, atol=2e-3)
        np.testing.assert_allclose(fl["xyz"], np.array(fr["xyz"]) * [-1, 1, 1], atol=2e-3)
        np.testing.assert_allclose(fl["centre_xyz"], np.array(fr["centre_xyz"]) * [-1, 1, 1], atol=2e-3)


def test_fit_centre_trains_a_refiner_that_predict_applies(tiny, tmp_path, capsys):
    """`sdnet fit-centre` writes centre.keras/centre.json; predict then crops a second time around
    rule centre + move * cube/2 (the move the refiner gives on the first crop); --no-centre-refine
    keeps the rule's centre."""
    run = tmp_path / "run"
    shutil.copytree(tiny["run"], run)
    assert main(["fit-centre", "--data", str(tiny["data"]), "--run", str(run), "--steps", "20",
                 "--batch-size", "4", "--quiet"]) == 0
    doc = json.loads((run / "centre.json").read_text())
    assert len(doc["mu"]) == 3 and doc["steps"] == 20 and doc["crop_size"] == CROP
    assert doc["validation"]["centre_error_mm_before"] > 0 and (run / "centre.keras").is_file()

    folder, _ = _folder(tiny, tmp_path, blank=False)
    refs = collect_frames(folder)[1]
    pred = load_predictor(run, refine=False)
    plain = load_predictor(run, refine=False, centre_refine=False)
    assert pred.centre_refiner is not None and plain.centre_refiner is None
    for r_ref, r_plain in zip(predict_chunk(pred, refs), predict_chunk(plain, refs)):
        rule = hand_centre(r_plain.depth, pred.intrinsics, pred.cube_mm, pred.centre)
        np.testing.assert_allclose(r_plain.centre_xyz, rule)
        move = pred.centre_refiner.move(crop_at(r_plain.depth, rule, pred)[None])[0]
        np.testing.assert_allclose(r_ref.centre_xyz, rule + move * pred.cube_mm / 2, atol=1e-6)
    out = tmp_path / "out"
    assert main(["predict", "--run", str(run), str(folder), "--out", str(out), "--no-refine"]) == 0
    assert json.loads((out / "predictions.json").read_text())["centre_refined"] is True
    out2 = tmp_path / "out2"
    assert main(["predict", "--run", str(run), str(folder), "--out", str(out2), "--no-refine",
                 "--no-centre-refine"]) == 0
    assert json.loads((out2 / "predictions.json").read_text())["centre_refined"] is False


def _colour_pixels(img, hex_colour: str) -> int:
    rgb = np.asarray(img.convert("RGB")).astype(int)
    target = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int(np.all(np.abs(rgb - target) <= 2, axis=-1).sum())


@pytest.mark.parametrize("sk", [ICVL_SKELETON, NYU_SKELETON], ids=["icvl", "nyu"])
def test_overlay_draws_every_bone_of_the_skeleton_in_its_part_colour(sk):
    """Finger bones in their finger colours, joints in no part (NYU's wrist) grey, the root white."""
    depth = np.full((120, 160), 600, np.uint16)
    rng = np.random.default_rng(0)
    uvd = np.column_stack([rng.uniform(20, 140, sk.num_joints), rng.uniform(20, 100, sk.num_joints),
                           np.full(sk.num_joints, 600.0)])
    img = overlay_image(depth, uvd, sk, band=(500.0, 700.0))
    assert img.size == (320, 240)
    for finger in ("thumb", "index", "pinky"):
        assert _colour_pixels(img, FINGER_COLORS[finger]) > 10, finger
    grey = _colour_pixels(img, "#9e9e9e")
    assert (grey > 10) == (sk is NYU_SKELETON)  # only NYU has joints in no part


# ----------------------------------------------------------------------------- the hand's chirality

def _constant_pose_run(tiny, tmp_path, joints_xyz_rel):
    """A copy of the tiny run whose CNN always answers ``joints_xyz_rel`` (J, 3) mm from the crop centre."""
    run = tmp_path / "constant"
    shutil.copytree(tiny["run"], run)
    cube = json.loads((run / "config.json").read_text())["data"]["cube_mm"]
    model = load_model(run)
    kernel, _ = model.get_layer("joints").get_weights()
    model.get_layer("joints").set_weights([kernel * 0.0, (joints_xyz_rel / (cube / 2.0)).reshape(-1)])
    model.save(run / "model.keras")
    return run


def test_a_users_right_hand_gets_its_thumb_on_the_right_side(tiny, tmp_path):
    """ICVL's images show a right hand's mirror image (Dataset.image_hand 'left'): a CNN that always
    answers an ICVL-chirality palm-facing hand, fingers up, run on a user's frames (a folder: a right
    hand by default) answers a right hand, thumb on the image's right; on the ICVL tree itself (its own
    frames) the answer is not mirrored, and --hand left keeps ICVL's chirality."""

    subject = sample_subject(np.random.default_rng(0))
    art = np.zeros((1, len(ARTICULATION)))
    art[0, [0, 3, 6, 9]] = 60.0  # the four fingers flexed at the MCP: the flex side is visible
    pose = camera_joints(subject, art, np.zeros((1, 3)), np.array([[0.0, 0.0, 0.0]]))[0]  # yaw 0: palm faces the camera
    assert image_hand(pose[None], ICVL_SKELETON) == "left"  # the generator's hand has ICVL's chirality
    run = _constant_pose_run(tiny, tmp_path, pose - pose.mean(axis=0))
    folder = tmp_path / "user"
    folder.mkdir()
    for k, p in enumerate(sorted((tiny["tree"] / "Testing/Depth/test_seq_1").glob("*.png"))):
        shutil.copy(p, folder / f"image_{k}.png")
    parts = dict(ICVL_SKELETON.parts)
    thumb, pinky = parts["thumb"][-1], parts["pinky"][-1]
    cases = ((folder, [], "right"), (tiny["tree"], ["--split", "test"], "left"), (folder, ["--hand", "left"], "left"))
    for k, (source, extra, want_hand) in enumerate(cases):
        out = tmp_path / f"out_{k}"
        assert main(["predict", "--run", str(run), str(source), "--out", str(out), "--no-refine",
                     "--no-centre-refine", "--no-overlays", *extra]) == 0
        doc = json.loads((out / "predictions.json").read_text())
        xyz = np.array([f["xyz"] for f in doc["frames"] if f["status"] == "ok"])
        assert len(xyz) and doc["mirrored"] == (want_hand == "right")
        assert image_hand(xyz, ICVL_SKELETON) == want_hand
        # fingers up, palm toward the camera: a right hand's thumb is right of its pinky in the image
        thumb_right = np.array([f["uvd"][thumb][0] > f["uvd"][pinky][0] for f in doc["frames"] if f["status"] == "ok"])
        assert thumb_right.all() == (want_hand == "right") and thumb_right.any() == (want_hand == "right")


# ----------------------------------------------------------------------------- the learned localizer

class _MarkerLocator:
    """A localizer that answers the centroid of the pixels within 20 mm of ``hand_mm`` in the frame it
    is given (camera xyz mm of that frame's camera), with a fixed confidence; keeps the frames."""

    def __init__(self, hand_mm: float, confidence: float, threshold: float = 0.5):
        self.hand_mm, self.confidence, self.threshold = hand_mm, confidence, threshold
        self.doc = {"validation": {"frames": 1}}
        self.seen = []

    def locate(self, depth, intr):
        self.seen.append(np.array(depth))
        vs, us = np.nonzero(np.abs(depth.astype(np.float64) - self.hand_mm) < 20.0)
        return uvd_to_xyz(np.array([us.mean(), vs.mean(), self.hand_mm]), intr), self.confidence


def _two_discs(path):
    """A frame with a disc 'hand' at 400 mm centred at (80, 120) px and a nearer disc (another hand,
    the nearest blob) at 300 mm centred at (240, 120) px; returns the frame (H, W) uint16 mm."""
    vv, uu = np.mgrid[0:240, 0:320]
    depth = np.full((240, 320), ICVL_BACKGROUND, np.uint16)
    depth[np.hypot(uu - 80, vv - 120) <= 25] = 400
    depth[np.hypot(uu - 240, vv - 120) <= 25] = 300
    path.parent.mkdir(parents=True, exist_ok=True)
    write_depth_png(path, depth)
    return depth


@pytest.mark.parametrize("hand", ["right", "left"])
def test_the_localizer_chooses_the_hand_not_the_nearest_blob(tiny, tmp_path, hand):
    """The crop is cut about the localizer's answer (not the nearer disc the blob rule takes), mapped
    correctly through both mirrorings: the localizer sees a right hand as a camera shows it (the
    user's frame for --hand right, mirrored for left), the CNN sees ICVL's chirality."""
    depth = _two_discs(tmp_path / "seq" / "image_0.png")
    rule = hand_centre(depth, ICVL_INTRINSICS, 250.0, load_predictor(tiny["run"], refine=False).centre)
    assert abs(xyz_to_uvd(rule, ICVL_INTRINSICS)[0] - 240) < 3  # the rule takes the nearer disc
    loc = _MarkerLocator(400.0, confidence=0.9)
    pred = dataclasses.replace(load_predictor(tiny["run"], refine=False, hand=hand, centre_refine=False), locator=loc)
    doc = run_predict(pred, tmp_path / "seq", tmp_path / "out", overlays=False, progress=False)
    (frame,) = doc["frames"]
    assert frame["status"] == "ok" and frame["confidence"] == 0.9
    assert doc["locator"]["threshold"] == 0.5 and doc["mirrored"] == (hand == "right")
    u, v, d = xyz_to_uvd(np.array(frame["centre_xyz"]), ICVL_INTRINSICS)
    assert abs(u - 80) < 3 and abs(v - 120) < 3 and abs(d - 400) < 3  # the hand's disc, original frame
    (seen,) = loc.seen
    np.testing.assert_array_equal(seen, depth if hand == "right" else depth[:, ::-1])


def test_an_unsure_localizer_gives_no_hand_with_its_confidence(tiny, tmp_path):
    _two_discs(tmp_path / "seq" / "image_0.png")
    pred = dataclasses.replace(load_predictor(tiny["run"], refine=False), locator=_MarkerLocator(400.0, 0.2))
    doc = run_predict(pred, tmp_path / "seq", tmp_path / "out", overlays=False, progress=False)
    (frame,) = doc["frames"]
    assert frame["status"] == "no hand: the localizer's confidence 0.200 is below its threshold 0.500"
    assert frame["confidence"] == 0.2 and "xyz" not in frame and doc["counts"]["no_hand"] == 1


def test_predict_uses_the_runs_fitted_locator_unless_told_not_to(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny["run"], run)
    assert main(["fit-locator", "--tree", str(tiny["tree"]), "--out", str(run), "--steps", "5",
                 "--batch-size", "4", "--quiet"]) == 0
    threshold = load_locator(run).threshold
    folder, _ = _folder(tiny, tmp_path)
    for extra, located in (([], True), (["--no-locator"], False)):
        out = tmp_path / f"out{len(extra)}"
        assert main(["predict", "--run", str(run), str(folder), "--out", str(out), "--no-refine",
                     "--no-overlays", *extra]) == 0
        doc = json.loads((out / "predictions.json").read_text())
        assert (doc["locator"] is not None) == located
        assert all(("confidence" in f) == located for f in doc["frames"])
        if located:
            assert doc["locator"]["threshold"] == threshold and "centre_error_mm_mean" in doc["locator"]["validation"]
            assert all(0.0 <= f["confidence"] <= 1.0 for f in doc["frames"])
            assert all(f["status"] == "ok" or f["status"].startswith("no hand") for f in doc["frames"])
    # sdnet data cuts crops about the same localizer's palm (--centre-method learned --locator DIR).
    data = tmp_path / "data"
    assert main(["data", "--root", str(tiny["tree"]), "--out", str(data), "--crop", str(CROP), "--centre-method",
                 "learned", "--locator", str(run), "--max-reject", "1", "--quiet", *IN_PROCESS]) == 0
    manifest = json.loads((data / "manifest.json").read_text())
    assert manifest["config"]["centre"] == {**manifest["config"]["centre"], "method": "learned",
                                            "locator": str(run.absolute())}
    assert sum(manifest["counts"].values()) + len((data / "rejected.jsonl").read_text().splitlines()) > 0
    assert main(["data", "--root", str(tiny["tree"]), "--out", str(tmp_path / "d2"), "--centre-method", "learned",
                 "--locator", str(tmp_path / "nowhere"), "--quiet", *IN_PROCESS]) == 2
    assert "no localizer (locator.keras)" in capsys.readouterr().err
