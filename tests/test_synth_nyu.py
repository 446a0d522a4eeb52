"""`sdnet synth --dataset nyu`: an exact NYU Hand tree (format, labels on the rendered hand), NYU's
distances, proportions, views and subjects, and an unchanged ICVL mode."""
import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from pipeline import nyu_format as nyu
from pipeline.build_synth import OptionError, synth_config
from pipeline.cli import main
from pipeline.config import SYNTH_DATASETS, ConfigError, SynthConfig
from pipeline.synth.frames import rng_for
from pipeline.synth.handmodel import ARM, build_primitives
from pipeline.synth.nyu_mode import (NYU_LABEL_BONES_MM, NYU_PALM_MID_MM, NYU_SUBJECT_SCALES,
                                     nyu_label_uvd, nyu_sequence_frames, palm_normal_z, plan_nyu_sequences,
                                     render_nyu_depth, subject_ranges)
from pipeline.synth.poses import Proportions, camera_joints, sample_articulation, sample_subject
from pipeline.synth.sensor import sensor_for

INPROC = ["--running-mode", "in_memory", "--no-progress"]
TINY = ["--train-frames", "12", "--test-frames", "8", "--sequence-length", "6", "--seed", "1"]
NAMES = {name: i for i, name in enumerate(nyu.LABEL_JOINT_NAMES)}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    out = tmp_path_factory.mktemp("nyu") / "tree"
    assert main(["synth", "--dataset", "nyu", "--out", str(out), *TINY, *INPROC]) == 0
    return out


def _manifest(tree: Path) -> dict:
    return json.loads((tree / "synth.json").read_text())


def _label_rows(train_frames: int, test_frames: int, seed: int = 0, length: int = 100) -> dict[str, np.ndarray]:
    """The label rows (N, 36, 3) uvd of each split of a tree, poses only (nothing rendered)."""
    rows: dict[str, list] = {"train": [], "test": []}
    for spec in plan_nyu_sequences(train_frames, test_frames, length):
        frames = nyu_sequence_frames(spec, seed, nyu.INTRINSICS, len(rows[spec.split]))
        rows[spec.split] += [nyu_label_uvd(f) for f in frames]
    return {split: np.stack(r) for split, r in rows.items() if r}


def _camera_xyz(uvd36: np.ndarray) -> np.ndarray:
    return nyu.flip_y(nyu.uvd_to_xyz(uvd36, nyu.INTRINSICS))  # (..., 36, 3) y down


# ----------------------------------------------------------------------------- the tree on disk


def test_tree_reads_back_as_nyu_with_no_rejects(tree):
    manifest = _manifest(tree)
    assert manifest["config"]["dataset"] == "nyu" and manifest["intrinsics"] == nyu.INTRINSICS.to_dict()
    assert sorted(p.name for p in tree.iterdir()) == ["synth.json", "test", "train"]
    for split, n in (("train", 12), ("test", 8)):
        listing = nyu.read_split(tree, split, subjects=manifest["test_subjects"])
        assert listing.rejected == () and len(listing.records) == listing.label_frames == listing.image_frames == n
        assert sorted(p.name for p in (tree / split).iterdir()) == \
            [nyu.depth_file_name(i) for i in range(1, n + 1)] + [nyu.LABEL_FILE]
        with Image.open(tree / split / nyu.depth_file_name(1)) as img:
            assert img.mode == "RGB" and img.size == (640, 480)
            rgb = np.asarray(img)
        assert (rgb[..., 0] == 0).all() and (rgb[..., 1] > 0).any()  # R unused, depth in G and B
        assert (tree / split / nyu.LABEL_FILE).read_bytes()[:116] == nyu.MAT_HEADER.ljust(116)  # no timestamp
        mat = scipy.io.loadmat(str(tree / split / nyu.LABEL_FILE))
        assert mat["joint_uvd"].shape == mat["joint_xyz"].shape == (3, n, 36, 3)
        uvd, xyz = mat["joint_uvd"][0], mat["joint_xyz"][0]
        np.testing.assert_allclose(nyu.xyz_to_uvd(xyz, nyu.INTRINSICS), uvd, atol=1e-9)  # y up: v = cy - fy y / z
        assert (uvd[..., 1] > nyu.INTRINSICS.cy).any() and (xyz[..., 1] < 0).any()
        np.testing.assert_array_equal(np.stack([r.uvd for r in listing.records]), nyu.eval_joints(uvd))


