"""pipeline.datasets: the registry of datasets as records of values."""
import dataclasses

import numpy as np
import pytest

from pipeline import hands2017_format, msra_format, nyu_format
from pipeline.camera import CAMERAS, uvd_to_xyz
from pipeline.datasets import (DATASETS, DEFAULT_DATASET, HANDS2017, ICVL, MSRA, NYU, Dataset, EvalSequence,
                               get_dataset, kit_camera)
from pipeline.errors import SdnetError
from pipeline.skeleton import HANDS2017_SKELETON, ICVL_SKELETON, MSRA_SKELETON, NYU_SKELETON


def test_registry_lookups():
    assert sorted(DATASETS) == ["hands2017", "icvl", "msra", "nyu"] and DEFAULT_DATASET == "icvl"
    assert get_dataset("icvl") is ICVL and get_dataset("nyu") is NYU
    assert get_dataset("msra") is MSRA and get_dataset("hands2017") is HANDS2017
    assert all(d.name == name for name, d in DATASETS.items())


def test_an_unknown_dataset_is_a_one_line_error_listing_the_known_names():
    with pytest.raises(SdnetError) as e:
        get_dataset("bighand")
    assert str(e.value) == "unknown dataset 'bighand' (known: hands2017, icvl, msra, nyu)"


def test_msra_record():
    assert MSRA.skeleton is MSRA_SKELETON and MSRA.num_joints == 21
    assert MSRA.camera == MSRA.scoring_camera == msra_format.INTRINSICS
    assert (MSRA.camera.fx, MSRA.camera.fy, MSRA.camera.cx, MSRA.camera.cy) == (241.42, 241.42, 160.0, 120.0)
    assert (MSRA.camera.width, MSRA.camera.height) == (320, 240)
    # leave one subject out: no fixed test frames, the folds are the nine subjects
    assert MSRA.fold_subjects == tuple(f"P{i}" for i in range(9))
    assert MSRA.test_sequences == () and MSRA.test_frames == 0 and MSRA.sequences_in_paths
    assert (MSRA.test_label_file, MSRA.test_list_file, MSRA.test_label_files) == ("", "", ())


def test_hands2017_record():
    assert HANDS2017.skeleton is HANDS2017_SKELETON and HANDS2017.num_joints == 21
    assert HANDS2017.camera == HANDS2017.scoring_camera == hands2017_format.INTRINSICS
    assert (HANDS2017.camera.width, HANDS2017.camera.height) == (640, 480)
    assert HANDS2017.fold_subjects == () and HANDS2017.test_sequences == () and not HANDS2017.sequences_in_paths
    assert (HANDS2017.test_label_file, HANDS2017.test_list_file) == ("", "")


def test_only_a_fold_dataset_takes_a_test_subject(tmp_path):
    with pytest.raises(SdnetError, match="icvl: test subject 'P1' is not one of its subjects"):
        ICVL.list_frames(tmp_path, ICVL.camera, test_subject="P1")
    with pytest.raises(SdnetError, match="msra: test subject 'P9' is not one of P0, P1"):
        MSRA.list_frames(tmp_path, MSRA.camera, test_subject="P9")


def test_icvl_record():
    assert ICVL.skeleton is ICVL_SKELETON and ICVL.num_joints == 16
    assert ICVL.camera == CAMERAS["icvl"]
    assert (ICVL.scoring_camera.fx, ICVL.scoring_camera.fy, ICVL.scoring_camera.cx, ICVL.scoring_camera.cy) == (
        240.99, 240.96, 160.0, 120.0)
    assert ICVL.scoring_camera_name == "icvl-benchmark" and ICVL.scoring_camera == CAMERAS["icvl-benchmark"]
    assert [(s.name, s.frames) for s in ICVL.test_sequences] == [("test_seq_1", 702), ("test_seq_2", 894)]
    assert ICVL.test_frames == 1596 and ICVL.sequences_in_paths
    assert ICVL.test_label_files == ("test_seq_1.txt", "test_seq_2.txt")
    assert (ICVL.test_label_file, ICVL.test_list_file) == ("icvl_test_groundtruth_label.txt", "icvl_test_list.txt")


