"""`sdnet data --dataset nyu`: an NYU Hand tree converted end to end (camera 1, the 14 evaluated joints,
RGB-decoded depth), its subjects as test sequences with their cubes, its rejections, and the manifest
check that ties the records to their dataset's skeleton."""
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipeline import nyu_format
from pipeline.build_data import convert_tree
from pipeline.camera import uvd_to_xyz
from pipeline.cli import main
from pipeline.config import DataConfig
from pipeline.convert import plan_frames
from pipeline.datasets import ICVL, NYU
from pipeline.errors import SdnetError
from pipeline.input import check_manifest, read_manifest
from tests.helpers import IN_PROCESS, TINY_NYU_SUBJECTS, split_records, write_tiny_nyu_tree


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """A tiny NYU tree with a truncated test PNG and a training PNG without a label, converted."""
    tmp = tmp_path_factory.mktemp("nyu")
    tree = write_tiny_nyu_tree(tmp / "tree", train_frames=8)
    truncated = tree / "test" / nyu_format.depth_file_name(4)
    truncated.write_bytes(truncated.read_bytes()[:300])
    (tree / "train" / nyu_format.depth_file_name(9)).write_bytes((tree / "train" / nyu_format.depth_file_name(1)).read_bytes())
    out = tmp / "data"
    cfg = DataConfig(dataset="nyu", crop_size=32, cube_mm=300.0, val_fraction=0.25, max_reject_fraction=0.5)
    manifest = convert_tree(tree, out, cfg, NYU.camera, IN_PROCESS, progress=False)
    return tree, out, manifest


def test_manifest_records_the_dataset_its_skeleton_camera_and_cubes(converted):
    _, out, manifest = converted
    assert manifest["dataset"] == "nyu" and manifest["skeleton"] == NYU.skeleton.to_dict()
    assert manifest["intrinsics"] == NYU.camera.to_dict() and manifest["intrinsics"]["width"] == 640
    assert manifest["cube_mm"] == 300.0
    assert manifest["test_cubes_mm"] == {name: cube for name, _, _, cube in TINY_NYU_SUBJECTS}
    assert check_manifest(read_manifest(out)) is NYU
    # one training recording of 8 frames: its tail is val (the single-sequence rule: the last 10%, at
    # least one frame); 5 test frames, one truncated
    assert manifest["counts"] == {"train": 7, "val": 1, "test": 4}
    assert manifest["val_from"] == "tail of subject_1: its last 1 of 8 frames, from frame 8"


def test_records_are_14_joints_equal_to_the_trees_labels(converted):
    tree, out, _ = converted
    uvd36, xyz36 = nyu_format.read_joint_data(tree / "test" / nyu_format.LABEL_FILE)
    rec = split_records(out, "test")
    assert rec["uvd"].shape == (4, 14, 3) and rec["xyz"].shape == (4, 14, 3)
    kept = [0, 1, 2, 4]  # label rows; row 3's PNG is truncated
    np.testing.assert_allclose(rec["uvd"], nyu_format.eval_joints(uvd36)[kept], atol=1e-3)
    # camera xyz is y down (pipeline.camera): NYU's joint_xyz (y up) with y flipped
    np.testing.assert_allclose(rec["xyz"], nyu_format.eval_joints_camera_xyz(xyz36)[kept], atol=0.05)
    np.testing.assert_allclose(rec["xyz"], uvd_to_xyz(rec["uvd"], NYU.camera), atol=1e-2)
    assert [p.decode() for p in rec["path"]] == [f"test/{nyu_format.depth_file_name(i)}" for i in (1, 2, 3, 5)]
    assert np.all(np.abs(rec["joints"]) <= 1.0), "a crop missed its hand"


def test_test_sequences_are_the_subjects_in_label_order_with_their_cubes(converted):
    _, out, _ = converted
    rec = split_records(out, "test")
    assert [s.decode() for s in rec["sequence"]] == ["subject_1", "subject_1", "subject_2", "subject_2"]
    assert list(rec["frame"]) == [1, 2, 3, 5]
    np.testing.assert_array_equal(rec["cube_mm"], [300.0, 300.0, 250.0, 250.0])
    train = split_records(out, "train")
    assert {s.decode() for s in train["sequence"]} == {"subject_1"} and np.all(train["cube_mm"] == 300.0)


def test_rejections_are_reported_in_rejected_jsonl(converted):
    tree, out, manifest = converted
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    assert manifest["rejected"] == len(rejected) == 2
    by_split = {r["split"]: r for r in rejected}
    assert by_split["test"]["path"] == str(tree / "test" / nyu_format.depth_file_name(4))
    assert by_split["test"]["line"] == 4 and by_split["test"]["reason"].startswith("unreadable PNG")
    assert by_split["train"]["line"] == 0 and by_split["train"]["reason"].startswith(
        "label count mismatch: joint_data.mat holds 8 frames of camera 1, the folder 9 depth_1_*.png files")