def test_subjects_split_like_nyu(tree):
    manifest = _manifest(tree)
    assert manifest["train_subjects"] == [["subject_1", 0, 12, 300.0]]
    assert manifest["test_subjects"] == [["subject_1", 0, 2, 300.0], ["subject_2", 2, 8, 250.0]]  # 8 x 2440 / 8252
    test = nyu.list_split(tree, "test", subjects=manifest["test_subjects"]).records
    assert [r.subject for r in test] == ["subject_1"] * 2 + ["subject_2"] * 6
    assert {r.subject for r in nyu.list_split(tree, "train").records} == {"subject_1"}
    assert [s["subject"] for s in manifest["sequences"]] == ["subject_1"] * 3 + ["subject_2"]
    assert subject_ranges(8252) == nyu.TEST_SUBJECTS
    # Subject 1's hand in both splits, subject 2's another one.
    xyz = {split: _camera_xyz(scipy.io.loadmat(str(tree / split / nyu.LABEL_FILE))["joint_uvd"][0])
           for split in ("train", "test")}

    def index_tip_mid(a):
        return np.linalg.norm(a[:, NAMES["F4_KNU3_A"]] - a[:, NAMES["F4_KNU2_B"]], axis=-1)

    np.testing.assert_allclose(index_tip_mid(xyz["test"][:2]), index_tip_mid(xyz["train"])[0], rtol=1e-6)
    assert index_tip_mid(xyz["test"][2:]).mean() < 0.9 * index_tip_mid(xyz["train"]).mean()


def test_evaluated_joints_sit_on_the_rendered_hand(tree):
    """Every evaluated joint projects into the image onto the hand: the nearest depth around it is a
    finger radius or so in front of it (the joints lie inside the modelled solids), never behind."""
    manifest = _manifest(tree)
    gaps = []
    for split in ("train", "test"):
        for rec in nyu.list_split(tree, split, subjects=manifest["test_subjects"]).records:
            depth = nyu.read_frame(rec).astype(np.float64)
            assert 0.05 < (depth > 0).mean() and np.median(depth[depth > 0]) > 600  # arm, body, room in view
            for u, v, d in rec.uvd:
                assert 0 <= u <= 639 and 0 <= v <= 479
                patch = depth[int(round(v)) - 2:int(round(v)) + 3, int(round(u)) - 2:int(round(u)) + 3]
                gaps.append(d - patch[patch > 0].min())
    gaps = np.array(gaps)
    assert gaps.min() > -3.0 and gaps.max() < 150.0  # on the hand (an occluding finger at most)
    assert 5.0 < np.median(gaps) < 30.0


def test_palm_depths_and_facing_like_nyu():
    rows = _label_rows(3000, 1500, length=25)
    uvd = np.concatenate([rows["train"], rows["test"]])  # (4500, 36, 3): 180 sequences
    palm = uvd[:, NAMES["PALM_3"], 2]
    assert 640 < palm.min() and palm.max() < 1110 and 900 < np.median(palm) < 970  # NYU: 650-1100, 937
    assert 0.62 < (palm_normal_z(uvd) < 0).mean() < 0.76  # NYU: 69% of the test frames (sd here 0.035)
    # NYU's chirality: flexed fingers bend toward +n, n = (index - palm) x (pinky - palm).
    xyz = _camera_xyz(uvd)
    palm = xyz[:, NAMES["PALM_3"]]
    n = np.cross(xyz[:, NAMES["F4_KNU1_B"]] - palm, xyz[:, NAMES["F1_KNU1_B"]] - palm)
    bend = np.einsum("nd,nd->n", xyz[:, NAMES["F4_KNU3_A"]] - xyz[:, NAMES["F4_KNU1_B"]], n)
    reach = np.linalg.norm(xyz[:, NAMES["F4_KNU3_A"]] - palm, axis=1)
    assert (bend[reach < np.percentile(reach, 20)] > 0).mean() > 0.95


def test_label_bone_lengths_near_nyus_means():
    """Over a test split (subject 1 then 2 at NYU's share), every label bone NYU's facts give comes
    out within 10% of NYU's mean (over seeds 0-19: means within 1.3%, at worst 7%), the palm-mid
    distances within 15% (they depend on the pose prior too); subject 1 is the larger hand."""
    test = _camera_xyz(_label_rows(0, 60, seed=2, length=20)["test"])  # (60, 36, 3)
    for name, a, b, mean in NYU_LABEL_BONES_MM:
        got = np.linalg.norm(test[:, a] - test[:, b], axis=1).mean()
        assert got == pytest.approx(mean, rel=0.1), name
    for finger, mid in zip(("pinky", "ring", "middle", "index"), (3, 9, 15, 21)):
        got = np.linalg.norm(test[:, NAMES["PALM_3"]] - test[:, mid], axis=1).mean()
        assert got == pytest.approx(NYU_PALM_MID_MM[finger], rel=0.15), finger
    wrist = np.linalg.norm(test[:, NAMES["PALM_1"]] - test[:, NAMES["PALM_2"]], axis=1).mean()
    assert wrist == pytest.approx(31.2, rel=0.1)  # NYU's two wrist points
    tip_mid = np.linalg.norm(test[:, NAMES["F3_KNU3_A"]] - test[:, NAMES["F3_KNU2_B"]], axis=1)
    b = subject_ranges(60)[1][1]
    ratio = tip_mid[:b].mean() / tip_mid[b:].mean()
    assert ratio == pytest.approx(NYU_SUBJECT_SCALES["subject_1"] / NYU_SUBJECT_SCALES["subject_2"], rel=0.1)


