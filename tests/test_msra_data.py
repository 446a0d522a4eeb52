"""`sdnet data --dataset msra` and `--dataset hands2017`: the registry reads trees written by the format
layers, MSRA is cut leave one subject out (the test subject's frames with its cube, rejections in
rejected.jsonl, a one-line error without a valid --test-subject), HANDS 2017 holds out its last frames."""
import json

import numpy as np
import pytest

from pipeline import hands2017_format, msra_format
from pipeline.cli import main
from pipeline.config import ConfigError, DataConfig, to_dict
from pipeline.convert import plan_frames
from pipeline.datasets import HANDS2017, HANDS2017_TEST_SHARE, MSRA, tail_count
from pipeline.errors import SdnetError
from pipeline.experiment import data_differences
from pipeline.input import check_manifest, read_manifest
from tests.helpers import IN_PROCESS, disc_hand_frames, split_records, write_tiny_hands2017_tree, write_tiny_msra_tree


def _rejected(data_dir):
    return [json.loads(line) for line in (data_dir / "rejected.jsonl").read_text().splitlines()]


# ----------------------------------------------------------------------------- MSRA


def test_the_registry_reads_a_written_msra_tree_back_to_the_same_joints_and_depth(tmp_path):
    depth, xyz = disc_hand_frames(3, msra_format.INTRINSICS, seed=4)
    msra_format.write_msra_tree(tmp_path, "P2", "TIP", list(depth), xyz)
    listing = MSRA.list_frames(tmp_path, MSRA.camera, test_subject="P2")
    assert [f.rel_path for f in listing.frames] == [f"P2/TIP/{msra_format.depth_file_name(i)}" for i in range(3)]
    assert {f.sequence for f in listing.frames} == {"P2/TIP"} and {f.split for f in listing.frames} == {"test"}
    uvd = np.stack([f.uvd for f in listing.frames])
    np.testing.assert_allclose(uvd, msra_format.xyz_to_uvd(xyz, MSRA.camera), atol=1e-3)
    assert listing.test_cubes_mm == {"P2": 200.0} and {f.cube_mm for f in listing.frames} == {200.0}
    decoded = MSRA.decode_depth((tmp_path / "P2/TIP" / msra_format.depth_file_name(1)).read_bytes(), "x", MSRA.camera)
    assert decoded.dtype == np.uint16 and decoded.shape == (240, 320)
    np.testing.assert_array_equal(decoded, np.rint(depth[1]).astype(np.uint16))
    # without a test subject (eval's and predict's readers of the images) every frame is 'train'
    assert {f.split for f in MSRA.list_frames(tmp_path, MSRA.camera).frames} == {"train"}


def test_msra_needs_a_test_subject_of_its_folds_and_the_others_take_none():
    assert MSRA.fold_subjects == msra_format.SUBJECTS and not HANDS2017.fold_subjects
    with pytest.raises(ConfigError, match=r"test_subject is required \(one of P0, P1, .*P8\)"):
        DataConfig(dataset="msra")
    with pytest.raises(ConfigError, match="test_subject must be one of P0"):
        DataConfig(dataset="msra", test_subject="P9")
    with pytest.raises(ConfigError, match="test_subject does not apply to dataset icvl"):
        DataConfig(test_subject="P1")
    assert DataConfig(dataset="msra", test_subject="P8").test_subject == "P8"


def test_a_run_of_another_fold_is_told_apart_and_older_manifests_still_bind():
    fold = DataConfig(dataset="msra", test_subject="P1")
    assert data_differences(fold, to_dict(DataConfig(dataset="msra", test_subject="P2"))) == ['data.test_subject="P2"']
    assert data_differences(fold, to_dict(fold)) == []
    older = {k: v for k, v in to_dict(DataConfig()).items() if k != "test_subject"}  # before the key existed
    assert data_differences(DataConfig(), older) == []