def test_wrong_size_and_out_of_image_joints_are_rejections_not_errors(tmp_path):
    tree = write_tiny_nyu_tree(tmp_path / "tree", train_frames=4)
    uvd36, _ = nyu_format.read_joint_data(tree / "train" / nyu_format.LABEL_FILE)
    uvd36[1, nyu_format.EVAL_JOINT_IDS[0], 0] = 700.0  # an evaluated joint beyond the right edge
    nyu_format.write_split_labels(tree / "train", uvd36)
    small = nyu_format.encode_depth_png(np.full((240, 320), 900, np.uint16))
    (tree / "train" / nyu_format.depth_file_name(3)).write_bytes(small)
    cfg = DataConfig(dataset="nyu", crop_size=32, cube_mm=300.0, val_fraction=0.0, max_reject_fraction=0.9)
    plan = plan_frames(tree, cfg)
    assert [r["reason"] for r in plan.rejected] == ["1 joints outside the 640x480 image"]
    manifest = convert_tree(tree, tmp_path / "data", cfg, NYU.camera, IN_PROCESS, progress=False)
    reasons = sorted(json.loads(line)["reason"] for line in (tmp_path / "data/rejected.jsonl").read_text().splitlines())
    assert reasons == ["1 joints outside the 640x480 image", "image is 320x240, expected 640x480"]
    assert manifest["counts"]["train"] == 2


def test_cli_converts_an_nyu_tree_with_root_and_dataset(tmp_path, capsys):
    tree = write_tiny_nyu_tree(tmp_path / "tree", train_frames=4)
    out = tmp_path / "data"
    assert main(["data", "--dataset", "nyu", "--root", str(tree), "--out", str(out), "--crop", "32",
                 "--cube", "300", "--quiet", *IN_PROCESS]) == 0
    m = read_manifest(out)
    assert m["dataset"] == "nyu" and m["intrinsics"]["width"] == 640 and sum(m["counts"].values()) == 9
    # the same tree read as ICVL is refused in one line naming the root
    assert main(["data", "--root", str(tree), "--out", str(tmp_path / "icvl"), "--quiet", *IN_PROCESS]) == 2
    assert "no ICVL label files" in capsys.readouterr().err


def test_an_empty_root_is_a_one_line_error_for_nyu(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SdnetError, match="not an NYU Hand tree"):
        plan_frames(tmp_path / "empty", DataConfig(dataset="nyu"))


@pytest.mark.parametrize("dataset, skeleton", [("nyu", ICVL.skeleton), ("icvl", NYU.skeleton)])
def test_the_manifest_check_refuses_a_skeleton_that_is_not_its_datasets(converted, dataset, skeleton):
    _, out, _ = converted
    manifest = {**read_manifest(out), "dataset": dataset, "skeleton": skeleton.to_dict()}
    with pytest.raises(SdnetError, match=f"recorded a {dataset} skeleton that differs"):
        check_manifest(manifest, where="m.json")
    with pytest.raises(SdnetError, match="unknown dataset 'bighand'"):
        check_manifest({**manifest, "dataset": "bighand"}, where="m.json")
    old = {k: v for k, v in read_manifest(out).items() if k != "dataset"}
    with pytest.raises(SdnetError, match="records no dataset"):
        check_manifest(old, where="m.json")


def _make_commands(*variables):
    """The sdnet command lines `make -n all` would run (nothing is run), with make variables set."""
    if shutil.which("make") is None:
        pytest.skip("no make")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(["make", "-n", "all", "WORK=w", *variables], cwd=root, capture_output=True, text=True,
                         check=True).stdout.replace("\\\n", " ")
    return [line.split("sdnet ", 1)[1].split() for line in out.splitlines() if "bin/sdnet " in line]


def test_make_all_dataset_nyu_runs_every_stage_on_nyu_apart_from_icvl():
    icvl = _make_commands()
    nyu = _make_commands("DATASET=nyu")
    assert [c[0] for c in nyu] == [c[0] for c in icvl] == ["synth", "data", "train", "eval"]
    synth, data, train, evaluate = nyu
    assert synth[synth.index("--dataset") + 1] == "nyu" and synth[synth.index("--out") + 1] == "w/nyu-synth"
    assert data[data.index("--config") + 1] == train[train.index("--config") + 1] == "configs/nyu.json"
    assert data[data.index("--root") + 1] == "w/nyu-synth" and data[data.index("--out") + 1] == "w/nyu-data"
    assert train[train.index("--out") + 1] == "w/nyu-run" and evaluate[evaluate.index("--out") + 1] == "w/nyu-report"
    outputs = {c[c.index("--out") + 1] for c in icvl} & {c[c.index("--out") + 1] for c in nyu}
    assert not outputs, f"ICVL and NYU outputs collide: {outputs}"
    assert "--dataset" not in icvl[0] and icvl[1][icvl[1].index("--config") + 1] == "configs/default.json"
    real = _make_commands("DATASET=nyu", "NYU_ROOT=/data/nyu")
    assert real[0][0] == "data" and real[0][real[0].index("--root") + 1] == "/data/nyu"


def test_a_synthetic_trees_subjects_must_be_the_datasets(tmp_path):
    tree = write_tiny_nyu_tree(tmp_path / "tree", train_frames=2)
    (tree / "synth.json").write_text(json.dumps({"test_subjects": [["alice", 0, 5, 300.0]]}))
    with pytest.raises(SdnetError, match=r"synth.json: test_subjects \['alice'\] are not nyu's test subjects"):
        plan_frames(tree, DataConfig(dataset="nyu"))
    (tree / "synth.json").unlink()  # no synth.json: the real test set's ranges (all 5 frames in subject 1)
    assert {f.sequence for f in plan_frames(tree, DataConfig(dataset="nyu")).frames if f.split == "test"} == {"subject_1"}