def test_same_seed_same_frame():
    spec = plan_nyu_sequences(3, 0, 3)[0]
    frame = nyu_sequence_frames(spec, 5, nyu.INTRINSICS, 0)[2]
    sensor = sensor_for("kinect")
    a, b = (render_nyu_depth(frame, 5, nyu.INTRINSICS, sensor) for _ in range(2))
    assert a.dtype == np.uint16 and a.shape == (480, 640) and a.tobytes() == b.tobytes()
    other = nyu_sequence_frames(spec, 6, nyu.INTRINSICS, 0)[2]
    assert render_nyu_depth(other, 6, nyu.INTRINSICS, sensor).tobytes() != a.tobytes()


# ----------------------------------------------------------------------------- the mirrored hand


def test_mirrored_hand_is_the_mirror_image_forearm_included():
    """At zero orientation the mirror image is the reflection about the palm's x (the model's L axis
    is -x there): joints, and the forearm's bend toward the palm side."""
    plain = sample_subject(rng_for(4, 0), proportions=Proportions())
    shape = dataclasses.replace(plain.shape, mirrored=True)
    mirrored = dataclasses.replace(plain, shape=shape)
    art = sample_articulation(rng_for(4, 1), "relaxed")[None]
    angles, palm = np.zeros((1, 3)), np.array([[10.0, -5.0, 900.0]])
    j0 = camera_joints(plain, art, angles, palm)[0]
    j1 = camera_joints(mirrored, art, angles, palm)[0]
    reflect = np.array([-1.0, 1.0, 1.0])
    np.testing.assert_allclose(j1, (j0 - palm) * reflect + palm, atol=1e-9)
    arm0, arm1 = (build_primitives(j, s) for j, s in ((j0, plain.shape), (j1, shape)))
    np.testing.assert_allclose(arm1.b[arm1.owner == ARM], (arm0.b[arm0.owner == ARM] - palm) * reflect + palm,
                               atol=1e-9)


# ----------------------------------------------------------------------------- config and CLI


def test_nyu_config_fields():
    cfg = synth_config(dataset="nyu", train_frames=4, test_frames=2)
    assert cfg.dataset == "nyu" and cfg.camera_intrinsics() == nyu.INTRINSICS
    assert (cfg.scene_fraction, cfg.test_scene_fraction, cfg.sensor_profile, cfg.scene_sensor_profile) == \
        (1.0, 1.0, "kinect", None)
    assert synth_config(dataset="nyu", sensor_profile="default").sensor_profile == "default"
    assert SynthConfig().dataset == "icvl" == SYNTH_DATASETS[0]
    with pytest.raises(ConfigError, match="NYU's camera"):
        SynthConfig(dataset="nyu")
    with pytest.raises(ConfigError, match="dataset must be one of icvl, nyu"):
        SynthConfig(dataset="msra")
    with pytest.raises(OptionError) as e:
        synth_config(dataset="nyu", scene_fraction=0.5)
    assert e.value.flags == ("--scene-fraction", "--test-scene-fraction")


@pytest.mark.parametrize("args, message", [
    (["--poses", "labels.txt"], "--dataset nyu: --poses does not apply"),
    (["--preview", "p.png"], "--dataset nyu: --preview does not apply"),
    (["--camera", "realsense"], "--camera does not apply (an NYU tree is rendered with NYU's camera"),
    (["--fx", "500"], "--fx does not apply"),
    (["--scene-fraction", "0.5"], "--scene-fraction does not apply (every frame of an NYU tree is a scene)"),
    (["--scene-sensor-profile", "default"], "use --sensor-profile"),
])
def test_bad_combinations_fail_in_one_line(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    assert main(["synth", "--dataset", "nyu", "--out", str(out), "--train-frames", "2", "--test-frames", "0",
                 *args, *INPROC]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and err[0].startswith("sdnet synth: error:")
    assert not out.exists()


def test_help_explains_the_dataset_flag(capsys):
    with pytest.raises(SystemExit):
        main(["synth", "--help"])
    text = capsys.readouterr().out
    assert "--dataset {icvl,nyu}" in text and "joint_data.mat" in text and "unseen subject 2" in text


def _tree_sha(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(p for p in root.rglob("*") if p.is_file() and p.name != "synth.json"):
        h.update(str(p.relative_to(root)).encode() + hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def test_icvl_is_the_default_and_unchanged(tmp_path):
    """--dataset icvl writes the bytes the generator wrote without the flag (and before NYU mode:
    tests/test_synth_scenes.py's PLAIN_TREE_SHA), and records the dataset."""
    args = ["--train-frames", "4", "--test-frames", "3", "--sequence-length", "2", "--seed", "2",
            "--scene-fraction", "0.5", "--test-scene-fraction", "1", *INPROC]
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["synth", "--out", str(a), *args]) == 0
    assert main(["synth", "--dataset", "icvl", "--out", str(b), *args]) == 0
    assert _tree_sha(a) == _tree_sha(b) and (a / "Training/labels.txt").is_file()
    assert _manifest(b)["config"]["dataset"] == "icvl" and "test_subjects" not in _manifest(b)