@pytest.fixture(scope="module")
def msra_converted(tmp_path_factory):
    """Subjects P0, P1, P3 x gestures 1, 2 x 3 frames; a truncated P0 .bin and a faulty P1 frame;
    converted by the CLI with --test-subject P1."""
    tmp = tmp_path_factory.mktemp("msra")
    tree = write_tiny_msra_tree(tmp / "tree", subjects=("P0", "P1", "P3"), gestures=("1", "2"), frames=3)
    truncated = tree / "P0/1" / msra_format.depth_file_name(1)
    truncated.write_bytes(truncated.read_bytes()[:100])
    out = tmp / "data"
    with pytest.MonkeyPatch.context() as mp:  # the registry rejects the format layer's faulty frames
        mp.setattr(msra_format, "FAULTY_FRAMES", {("P1", "2"): frozenset({2})})
        rc = main(["data", "--dataset", "msra", "--test-subject", "P1", "--root", str(tree), "--out", str(out),
                   "--crop", "32", "--cube", "220", "--val-fraction", "0.25", "--max-reject", "0.5",
                   "--quiet", *IN_PROCESS])
    assert rc == 0
    return tree, out, read_manifest(out)


def test_msra_manifest_records_the_fold_and_the_test_subjects_cube(msra_converted):
    _, out, manifest = msra_converted
    assert manifest["dataset"] == "msra" and manifest["skeleton"] == MSRA.skeleton.to_dict()
    assert manifest["test_subject"] == manifest["config"]["test_subject"] == "P1"
    assert manifest["test_cubes_mm"] == {"P1": 200.0} and manifest["cube_mm"] == 220.0
    assert manifest["intrinsics"] == MSRA.camera.to_dict() and check_manifest(read_manifest(out)) is MSRA
    # 12 training frames (one truncated) in 4 gesture folders, one held out whole as val; 6 test, one faulty
    assert manifest["counts"]["test"] == 5 and manifest["counts"]["train"] + manifest["counts"]["val"] == 11
    assert len(manifest["val_sequences"]) == 1 and manifest["val_sequences"][0][:3] in ("P0/", "P3/")


def test_msra_test_split_is_the_test_subjects_frames_with_its_cube(msra_converted):
    tree, out, _ = msra_converted
    test = split_records(out, "test")
    assert {s.decode() for s in test["sequence"]} == {"P1/1", "P1/2"}
    np.testing.assert_array_equal(test["cube_mm"], 200.0)
    assert sorted(p.decode() for p in test["path"]) == sorted(
        [f"P1/1/{msra_format.depth_file_name(i)}" for i in range(3)] + [f"P1/2/{msra_format.depth_file_name(i)}"
                                                                      for i in range(2)])
    xyz, _ = msra_format.read_joint_file(tree / "P1/1" / msra_format.LABEL_FILE)
    first = [i for i, p in enumerate(test["path"]) if p.decode() == f"P1/1/{msra_format.depth_file_name(0)}"][0]
    np.testing.assert_allclose(test["xyz"][first], xyz[0], atol=1e-2)
    assert np.all(np.abs(test["joints"]) <= 1.0), "a test crop missed its hand"
    for split in ("train", "val"):
        rec = split_records(out, split)
        assert not any(s.decode().startswith("P1/") for s in rec["sequence"])
        np.testing.assert_array_equal(rec["cube_mm"], 220.0)


def test_msra_truncated_bin_and_faulty_frame_are_in_rejected_jsonl(msra_converted):
    tree, out, manifest = msra_converted
    rejected = sorted(_rejected(out), key=lambda r: r["path"])
    assert manifest["rejected"] == len(rejected) == 2
    truncated, faulty = rejected
    assert truncated["path"] == str(tree / "P0/1" / msra_format.depth_file_name(1))
    assert truncated["split"] == ("val" if "P0/1" in manifest["val_sequences"] else "train")
    assert "bytes of depth after the header" in truncated["reason"] and truncated["line"] == 3
    assert faulty == {"path": str(tree / "P1/2" / msra_format.depth_file_name(2)), "split": "test",
                      "label_file": str(tree / "P1/2" / msra_format.LABEL_FILE), "line": 4,
                      "reason": "faulty label (FAULTY_FRAMES)"}