def test_nyu_record():
    assert NYU.skeleton is NYU_SKELETON and NYU.num_joints == len(nyu_format.EVAL_JOINT_IDS) == 14
    assert NYU.camera == nyu_format.INTRINSICS and (NYU.camera.width, NYU.camera.height) == (640, 480)
    fx, fy, cx, cy = nyu_format.KIT_INTRINSICS
    assert fy < 0 < NYU.scoring_camera.fy == -fy  # y down, like every sdnet camera
    assert (NYU.scoring_camera.fx, NYU.scoring_camera.cx, NYU.scoring_camera.cy) == (fx, cx, cy)
    assert [(s.name, s.start, s.stop, s.cube_mm) for s in NYU.test_sequences] == [
        ("subject_1", 0, 2440, 300.0), ("subject_2", 2440, 8252, 250.0)]
    assert NYU.test_frames == nyu_format.FRAMES["test"] and not NYU.sequences_in_paths
    assert (NYU.test_label_file, NYU.test_list_file, NYU.test_label_files) == (
        "nyu_test_groundtruth_label.txt", "nyu_test_list.txt", ())


def test_frame_sequences_and_cubes_follow_the_frame_ranges():
    labels = NYU.frame_sequences(8252)
    assert len(labels) == 8252 and labels[2439] == "subject_1" and labels[2440] == "subject_2"
    assert NYU.frame_sequences(100) is None  # not the whole test set: the ranges do not apply
    assert ICVL.frame_sequences(1596)[701:703] == ("test_seq_1", "test_seq_2")
    assert NYU.cube_of_frame(0) == 300.0 and NYU.cube_of_frame(8251) == 250.0
    with pytest.raises(ValueError, match="outside"):
        NYU.cube_of_frame(8252)


def test_test_sequences_must_be_contiguous_from_frame_zero():
    with pytest.raises(ValueError, match="contiguous"):
        dataclasses.replace(NYU, test_sequences=(EvalSequence("a", 0, 5, 250.0), EvalSequence("b", 6, 9, 250.0)))
    with pytest.raises(ValueError, match="contiguous"):
        dataclasses.replace(NYU, test_sequences=(EvalSequence("a", 1, 5, 250.0),))


def test_the_kit_cameras_sign_of_fy_changes_no_distance():
    """The kit converts with fy = -587.07 (y up); the registry's y-down camera gives the same distances."""
    fx, fy, cx, cy = nyu_format.KIT_INTRINSICS
    rng = np.random.default_rng(0)
    a = np.stack([rng.uniform(0, 640, 20), rng.uniform(0, 480, 20), rng.uniform(650, 1100, 20)], -1)
    b = a + rng.normal(0, 5, a.shape)

    def kit_xyz(uvd):  # the kit's formula, written out
        return np.stack([(uvd[:, 0] - cx) * uvd[:, 2] / fx, (uvd[:, 1] - cy) * uvd[:, 2] / fy, uvd[:, 2]], -1)

    ours_a, ours_b = uvd_to_xyz(a, NYU.scoring_camera), uvd_to_xyz(b, NYU.scoring_camera)
    np.testing.assert_allclose(ours_a * [1, -1, 1], kit_xyz(a))
    np.testing.assert_allclose(np.linalg.norm(ours_a - ours_b, axis=-1),
                               np.linalg.norm(kit_xyz(a) - kit_xyz(b), axis=-1))
    assert kit_camera(fx, fy, cx, cy, 640, 480) == NYU.scoring_camera


def test_records_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        NYU.name = "x"  # type: ignore[misc]
    assert isinstance(NYU, Dataset)
