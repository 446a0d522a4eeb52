"""eval.results_io: the standard result format, ground truth in two forms, and bad files."""
from pathlib import Path

import numpy as np
import pytest

from eval.results_io import read_ground_truth, read_results, write_results
from pipeline.errors import SdnetError
from pipeline.icvl import format_label_line
from pipeline.datasets import ICVL

NUM_JOINTS = ICVL.num_joints  # the result files here are ICVL's

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "icvl"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared ICVL labels not found at {SHARED}")


def _frames(n, seed=0):
    rng = np.random.default_rng(seed)
    uvd = np.empty((n, NUM_JOINTS, 3))
    uvd[..., :2] = rng.uniform(0, 320, size=(n, NUM_JOINTS, 2))
    uvd[..., 2] = rng.uniform(200, 450, size=(n, NUM_JOINTS))
    return np.round(uvd, 3)


def test_write_read_round_trip(tmp_path):
    uvd = _frames(4)
    path = tmp_path / "pred.txt"
    write_results(path, uvd, NUM_JOINTS)
    lines = path.read_text().splitlines()
    assert len(lines) == 4 and all(len(line.split()) == 3 * NUM_JOINTS for line in lines)
    np.testing.assert_allclose(read_results(path, expected_frames=4, num_joints=NUM_JOINTS), uvd, atol=5e-4)
    assert [p.name for p in tmp_path.iterdir()] == ["pred.txt"]  # no temporary left behind


def test_write_refuses_nan_and_bad_shape(tmp_path):
    uvd = _frames(3)
    uvd[1, 2, 0] = np.nan
    with pytest.raises(SdnetError, match="frame 1"):
        write_results(tmp_path / "p.txt", uvd, NUM_JOINTS)
    with pytest.raises(SdnetError, match="shape"):
        write_results(tmp_path / "p.txt", np.zeros((3, NUM_JOINTS, 2)), NUM_JOINTS)
    assert not (tmp_path / "p.txt").exists()


def test_ground_truth_from_result_file_and_label_files_agree(tmp_path):
    uvd = _frames(5)
    write_results(tmp_path / "gt.txt", uvd, NUM_JOINTS)
    (tmp_path / "seq_1.txt").write_text(
        "".join(format_label_line(f"test_seq_1/image_{i:04d}.png", uvd[i]) + "\n" for i in range(3)))
    (tmp_path / "seq_2.txt").write_text(
        "".join(format_label_line(f"test_seq_2/image_{i:04d}.png", uvd[3 + i]) + "\n" for i in range(2)))
    from_results = read_ground_truth(tmp_path / "gt.txt", num_joints=NUM_JOINTS)
    from_labels = read_ground_truth([tmp_path / "seq_1.txt", tmp_path / "seq_2.txt"], num_joints=NUM_JOINTS)
    assert from_results.paths is None and from_results.frames == 5
    assert from_labels.paths == tuple([f"test_seq_1/image_{i:04d}.png" for i in range(3)]
                                      + [f"test_seq_2/image_{i:04d}.png" for i in range(2)])
    np.testing.assert_allclose(from_labels.uvd, from_results.uvd, atol=5e-4)
    with pytest.raises(SdnetError, match="mixes"):
        read_ground_truth([tmp_path / "gt.txt", tmp_path / "seq_1.txt"], num_joints=NUM_JOINTS)


@needs_shared
def test_shared_label_files_equal_the_benchmark_ground_truth():
    gt = read_ground_truth(SHARED / "icvl_test_groundtruth_label.txt", num_joints=NUM_JOINTS)
    labels = read_ground_truth([SHARED / "test_seq_1.txt", SHARED / "test_seq_2.txt"], num_joints=NUM_JOINTS)
    assert gt.frames == labels.frames == 1596
    np.testing.assert_allclose(labels.uvd, gt.uvd, atol=1e-3)


def _write_with_line(tmp_path, bad_line, at=2, frames=3):
    lines = [" ".join(f"{v:.3f}" for v in f.reshape(-1)) for f in _frames(frames)]
    lines[at - 1] = bad_line(lines[at - 1])
    path = tmp_path / "bad.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("mutate,message", [
    (lambda line: " ".join(line.split()[:-1]), r"bad\.txt:2: expected 48 values .*got 47"),
    (lambda line: "image_0001.png " + line, r"bad\.txt:2: expected 48 values .*got 49 .*label file"),
    (lambda line: line.replace(line.split()[4], "abc", 1), r"bad\.txt:2: field 5 is not a number: 'abc'"),
    (lambda line: line.replace(line.split()[6], "nan", 1), r"bad\.txt:2: field 7 is 'nan' \(NaN or infinite"),
    (lambda line: line.replace(line.split()[0], "inf", 1), r"bad\.txt:2: field 1 is 'inf'"),
    (lambda line: "", r"bad\.txt:2: empty line"),
])
def test_bad_lines_name_file_line_and_problem(tmp_path, mutate, message):
    path = _write_with_line(tmp_path, mutate)
    with pytest.raises(SdnetError, match=message) as info:
        read_results(path, num_joints=NUM_JOINTS)
    assert "\n" not in str(info.value)


def test_frame_count_mismatch_names_both_counts(tmp_path):
    path = tmp_path / "short.txt"
    write_results(path, _frames(3), NUM_JOINTS)
    with pytest.raises(SdnetError, match=r"short\.txt: has 3 frames \(lines\) but the ground truth gt\.txt has 4"):
        read_results(path, expected_frames=4, expected_source="the ground truth gt.txt", num_joints=NUM_JOINTS)
    # trailing blank lines are not frames
    path.write_text(path.read_text() + "\n\n")
    assert read_results(path, expected_frames=3, num_joints=NUM_JOINTS).shape == (3, NUM_JOINTS, 3)


def test_missing_empty_and_unknown_ground_truth(tmp_path):
    with pytest.raises(SdnetError, match="nope.txt: file not found"):
        read_results(tmp_path / "nope.txt", num_joints=NUM_JOINTS)
    (tmp_path / "empty.txt").write_text("\n \n")
    with pytest.raises(SdnetError, match="empty.txt: file is empty"):
        read_ground_truth(tmp_path / "empty.txt", num_joints=NUM_JOINTS)
    (tmp_path / "odd.txt").write_text("1 2 3\n")
    with pytest.raises(SdnetError, match=r"odd\.txt:1: expected 48 values .* got 3 fields"):
        read_ground_truth(tmp_path / "odd.txt", num_joints=NUM_JOINTS)