@pytest.mark.parametrize("args, message", [
    ([], "test_subject is required (one of P0, P1, P2, P3, P4, P5, P6, P7, P8)"),
    (["--test-subject", "P5"], "test subject P5 is not in this MSRA tree (it holds P0, P1)"),
])
def test_msra_without_a_valid_test_subject_is_a_one_line_error_writing_nothing(tmp_path, capsys, args, message):
    tree = write_tiny_msra_tree(tmp_path / "tree", subjects=("P0", "P1"), gestures=("1",), frames=1)
    out = tmp_path / "data"
    rc = main(["data", "--dataset", "msra", "--root", str(tree), "--out", str(out), "--quiet", *args, *IN_PROCESS])
    lines = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("sdnet data: error: ") and message in lines[0], lines
    assert not out.exists()


def test_msra_joints_outside_the_image_are_rejections(tmp_path):
    depth, xyz = disc_hand_frames(2, msra_format.INTRINSICS, seed=1)
    xyz[1, 5, 0] = 500.0  # far right of the 320 px image at ~350 mm
    msra_format.write_msra_tree(tmp_path, "P0", "1", list(depth), xyz)
    plan = plan_frames(tmp_path, DataConfig(dataset="msra", test_subject="P0"))
    assert [(r["line"], r["reason"], r["split"]) for r in plan.rejected] == [(3, "1 joints outside the 320x240 image",
                                                                              "test")]
    assert [f.frame for f in plan.frames] == [0]


# ----------------------------------------------------------------------------- HANDS 2017


def test_hands2017_holds_out_its_last_frames_as_test():
    assert [tail_count(n, HANDS2017_TEST_SHARE) for n in (0, 1, 2, 20, 21, 100)] == [0, 0, 1, 1, 2, 5]


def test_hands2017_tree_is_listed_with_its_last_frame_as_test_and_converted(tmp_path):
    tree = write_tiny_hands2017_tree(tmp_path / "tree", frames=6)
    depth, xyz = disc_hand_frames(6, hands2017_format.INTRINSICS)
    listing = HANDS2017.list_frames(tree, HANDS2017.camera)
    assert [(f.frame, f.split) for f in listing.frames] == [(i, "train") for i in range(1, 6)] + [(6, "test")]
    np.testing.assert_allclose(np.stack([f.uvd for f in listing.frames]),
                               hands2017_format.xyz_to_uvd(xyz, HANDS2017.camera), atol=1e-3)
    assert listing.frames[0].rel_path == "training/images/" + hands2017_format.image_name(1)
    out = tmp_path / "data"
    assert main(["data", "--dataset", "hands2017", "--root", str(tree), "--out", str(out), "--crop", "32",
                 "--cube", "220", "--quiet", *IN_PROCESS]) == 0
    manifest = read_manifest(out)
    assert manifest["dataset"] == "hands2017" and manifest["test_subject"] == ""
    assert manifest["counts"] == {"train": 4, "val": 1, "test": 1} and check_manifest(manifest) is HANDS2017
    assert [int(f) for f in split_records(out, "test")["frame"]] == [6]


def test_hands2017_without_labels_or_with_a_test_subject_is_a_one_line_error(tmp_path, capsys):
    tree = write_tiny_hands2017_tree(tmp_path / "tree", frames=2)
    (tree / hands2017_format.ANNOTATION_FILE).unlink()
    with pytest.raises(SdnetError, match="Training_Annotation.txt: not found: not a labelled HANDS 2017 tree"):
        plan_frames(tree, DataConfig(dataset="hands2017"))
    rc = main(["data", "--dataset", "hands2017", "--test-subject", "P1", "--root", str(tree),
               "--out", str(tmp_path / "data"), "--quiet", *IN_PROCESS])
    lines = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and "test_subject does not apply to dataset hands2017" in lines[0], lines


def test_sdnet_synth_refuses_the_datasets_it_does_not_write(tmp_path, capsys):
    # The generator draws 16-joint hands: asking it for a 21-joint tree is refused up front, nothing written.
    for name in ("msra", "hands2017"):
        out = tmp_path / name
        with pytest.raises(SystemExit) as exit_info:
            main(["synth", "--dataset", name, "--out", str(out), "--train-frames", "2", "--test-frames", "1"])
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert exit_info.value.code == 2 and f"--dataset: invalid choice: '{name}' (choose from 'icvl', 'nyu')" in err, err
        assert not out.exists()
